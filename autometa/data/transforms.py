"""Image transforms of a recipe's ``data.transforms``: resize, channel statistics, normalisation, scaling.

Everything works on whole batches of tensors (no per-image Python loop).
Augmentations are components (:mod:`autometa.data.augmentation`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from autometa.data.dataset import Preprocessing

_CHUNK = 4096  # images per resize step: bounds the float copy's memory


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``uint8 [M, C, H, W]`` images to ``size x size`` (antialiased), still ``uint8``."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty((*images.shape[:2], size, size), dtype=torch.uint8, device=images.device)
    for start in range(0, len(images), _CHUNK):
        scaled = resize_float(images[start : start + _CHUNK].float(), size)
        out[start : start + _CHUNK] = scaled.round_().clamp_(0, 255).to(torch.uint8)
    return out


def resize_float(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize float ``[M, C, H, W]`` images to ``size x size`` (antialiased bilinear, as :func:`resize`)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of ``uint8 [M, C, H, W]`` images scaled to [0, 1]."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK].to(torch.float64).div_(255)
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    count = max(images.numel() // channels, 1)
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(images - mean) / std`` per channel (dim -3); unchanged when no statistics are given."""
    if not mean:
        return images
    shape = (-1, 1, 1)
    mean_t = torch.tensor(mean, dtype=images.dtype, device=images.device).view(shape)
    std_t = torch.tensor(std, dtype=images.dtype, device=images.device).view(shape)
    return (images - mean_t) / std_t


def scale_to_input(images01: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """Images in ``[0, 1]`` to the model's values: ``preprocessing.value_range``, then ``mean``/``std``.

    The one implementation of the scaling that a deployment must reproduce (the model card says so).
    """
    low, high = preprocessing.value_range
    if (low, high) != (0.0, 1.0):
        images01 = images01 * (high - low) + low
    return normalize(images01, preprocessing.mean, preprocessing.std)
