"""The deployable few-shot predictor: its contract, export, verification and model card.

A predictor is a plain ``nn.Module`` whose ``forward(support_images [S,C,H,W],
support_onehot [S,N], query_images [Q,C,H,W])`` returns query logits ``[Q,N]``,
with ``N``, ``S`` and ``Q`` free, and whose feature extractor is ``.backbone``.
Every learner hands one over (``MetaLearner.deployable_predictor``: its
``export_predictor``, finished by its regularizers).

An :class:`Exporter` plugin writes the predictor to a file that loads without
autometa. :func:`export_and_verify` then checks the file twice: its logits must
match the in-framework predictor within the exporter's stated tolerance, and the
exporter's own five-line loader (the one printed in the model card) must run in a
fresh Python process in which importing autometa is impossible.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from abc import abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import nn

from autometa.components import Component, PluginOptions
from autometa.episodes import Episode
from autometa.errors import AutometaError

PredictorInputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class ExportError(AutometaError):
    """An exported predictor failed its verification (logit mismatch or fresh-process load)."""

    exit_code = 1


# ------------------------------------------------------------------ the contract


def predictor_inputs(episode: Episode) -> PredictorInputs:
    """An episode as the predictor's three inputs: support images, one-hot labels, queries."""
    onehot = torch.nn.functional.one_hot(episode.support_y.long(), episode.ways).float()
    return episode.support_x.float(), onehot, episode.query_x.float()


def predict_episode(predictor: Callable[..., torch.Tensor], episode: Episode) -> torch.Tensor:
    """Query logits ``[Q, N]`` of ``predictor`` on ``episode``, without autograd."""
    with torch.inference_mode():
        return predictor(*predictor_inputs(episode))


def count_parameters(module: nn.Module) -> int:
    """Number of stored parameter values (buffers excluded)."""
    return sum(p.numel() for p in module.parameters())


def count_nonzero_parameters(module: nn.Module) -> int:
    """Parameter values that are not exactly zero (what unstructured pruning lowers)."""
    return sum(int(torch.count_nonzero(p)) for p in module.parameters())


