"""The exporter contract: a plugin writes the deployable predictor to a file that loads without autometa.

A deployable predictor is a plain ``nn.Module`` whose ``forward(support_images
[S,C,H,W], support_onehot [S,N], query_images [Q,C,H,W])`` returns query logits
``[Q,N]``, with ``N``, ``S`` and ``Q`` free, and whose feature extractor is
``.backbone``. Every learner hands one over (``MetaLearner.deployable_predictor``).
An :class:`Exporter` writes it to one file format and loads it back;
:mod:`autometa.deploy.verify` checks the file.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import Field
from torch import nn

from autometa.components.component import Component, PluginOptions
from autometa.components.registry import Registry
from autometa.data.episodes import Episode
from autometa.deploy.measure import PredictorInputs
from autometa.errors import ArtifactError, AutometaError, first_line


def predict_episode(predictor: Callable[..., torch.Tensor], episode: Episode) -> torch.Tensor:
    """Query logits ``[Q, N]`` of ``predictor`` on ``episode``, without autograd."""
    with torch.inference_mode():
        return predictor(*episode.predictor_inputs())


def predictor_dynamic_shapes() -> tuple[dict[int, Any], ...]:
    """``torch.export`` dynamic shapes of the three inputs: S, N and Q stay free."""
    support = torch.export.Dim("support", min=2)
    ways = torch.export.Dim("ways", min=2)
    queries = torch.export.Dim("queries", min=1)
    return ({0: support}, {0: support, 1: ways}, {0: queries})


class ExporterOptions(PluginOptions):
    """Verification tolerance shared by every exporter: |exported - eager| <= atol + rtol*|eager|."""

    atol: float = Field(1e-3, gt=0, description="absolute logit tolerance of the verification")
    rtol: float = Field(1e-4, ge=0, description="relative logit tolerance of the verification")


class Exporter(Component):
    """Base of exporter plugins: writes a predictor to one file format and loads it back.

    ``loader_code`` is the snippet users copy (it appears in the model card) and
    the very code the fresh-process verification runs: given ``path`` it defines
    ``predict(support, onehot, query)`` on numpy ``float32`` arrays returning
    numpy logits, using only PyTorch or ONNX Runtime.
    """

    suffix: ClassVar[str] = ""
    Options: ClassVar[type[PluginOptions]] = ExporterOptions

    def __init__(self, options: ExporterOptions):
        self.options = options

    @abstractmethod
    def export(self, predictor: nn.Module, example: PredictorInputs, path: Path) -> Path:
        """Write ``predictor`` (traced on ``example``, sizes left dynamic) to ``path``."""

    @abstractmethod
    def load(self, path: Path) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
        """The exported predictor, callable on torch tensors, in this process."""

    @abstractmethod
    def loader_code(self, path: str) -> str:
        """Python source (about five lines) defining ``predict`` for the file at ``path``."""


def exporter_for(path: Path, registry: Registry) -> Exporter:
    """The exporter of ``registry`` whose file suffix matches ``path`` (e.g. ``.pt2``, ``.onnx``)."""
    known = []
    for name in registry.names("exporter"):
        cls = registry.get("exporter", name).cls
        known.append(cls.suffix)
        if cls.suffix and path.name.endswith(cls.suffix):
            return registry.create("exporter", name)
    raise AutometaError(
        f"{path}: no exporter reads '{path.suffix}' files; pass a file ending in one of: {', '.join(known)}"
    )


def load_artifact(path: Path, registry: Registry) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """Load an exported predictor file, choosing the exporter by its suffix."""
    path = Path(path)
    if not path.is_file():
        raise AutometaError(f"{path}: artifact not found; pass a file written by 'autometa compress' or 'export'")
    exporter = exporter_for(path, registry)
    try:
        return exporter.load(path)
    except OSError:
        raise
    except Exception as exc:  # each runtime has its own error for a corrupt file (protobuf, zip, pickle, ...)
        raise ArtifactError(
            f"{path}: not a readable {exporter.suffix} predictor ({first_line(exc)}); "
            "pass a file written by 'autometa compress' or 'autometa export'"
        ) from exc
