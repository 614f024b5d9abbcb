"""``torch.export`` to a ``.pt2`` file: loads with plain PyTorch, no autometa."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, ClassVar

import torch

from autometa import Exporter, TracedPredictor

#: Operator namespace of PT2E int8 graphs; torchao registers it, so loading needs ``import torchao``.
INT8_NAMESPACE = "quantized_decomposed"


class TorchExport(Exporter):
    """torch.export program (.pt2) with dynamic shots and queries (and ways, where the predictor allows)."""

    name: ClassVar[str] = "torch_export"
    suffix: ClassVar[str] = ".pt2"
    needs_torchao: bool = False

    def export(self, traced: TracedPredictor, path: Path) -> Path:
        self.needs_torchao = any(INT8_NAMESPACE in str(node.target) for node in traced.program.graph.nodes)
        torch.export.save(traced.program, str(path))
        return path

    def load(self, path: Path) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
        # torchao's import warns about a torch deprecation, and torch.export logs the traceback of a damaged
        # file before raising its error: the raised error is what the user needs
        loggers = [logging.getLogger(name) for name in ("torch.utils._pytree", "torch.export")]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            try:
                import torchao  # noqa: F401  (registers the int8 operators a quantized file may use)
            except ImportError:
                pass
            return torch.export.load(str(path)).module()
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)

    def loader_code(self, path: str) -> str:
        int8 = "import torchao  # registers the int8 operators of this quantized file\n" if self.needs_torchao else ""
        return f"""\
import torch
{int8}model = torch.export.load({path!r}).module()
def predict(support, onehot, query):
    with torch.inference_mode():
        return model(*(torch.as_tensor(a) for a in (support, onehot, query))).numpy()
"""
