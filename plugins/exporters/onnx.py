"""ONNX export through the dynamo exporter: runs with ONNX Runtime, no autometa, no torch."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, ClassVar

import torch
from pydantic import Field
from torch import nn

from autometa import (
    Exporter,
    ExporterOptions,
    PredictorInputs,
    predictor_dynamic_shapes,
)

INPUT_NAMES = ["support_images", "support_onehot", "query_images"]


class OnnxOptions(ExporterOptions):
    """ONNX Runtime's kernels differ from PyTorch's in the last bits, hence a looser default."""

    atol: float = Field(1e-2, gt=0, description="absolute logit tolerance of the verification")
    rtol: float = Field(1e-3, ge=0, description="relative logit tolerance of the verification")
    opset: int = Field(18, ge=18, description="ONNX opset version")


class OnnxExport(Exporter):
    """ONNX model (.onnx) via torch.onnx.export(dynamo=True), dynamic ways, shots and queries."""

    name: ClassVar[str] = "onnx"
    suffix: ClassVar[str] = ".onnx"
    Options: ClassVar[type[OnnxOptions]] = OnnxOptions

    def export(self, predictor: nn.Module, example: PredictorInputs, path: Path) -> Path:
        with warnings.catch_warnings():
            # The support axis is shared by two inputs on purpose; torch says so once per export.
            warnings.filterwarnings("ignore", message=".*shares the same shape constraints", category=UserWarning)
            torch.onnx.export(
                predictor.eval(),
                example,
                str(path),
                dynamo=True,
                input_names=INPUT_NAMES,
                output_names=["logits"],
                dynamic_shapes=predictor_dynamic_shapes(),
                opset_version=self.options.opset,
                external_data=False,
                verbose=False,
            )
        return path

    def load(self, path: Path) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def predict(support: torch.Tensor, onehot: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
            feeds = {n: t.detach().cpu().numpy() for n, t in zip(INPUT_NAMES, (support, onehot, query))}
            return torch.from_numpy(session.run(["logits"], feeds)[0])

        return predict

    def loader_code(self, path: str) -> str:
        return f"""\
import onnxruntime
session = onnxruntime.InferenceSession({path!r}, providers=["CPUExecutionProvider"])
def predict(support, onehot, query):
    feeds = {{"support_images": support, "support_onehot": onehot, "query_images": query}}
    return session.run(["logits"], feeds)[0]
"""
