"""Autograd-free tracing: any deployable predictor, inner-loop gradients included, as one exported program.

Every exporter starts from the program :func:`trace_predictor` makes, so ``.pt2``
and ONNX files of one predictor compute the same thing. Two stages:

1. ``make_fx`` runs the predictor on fake tensors whose S and Q (and N, unless the
   predictor fixes its ways) are *unbacked* symbols, recording ATen ops. A
   gradient learner's ``torch.func.grad`` runs during the trace, and every backward
   op is rewritten into forward ops on the way (:mod:`autometa.deploy.decompositions`);
   weights become constants. Unbacked symbols make any code that needs a concrete
   size fail loudly (``GuardOnDataDependentSymNode``) instead of silently fixing it.
2. ``torch.export`` of that graph with ``torch.export.Dim`` for the same sizes
   gives the ``ExportedProgram`` exporters write. ``torch.export`` alone cannot
   trace ``torch.func.grad``, hence stage 1.

A predictor may fix the number of ways (``static_ways``, e.g. classic MAML's
learned ``[N, D]`` head init). Where code needs a concrete N (an LSTM cell over
N-dependent coordinates), N is fixed to the traced episode's and a note says why.
Every failure is one :class:`~autometa.errors.ExportError` line naming the op or
the code that blocks the export.
"""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from autometa.deploy.decompositions import backward_decompositions, backward_ops
from autometa.deploy.measure import PredictorInputs
from autometa.errors import ExportError

#: The predictor's inputs, by name: what an ONNX model's inputs are called.
INPUT_NAMES = ("support_images", "support_onehot", "query_images")


@dataclass
class TracedPredictor:
    """A predictor as an exported program of forward ops, and which episode sizes it accepts."""

    program: torch.export.ExportedProgram
    static_ways: int | None  # None: any number of ways
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def dynamic_sizes(self) -> str:
        """Which sizes are free, e.g. ``"S, Q and N dynamic"`` or ``"S and Q dynamic, N = 5"``."""
        if self.static_ways is None:
            return "S, Q and N dynamic"
        return f"S and Q dynamic, N = {self.static_ways}"


def trace_predictor(predictor: nn.Module, example: PredictorInputs) -> TracedPredictor:
    """Trace ``predictor`` (see the module docstring) for episodes shaped like ``example``: its
    image size and, where N cannot stay dynamic, its number of ways."""
    start = time.perf_counter()
    predictor = predictor.eval()
    image_shape, ways = tuple(example[0].shape[1:]), int(example[1].shape[1])
    static_ways = getattr(predictor, "static_ways", None)
    notes = []
    with _quiet_tracing():
        try:
            try:
                dynamic_ways = static_ways is None
                graph, inputs = _trace_ops(predictor, image_shape, static_ways or ways, dynamic_ways=dynamic_ways)
            except _NeedsConcreteSize as exc:
                if static_ways is not None:
                    raise
                static_ways = ways  # perhaps N is what it needs: try once more with N fixed
                notes.append(f"N fixed to {ways}: {exc}")
                graph, inputs = _trace_ops(predictor, image_shape, ways, dynamic_ways=False)
        except _NeedsConcreteSize as exc:  # S or Q: no file could take other episode sizes
            raise ExportError(f"{exc}; write it with operations on tensors, not Python ints") from exc
        left = backward_ops(graph.graph)
        if left:
            raise ExportError(
                f"{left[0]} has no forward-op rewrite (the predictor differentiates through it); use a layer whose "
                "gradient exports (convolution, linear, batch/group norm, max or average pooling, common activations)"
            )
        program = _export(graph, inputs, static_ways)
    program.example_inputs = None  # else every saved file also stores the traced episode
    return TracedPredictor(program, static_ways, notes, time.perf_counter() - start)


def tracing_inputs(image_shape: tuple[int, ...], ways: int) -> PredictorInputs:
    """A synthetic episode whose sizes trace well: S, Q and N all >= 2 and all different (a size of
    0 or 1, or two equal sizes, could be specialised or tied together by the tracer)."""
    support, queries = 2 * ways + 1, 2 * ways + 3
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(support) % ways
    return (
        torch.rand(support, *image_shape, generator=generator),
        F.one_hot(labels, ways).float(),
        torch.rand(queries, *image_shape, generator=generator),
    )


class _NeedsConcreteSize(Exception):
    """Code in the predictor turns a dynamic episode size into a Python int."""


