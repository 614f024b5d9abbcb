"""Where training runs: ``auto`` picks CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import contextlib

import torch

from autometa.errors import AutometaError

DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


def select_device(name: str) -> torch.device:
    """The ``torch.device`` for ``name``; an :class:`AutometaError` if it is absent here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" and torch.cuda.is_available():
        return torch.device("cuda")
    if name == "mps" and torch.backends.mps.is_available():
        return torch.device("mps")
    if name in DEVICE_NAMES:
        raise AutometaError(f"device '{name}' is not available on this machine; use 'auto' or 'cpu'")
    raise AutometaError(f"unknown device '{name}'; use one of {', '.join(DEVICE_NAMES)}")


def autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    """bf16 autocast when ``amp`` is ``bf16``, or ``auto`` on a CUDA device; else a no-op.

    ``auto`` leaves the CPU in float32: bf16 matmuls there are rarely faster and
    they change results, which would break CPU determinism tests against float32.
    """
    enabled = amp == "bf16" or (amp == "auto" and device.type == "cuda")
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
