"""ONNX export through the dynamo exporter: runs with ONNX Runtime, no autometa, no torch.

The traced program (forward ops only, gradient steps included) is translated
with torchlib's stock functions. :meth:`OnnxExport.check` walks the program for
ops with no ONNX translation before the translation (seconds, not minutes), and
a translation that fails anyway is reduced to one line naming the op.
"""

from __future__ import annotations

import functools
import re
import warnings
from pathlib import Path
from typing import Any, Callable, ClassVar

import torch
from pydantic import Field

from autometa import Exporter, ExporterOptions, ExportError, TracedPredictor

INPUT_NAMES = ["support_images", "support_onehot", "query_images"]
#: How to get past an op ONNX lacks (docs/plugins.md explains the rewrites).
FIX = (
    "write the predictor with operations ONNX has (see 'Exportable predictors' in docs/plugins.md), "
    "or export to torch_export only"
)
#: Runtime-assertion ops the ONNX exporter drops (``remove_assertion_nodes``).
_DROPPED_BY_THE_EXPORTER = ("_assert", "sym_constrain_range")


class OnnxOptions(ExporterOptions):
    """ONNX Runtime's kernels differ from PyTorch's in the last bits, hence a looser default."""

    atol: float = Field(1e-2, gt=0, description="absolute logit tolerance of the verification")
    rtol: float = Field(1e-3, ge=0, description="relative logit tolerance of the verification")
    opset: int = Field(18, ge=18, description="ONNX opset version")


class OnnxExport(Exporter):
    """ONNX model (.onnx) via torch.onnx.export(dynamo=True), dynamic shots and queries (and ways, where allowed)."""

    name: ClassVar[str] = "onnx"
    suffix: ClassVar[str] = ".onnx"
    Options: ClassVar[type[OnnxOptions]] = OnnxOptions

    def check(self, traced: TracedPredictor) -> None:
        missing = unsupported_ops(traced.program, self.options.opset)
        if missing:
            raise ExportError(f"{missing[0]} has no ONNX translation (opset {self.options.opset}); {FIX}")

    def export(self, traced: TracedPredictor, path: Path) -> Path:
        self.check(traced)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)  # torchlib's notes on each translated op
            try:
                # optimize=False: onnxscript's optimizer rewrites x + c to x for any constant within 1e-8
                # of zero, so an eps such as sqrt(mean(g**2) + 1e-8) silently became sqrt(0) and NaN
                # logits (the learned inner optimizer's); ONNX Runtime optimises the graph itself.
                torch.onnx.export(
                    traced.program, (), str(path), dynamo=True, input_names=INPUT_NAMES, output_names=["logits"],
                    opset_version=self.options.opset, external_data=False, verbose=False, optimize=False,
                )
            except Exception as exc:
                raise ExportError(f"{onnx_error_line(exc, self.options.opset)}; {FIX}") from exc
        return path

    def load(self, path: Path) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # unoptimised models log CastLike nodes it cannot fold, harmlessly
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

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


def unsupported_ops(program: torch.export.ExportedProgram, opset: int) -> list[str]:
    """Ops of ``program`` with neither a torchlib translation nor a decomposition the ONNX exporter applies,
    in graph order (a walk, no translation). Ops PyTorch decomposes itself are left to :func:`onnx_error_line`."""
    registry, implemented, decomposed = _onnx_tables(opset)
    missing: dict[str, None] = {}
    for node in program.graph.nodes:
        op = node.target
        if node.op != "call_function" or not isinstance(op, torch._ops.OpOverload):
            continue
        if any(word in op.name() for word in _DROPPED_BY_THE_EXPORTER):
            continue
        if op in implemented or op in decomposed or registry.is_registered(op):
            continue
        if torch._C._dispatch_has_kernel_for_dispatch_key(op.name(), "CompositeImplicitAutograd"):
            continue
        missing[str(op)] = None
    return list(missing)


@functools.lru_cache(maxsize=2)
def _onnx_tables(opset: int) -> tuple[Any, frozenset[Any], dict[Any, Any]]:
    """torchlib's translated ops and the exporter's decomposition table (private APIs of
    ``torch.onnx``; building the registry takes seconds, so it is done once per opset)."""
    from torch.onnx._internal.exporter._decomp import (
        create_onnx_friendly_decomposition_table,
        get_onnx_implemented_overloads,
    )
    from torch.onnx._internal.exporter._registration import ONNXRegistry

    registry = ONNXRegistry.from_torchlib(opset)
    implemented = frozenset(get_onnx_implemented_overloads(registry))
    return registry, implemented, create_onnx_friendly_decomposition_table(set(implemented))


def onnx_error_line(exc: BaseException, opset: int) -> str:
    """One line for a failed translation: the op without a translation where that is the cause (its
    ``DispatchError`` says ``No ONNX function found for <OpOverload(op='aten.X', overload='Y')>``),
    else the first line of the innermost exception."""
    chain: list[BaseException] = []
    error: BaseException | None = exc
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    for error in chain:
        found = re.search(r"No ONNX function found for <OpOverload\(op='([^']+)', overload='([^']+)'\)>", str(error))
        if found:
            return f"{found.group(1)}.{found.group(2)} has no ONNX translation (opset {opset})"
    innermost = chain[-1]
    first = next((line.strip() for line in str(innermost).splitlines() if line.strip()), "")
    return f"ONNX translation failed: {type(innermost).__name__}: {first[:300]}"