def _trace_ops(
    predictor: nn.Module, image_shape: tuple[int, ...], ways: int, *, dynamic_ways: bool
) -> tuple[torch.fx.GraphModule, PredictorInputs]:
    """Stage 1: ``make_fx`` with unbacked S, Q (and N), backward ops decomposed, weights as constants."""
    from torch.fx.experimental.dynamic_spec import STATIC, ShapesSpec, ShapeVar, TensorSpec
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

    inputs = tracing_inputs(image_shape, ways)
    support, queries = ShapeVar("support", min=2), ShapeVar("queries", min=1)
    n = ShapeVar("ways", min=2) if dynamic_ways else STATIC
    image = [STATIC] * len(image_shape)
    spec = ShapesSpec({
        "support_images": TensorSpec([support, *image]),
        "support_onehot": TensorSpec([support, n]),
        "query_images": TensorSpec([queries, *image]),
    })

    def predict(support_images, support_onehot, query_images):
        return predictor(support_images, support_onehot, query_images)

    try:
        with torch.no_grad():  # the meta-parameters' gradients are not wanted (an inner loop's still are)
            graph = make_fx(
                predict, decomposition_table=backward_decompositions(), tracing_mode="fake",
                _allow_non_fake_inputs=True, dynamic_shapes=spec,
            )(*inputs)
    except GuardOnDataDependentSymNode as exc:
        raise _NeedsConcreteSize(
            f"a dynamic episode size (S, Q or N) must be a Python int in {_library_frame(exc)}, "
            f"called at {_user_frame(exc)}"
        ) from exc
    except ExportError:
        raise
    except Exception as exc:
        if "expected to contain only concrete integers" in str(exc):  # a C++ kernel read a size as an int
            raise _NeedsConcreteSize(
                f"a dynamic episode size (S, Q or N) must be a Python int in a C++ kernel, called at {_user_frame(exc)}"
            ) from exc
        raise ExportError(f"cannot trace the predictor at {_user_frame(exc)}: {one_line(exc)}") from exc
    return graph, inputs


def _export(
    graph: torch.fx.GraphModule, inputs: PredictorInputs, static_ways: int | None
) -> torch.export.ExportedProgram:
    """Stage 2: ``torch.export`` of the traced graph with the same dynamic sizes."""
    support = torch.export.Dim("support", min=2)
    queries = torch.export.Dim("queries", min=1)
    onehot = {0: support} if static_ways else {0: support, 1: torch.export.Dim("ways", min=2)}
    with warnings.catch_warnings():
        # The support axis is shared by two inputs on purpose; torch says so once per export.
        warnings.filterwarnings("ignore", message=".*shares the same shape constraints", category=UserWarning)
        try:
            return torch.export.export(graph, inputs, dynamic_shapes=({0: support}, onehot, {0: queries}))
        except Exception as exc:
            raise ExportError(f"torch.export of the traced predictor failed: {one_line(exc)}") from exc


#: Loggers that print pages (at ERROR level) for a failed size guard, which this module reports in one line.
_GUARD_LOGGERS = ("torch._subclasses.fake_tensor", "torch.fx.experimental.symbolic_shapes")


@contextlib.contextmanager
def _quiet_tracing() -> Iterator[None]:
    """No Python stack trace recorded per traced node (about a tenth of the tracing time), and no
    torch log pages for a size guard that fails (the ExportError says it in one line)."""
    previous = torch.fx.config.do_not_emit_stack_traces
    torch.fx.config.do_not_emit_stack_traces = True
    loggers = [logging.getLogger(name) for name in _GUARD_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        torch.fx.config.do_not_emit_stack_traces = previous
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


#: Library frames that are the tracer itself, not the call that needed a concrete size.
_TRACER_PATHS = (
    "/torch/fx/", "/torch/_subclasses/", "/torch/utils/", "/torch/_ops.py", "/torch/overrides.py",
    "/torch/_prims_common/", "/torch/_decomp/", "/torch/_refs/", "/torch/_functorch/", "/torch/_dynamo/",
)


def _library_frame(exc: BaseException) -> str:
    """The innermost PyTorch frame outside the tracer, e.g. the ``nn.functional`` call that needed an int."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not any(p in f.filename for p in _TRACER_PATHS)]
    return _frame_text(frames[-1], 2) if frames else "<C++>"


def _user_frame(exc: BaseException) -> str:
    """``file:line (code)`` of the innermost frame outside torch and this module: the code that failed."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__)
        if "/torch/" not in f.filename and Path(f.filename).resolve() != Path(__file__).resolve()
    ]
    return _frame_text(frames[-1], 3) if frames else "<torch>"


def _frame_text(frame: traceback.FrameSummary, parts: int) -> str:
    return f"{'/'.join(Path(frame.filename).parts[-parts:])}:{frame.lineno} ({(frame.line or '').strip()[:100]})"


def one_line(exc: BaseException) -> str:
    """The first non-empty line of an exception (PyTorch's messages run to pages)."""
    for line in f"{type(exc).__name__}: {exc}".splitlines():
        if line.strip():
            return line.strip()[:300]
    return type(exc).__name__

