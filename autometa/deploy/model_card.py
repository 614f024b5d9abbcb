"""The model card: what the shipped predictor scores, costs and needs, stage by stage (``model_card.md``/``.json``)."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autometa.deploy.measure import Latency, PredictorInputs, count_flops, count_nonzero_parameters, count_parameters
from autometa.deploy.verify import ExportReport


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
    predictor: str  # what the shipped predictor does with an episode
    dataset: Any
    episode_shape: dict[str, int]
    preprocessing: dict[str, Any]
    stages: list[StageCard]
    refit: bool = False  # trained again on meta-train + meta-val after the search chose it
    ensemble: list[str] = field(default_factory=list)  # the members (best/ensemble/<rank>-trial<n>), if several
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
            f"What the predictor does: {self.predictor}.",
            "",
            *(["Refit: chosen on meta-val, then trained again on meta-train + meta-val (`export.refit`).", ""]
              if self.refit else []),
            *([f"Ensemble (`export.ensemble`): {', '.join(self.ensemble)}; the strategy above is the first's.", ""]
              if self.ensemble else []),
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
                f"Episode sizes: {artifact.dynamic_sizes}"
                + "".join(f"; {note}" for note in artifact.notes) + ".",
                "",
                f"Verified: {artifact.tolerance} (max seen {artifact.max_abs_diff:.2g}"
                + (f"; {artifact.verification_note}" if artifact.verification_note else "")
                + "), and run in a fresh Python process without autometa.",
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


def machine_description() -> str:
    """'x86_64 CPU, 2 threads (torch 2.x)': where latencies were measured."""
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads (torch {torch.__version__.split('+')[0]})"
