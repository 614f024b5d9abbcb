"""The exporter contract: a plugin writes the deployable predictor to a file that loads without autometa.

A deployable predictor is an ``nn.Module`` whose ``forward(support_images
[S,C,H,W], support_onehot [S,N], query_images [Q,C,H,W])`` returns query logits
``[Q,N]``, with ``S`` and ``Q`` free, and whose feature extractor is ``.backbone``.
Every learner hands one over (``MetaLearner.deployable_predictor``). It may say more,
each optional: ``static_ways`` (an int when it only handles that many ways, e.g. a
learned ``[N, D]`` head init), ``describe()`` (what it does, for the model card),
``adapts_backbone`` (True when each episode's gradient steps change the backbone's
weights) and ``backbone_shapes_fixed_by()`` (the meta-learned state shaped like the
backbone's weights, which a structured pruner must not change, or None).

:mod:`autometa.deploy.tracing` turns it into one exported program of forward ops
(gradient steps included); an :class:`Exporter` writes that program to one file
format and loads it back; :mod:`autometa.deploy.verify` checks the file.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import Field

from autometa.components.component import Component, PluginOptions
from autometa.components.registry import Registry
from autometa.data.episodes import Episode
from autometa.deploy.measure import PredictorInputs
from autometa.deploy.tracing import TracedPredictor
from autometa.errors import ArtifactError, AutometaError, first_line


def predict_episode(predictor: Callable[..., torch.Tensor], episode: Episode) -> torch.Tensor:
    """Query logits ``[Q, N]`` of ``predictor`` on ``episode``, without autograd."""
    with torch.inference_mode():
        return predictor(*episode.predictor_inputs())


def describe_predictor(predictor: Any) -> str:
    """What a predictor does, in a sentence: its ``describe()``, else its class docstring's first line."""
    describe = getattr(predictor, "describe", None)
    if callable(describe):
        return str(describe())
    doc = (type(predictor).__doc__ or type(predictor).__name__).strip().splitlines()[0]
    return doc.rstrip(".")


class ExporterOptions(PluginOptions):
    """Verification tolerance shared by every exporter: |exported - eager| <= atol + rtol*|eager|."""

    atol: float = Field(1e-3, gt=0, description="absolute logit tolerance of the verification")
    rtol: float = Field(1e-4, ge=0, description="relative logit tolerance of the verification")


class Exporter(Component):
    """Base of exporter plugins: writes a traced predictor to one file format and loads it back.

    ``export`` receives a :class:`~autometa.deploy.tracing.TracedPredictor`: its
    ``program`` is a ``torch.export.ExportedProgram`` of forward ops whose episode
    sizes are already dynamic (``dynamic_sizes`` says which), so every format
    starts from the same graph. ``check`` finds what the format cannot express in
    seconds (the export pre-flight calls it before any training); raise
    :class:`~autometa.errors.ExportError` with one line naming the operation and
    the fix, and refuse in ``check`` what ``export`` would refuse.
    ``loader_code`` is the snippet users copy (it appears in the model card) and
    the very code the fresh-process verification runs: given ``path`` it defines
    ``predict(support, onehot, query)`` on numpy ``float32`` arrays returning
    numpy logits, using only PyTorch or ONNX Runtime.
    """

    suffix: ClassVar[str] = ""
    Options: ClassVar[type[PluginOptions]] = ExporterOptions

    def __init__(self, options: ExporterOptions):
        self.options = options

    def check(self, traced: TracedPredictor) -> None:
        """Raise an ``ExportError`` (one line) if this format cannot express ``traced``; default: it can."""

    @abstractmethod
    def export(self, traced: TracedPredictor, path: Path) -> Path:
        """Write ``traced.program`` to ``path``."""

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