def count_flops(predictor: nn.Module, inputs: PredictorInputs) -> int:
    """FLOPs of one episode's forward pass, counted by ``torch.utils.flop_counter``."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        predictor(*inputs)
    return int(counter.get_total_flops())


@dataclass
class Latency:
    """Wall time of one episode's forward pass on this machine's CPU, in milliseconds."""

    median_ms: float
    p95_ms: float
    runs: int


def measure_latencies(
    predictors: Sequence[Callable[..., Any]], inputs: PredictorInputs, *, runs: int = 50, warmup: int = 5
) -> list[Latency]:
    """Median and 95th percentile of each predictor over ``runs`` timed calls.

    The predictors are called in turn, so a busy machine slows them alike and
    their ratios stay meaningful; ``warmup`` untimed rounds come first.
    """
    times: list[list[float]] = [[] for _ in predictors]
    with torch.inference_mode():
        for i in range(warmup + runs):
            for predictor, spent in zip(predictors, times):
                start = time.perf_counter()
                predictor(*inputs)
                if i >= warmup:
                    spent.append((time.perf_counter() - start) * 1000)
    return [Latency(median_ms=statistics.median(t), p95_ms=percentile(t, 0.95), runs=runs) for t in times]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def predictor_dynamic_shapes() -> tuple[dict[int, Any], ...]:
    """``torch.export`` dynamic shapes of the three inputs: S, N and Q stay free."""
    support = torch.export.Dim("support", min=2)
    ways = torch.export.Dim("ways", min=2)
    queries = torch.export.Dim("queries", min=1)
    return ({0: support}, {0: support, 1: ways}, {0: queries})


# ------------------------------------------------------------------- exporters


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

    kind: ClassVar[str] = "exporter"
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


def exporter_for(path: Path, registry: Any = None) -> Exporter:
    """The exporter whose file suffix matches ``path`` (e.g. ``.pt2``, ``.onnx``)."""
    from autometa.plugins import get_registry

    registry = registry or get_registry()
    known = []
    for name in registry.names("exporter"):
        cls = registry.get("exporter", name).cls
        known.append(cls.suffix)
        if cls.suffix and path.name.endswith(cls.suffix):
            return registry.create("exporter", name)
    raise AutometaError(
        f"{path}: no exporter reads '{path.suffix}' files; pass a file ending in one of: {', '.join(known)}"
    )


def load_artifact(path: Path) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """Load an exported predictor file, choosing the exporter by its suffix."""
    path = Path(path)
    if not path.is_file():
        raise AutometaError(f"{path}: artifact not found; pass a file written by 'autometa compress' or 'export'")
    return exporter_for(path).load(path)


@dataclass
class ExportReport:
    """One exported file and how it passed verification."""

    format: str
    file: str
    size_bytes: int
    max_abs_diff: float
    tolerance: str
    fresh_process: bool
    loader_code: str


#: Run in a fresh ``python -I``: forbid autometa, run the exporter's loader, save logits.
_FRESH_PROCESS_RUNNER = """
import sys, importlib.abc
class _NoAutometa(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('autometa', 'autometa_plugins'):
            raise ImportError('autometa must not be needed to run an exported predictor')
sys.meta_path.insert(0, _NoAutometa())
import numpy as np
inputs = np.load(sys.argv[1])
{loader}
logits = predict(inputs['support'], inputs['onehot'], inputs['query'])
assert not any(m.split('.')[0] in ('autometa', 'autometa_plugins') for m in sys.modules)
np.save(sys.argv[2], np.asarray(logits, dtype=np.float32))
"""


def run_in_fresh_process(loader_code: str, inputs: PredictorInputs, *, timeout: float = 300) -> np.ndarray:
    """Run ``loader_code``'s ``predict`` on ``inputs`` in ``python -I`` with autometa blocked."""
    script = _FRESH_PROCESS_RUNNER.format(loader=textwrap.dedent(loader_code))
    with tempfile.TemporaryDirectory() as tmp:
        in_file, out_file = Path(tmp) / "inputs.npz", Path(tmp) / "logits.npy"
        support, onehot, query = (t.detach().cpu().numpy().astype(np.float32) for t in inputs)
        np.savez(in_file, support=support, onehot=onehot, query=query)
        done = subprocess.run(
            [sys.executable, "-I", "-c", script, str(in_file), str(out_file)],
            capture_output=True, text=True, timeout=timeout, cwd=tmp,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ExportError(f"the exported predictor did not run in a fresh Python process: {last}")
        return np.load(out_file)


def export_and_verify(
    predictor: nn.Module, exporter: Exporter, path: Path, episodes: list[Episode]
) -> ExportReport:
    """Export (traced on ``episodes[0]``), then check logits in this process on every
    episode and in a fresh process on the last one with a class and a query fewer,
    so a file whose sizes were pinned at tracing fails here.
    """
    predictor = predictor.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    exporter.export(predictor, predictor_inputs(episodes[0]), path)
    loaded = exporter.load(path)
    atol, rtol = exporter.options.atol, exporter.options.rtol
    worst = 0.0
    for episode in episodes:
        expected = predict_episode(predictor, episode)
        got = predict_episode(loaded, episode)
        worst = max(worst, _check_close(got, expected, atol, rtol, f"{path.name}: exported logits"))
    smaller = _smaller_episode(episodes[-1])
    fresh_inputs = predictor_inputs(smaller)
    expected = predict_episode(predictor, smaller)
    got = torch.from_numpy(run_in_fresh_process(exporter.loader_code(str(path.resolve())), fresh_inputs))
    worst = max(worst, _check_close(got, expected, atol, rtol, f"{path.name}: fresh-process logits"))
    return ExportReport(
        format=exporter.name,
        file=path.name,
        size_bytes=path.stat().st_size,
        max_abs_diff=worst,
        tolerance=f"|exported - eager| <= {atol:g} + {rtol:g} * |eager|",
        fresh_process=True,
        loader_code=textwrap.dedent(exporter.loader_code(path.name)).strip(),
    )


def _smaller_episode(episode: Episode) -> Episode:
    """The same task without its last class (when it has more than two) and its last query:
    N, S and Q the export was not traced with."""
    ways = episode.ways - 1 if episode.ways > 2 else episode.ways
    support, query = episode.support_y < ways, episode.query_y < ways
    keep = max(1, int(query.sum()) - 1)
    return Episode(
        episode.support_x[support], episode.support_y[support],
        episode.query_x[query][:keep], episode.query_y[query][:keep], ways,
    )


def _check_close(got: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float, what: str) -> float:
    got, expected = got.float().cpu(), expected.float().cpu()
    if got.shape != expected.shape:
        raise ExportError(f"{what} have shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    diff = (got - expected).abs()
    if not bool((diff <= atol + rtol * expected.abs()).all()):
        raise ExportError(
            f"{what} differ from the in-framework predictor by up to {float(diff.max()):.3g} "
            f"(tolerance {atol:g} + {rtol:g}*|logit|); export without quantization or raise the tolerance"
        )
    return float(diff.max())


# ------------------------------------------------------------------ model card


@dataclass
class Accuracy:
    """Mean episodic accuracy (percent) with its 95% confidence interval."""

    mean: float
    ci95: float
    episodes: int

    @classmethod
    def from_eval(cls, result: Any) -> Accuracy:
        return cls(mean=100 * float(result.mean), ci95=100 * float(result.ci95), episodes=int(result.n))

    def __str__(self) -> str:
        return f"{self.mean:.2f} ± {self.ci95:.2f}"


@dataclass
class StageCard:
    """The predictor after one stage (``original``, then each compression stage)."""

    stage: str
    plugin: str
    accuracy: Accuracy
    parameters: int
    nonzero_parameters: int
    flops: int
    latency: Latency
    kept: bool = True
    notes: str = ""


@dataclass
class ModelCard:
    """Everything a user needs to trust and run the artifact (``model_card.json`` / ``.md``)."""

    name: str
    strategy: dict[str, Any]
    dataset: Any
    episode_shape: dict[str, int]
    preprocessing: dict[str, Any]
    stages: list[StageCard]
    artifacts: list[ExportReport] = field(default_factory=list)
    machine: str = ""

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write ``model_card.json`` and ``model_card.md`` into ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        json_path, md_path = directory / "model_card.json", directory / "model_card.md"
        json_path.write_text(json.dumps(asdict(self), indent=2, default=str) + "\n", encoding="utf-8")
        md_path.write_text(self.markdown(), encoding="utf-8")
        return json_path, md_path

    def markdown(self) -> str:
        shape = self.episode_shape
        pre = self.preprocessing
        lines = [
            f"# Model card: {self.name}",
            "",
            f"A few-shot predictor for {shape['ways']}-way {shape['shots']}-shot episodes "
            f"(evaluated with {shape['queries']} queries per class) on `{_short(self.dataset)}`.",
            "",
            "## Strategy",
            "",
            "```yaml",
            _yaml(self.strategy).rstrip(),
            "```",
            "",
            "## Stages",
            "",
            f"Accuracy is the mean over fixed, seeded meta-test episodes with its 95% CI "
            f"(1.96·std/√n); latency is one episode on {self.machine or 'this CPU'}.",
            "",
            "| stage | plugin | accuracy % | parameters | non-zero | MFLOPs | latency median / p95 ms | kept |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for s in self.stages:
            lines.append(
                f"| {s.stage} | {s.plugin} | {s.accuracy} (n={s.accuracy.episodes}) | {s.parameters:,} | "
                f"{s.nonzero_parameters:,} | {s.flops / 1e6:.1f} | {s.latency.median_ms:.2f} / "
                f"{s.latency.p95_ms:.2f} | {'yes' if s.kept else 'no'} |"
            )
        notes = [f"- {s.stage}: {s.notes}" for s in self.stages if s.notes]
        if notes:
            lines += ["", *notes]
        lines += [
            "",
            "## Preprocessing",
            "",
            f"- input: {pre['channels']} channel(s), {pre['image_size']}×{pre['image_size']} pixels "
            "(antialiased bilinear resize)",
            f"- values: scale 8-bit pixels to [{pre['value_range'][0]:g}, {pre['value_range'][1]:g}]"
            + (f", then subtract mean {pre['mean']} and divide by std {pre['std']}" if pre.get("mean") else ""),
            f"- ink polarity: {pre['ink']} (invert images drawn the other way: 255 - pixel)",
            "- inputs: `support [S,C,H,W]` float32, `onehot [S,N]` float32 (one-hot support labels), "
            "`query [Q,C,H,W]` float32; output: logits `[Q,N]` (argmax = predicted class)",
            "",
            "```python",
            preprocessing_code(pre),
            "```",
        ]
        for artifact in self.artifacts:
            lines += [
                "",
                f"## Load `{artifact.file}` in five lines ({artifact.format}, {artifact.size_bytes / 1024:.1f} KiB)",
                "",
                f"Verified: {artifact.tolerance} (max seen {artifact.max_abs_diff:.2g}), and run in a fresh "
                "Python process without autometa.",
                "",
                "```python",
                artifact.loader_code,
                "logits = predict(support, onehot, query)  # numpy float32 arrays",
                "```",
            ]
        return "\n".join(lines) + "\n"


def _short(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def preprocessing_dict(preprocessing: Any) -> dict[str, Any]:
    """The data layer's ``Preprocessing`` as plain JSON-able values."""
    data = asdict(preprocessing)
    data["value_range"] = list(data["value_range"])
    return data


def preprocessing_code(preprocessing: dict[str, Any]) -> str:
    """Python source defining ``load_image(path) -> float32 [C, H, W]``: the data layer's
    ``to_float`` (and resize) for one raw image file, with Pillow and numpy only."""
    size, (low, high) = preprocessing["image_size"], preprocessing["value_range"]
    mode = "L" if preprocessing["channels"] == 1 else "RGB"
    layout = "[None]" if mode == "L" else ".transpose(2, 0, 1)"
    lines = [
        "import numpy as np",
        "from PIL import Image",
        "def load_image(path):",
        f"    image = Image.open(path).convert({mode!r}).resize(({size}, {size}), Image.BILINEAR)",
        f"    x = np.asarray(image, dtype=np.float32){layout} / 255",
    ]
    if (low, high) != (0.0, 1.0):
        lines.append(f"    x = x * {high - low!r} + {low!r}")
    if preprocessing.get("mean"):
        lines.append(
            f"    x = (x - np.float32({preprocessing['mean']!r})[:, None, None]) / "
            f"np.float32({preprocessing['std']!r})[:, None, None]"
        )
    lines.append("    return x.astype(np.float32)")
    return "\n".join(lines)


def stage_card(
    stage: str, plugin: str, predictor: nn.Module, accuracy: Accuracy, example: PredictorInputs, latency: Latency,
    *, kept: bool = True, notes: str = "",
) -> StageCard:
    """Measure ``predictor``'s size and FLOPs (on ``example``) for the model card."""
    return StageCard(
        stage=stage,
        plugin=plugin,
        accuracy=accuracy,
        parameters=count_parameters(predictor),
        nonzero_parameters=count_nonzero_parameters(predictor),
        flops=count_flops(predictor, example),
        latency=latency,
        kept=kept,
        notes=notes,
    )


# ------------------------------------------------------------- CLI entry points


def export_checkpoint(
    checkpoint_path: Path, formats: list[str], out_dir: Path | None = None, *, verify_episodes: int = 3
) -> list[ExportReport]:
    """Export a trained checkpoint's predictor (uncompressed) to ``formats`` and verify each.

    Verification uses the first meta-test episodes of the checkpoint's recipe;
    files go to ``out_dir`` (default: ``export/`` beside the checkpoint).
    """
    from autometa.data import load_data
    from autometa.evaluation import split_episodes
    from autometa.plugins import get_registry
    from autometa.trainer import load_checkpoint

    checkpoint_path = Path(checkpoint_path)
    checkpoint = load_checkpoint(checkpoint_path)
    out_dir = Path(out_dir) if out_dir else checkpoint_path.parent / "export"
    recipe = checkpoint.recipe
    data = load_data(recipe.data)
    episodes = list(split_episodes(recipe, data, "test")[:verify_episodes])
    registry = get_registry()
    predictor = checkpoint.learner.deployable_predictor().eval()
    reports = []
    for name in formats:
        exporter = registry.create("exporter", name)
        reports.append(export_and_verify(predictor, exporter, out_dir / f"predictor{exporter.suffix}", episodes))
    return reports


def evaluate_artifact(artifact: Path, recipe_path: Path, *, episodes: int | None = None) -> Any:
    """Score an exported predictor file on the meta-test episodes of ``recipe_path``'s data set.

    The episodes are the recipe's fixed test episodes (``evaluation`` shape and
    seed); ``episodes`` overrides their count. Returns an ``EvalResult``.
    """
    from autometa.data import load_data
    from autometa.evaluation import evaluate, split_episodes
    from autometa.recipe import load_recipe

    predictor = load_artifact(Path(artifact))
    recipe = load_recipe(recipe_path)
    if episodes is not None:
        recipe = recipe.model_copy(
            update={"evaluation": recipe.evaluation.model_copy(update={"test_episodes": episodes})}
        )
    data = load_data(recipe.data)
    return evaluate(lambda episode: predict_episode(predictor, episode), split_episodes(recipe, data, "test"))
