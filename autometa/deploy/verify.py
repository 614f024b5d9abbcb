"""Verification of an exported file: same logits as the in-framework predictor, and it runs without autometa.

:func:`export_and_verify` traces the predictor once, lets every exporter check the
traced program, then writes and checks each file twice: its logits must match
the predictor within the exporter's stated tolerance on several episodes, and
the exporter's own five-line loader (the one printed in the model card) must run
in a fresh Python process in which importing autometa is impossible, on an
episode of another size than the one traced. Whatever fails, at any stage, is one
:class:`~autometa.errors.ExportError` line (its cause stays chained to it, for
``--debug`` and the run's log).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from autometa.data.episodes import Episode
from autometa.deploy.exporter import Exporter, predict_episode
from autometa.deploy.measure import PredictorInputs
from autometa.deploy.tracing import TracedPredictor, one_line, trace_predictor
from autometa.errors import AutometaError, ExportError

T = TypeVar("T")


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
    dynamic_sizes: str  # e.g. "S, Q and N dynamic"
    notes: list[str]  # why a size is fixed, if one is
    export_seconds: float  # tracing (shared by every format) and writing this file
    verification_note: str = ""  # episodes that passed only within the predictor's own rounding sensitivity


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


def trace_and_check(predictor: nn.Module, exporters: Sequence[Exporter], example: PredictorInputs) -> TracedPredictor:
    """Trace ``predictor`` once (for episodes shaped like ``example``) and let every exporter check the
    program: what a format cannot express is found in seconds, before any file is written."""
    traced = trace_predictor(predictor.eval(), example)
    for exporter in exporters:
        _as_export_error(exporter, exporter.check, traced)
    return traced


def export_and_verify(
    predictor: nn.Module, exporters: Sequence[Exporter], directory: Path, episodes: Sequence[Episode], *,
    fresh_process: bool = True, traced: TracedPredictor | None = None,
) -> list[ExportReport]:
    """Write ``predictor`` as ``directory/predictor<suffix>`` with each exporter and verify every file.

    ``traced`` is :func:`trace_and_check`'s result (made here on ``episodes[0]`` if
    not given). Each file's logits are checked on every episode and, with
    ``fresh_process``, in a fresh process on the last episode with a query (and,
    where N is free, a class) fewer.
    """
    predictor = predictor.eval()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    traced = traced or trace_and_check(predictor, exporters, episodes[0].predictor_inputs())
    return [
        _write_and_verify(predictor, traced, exporter, directory / f"predictor{exporter.suffix}", episodes,
                          fresh_process)
        for exporter in exporters
    ]


def _write_and_verify(
    predictor: nn.Module, traced: TracedPredictor, exporter: Exporter, path: Path, episodes: Sequence[Episode],
    fresh_process: bool,
) -> ExportReport:
    start = time.perf_counter()
    _as_export_error(exporter, exporter.export, traced, path)
    seconds = traced.seconds + time.perf_counter() - start
    loaded = _as_export_error(exporter, exporter.load, path)
    atol, rtol = exporter.options.atol, exporter.options.rtol
    checks = []
    for episode in episodes:
        got = _as_export_error(exporter, predict_episode, loaded, episode)
        checks.append(_check_close(predictor, episode, got, atol, rtol, f"{path.name}: exported logits"))
    if fresh_process:
        smaller = _smaller_episode(episodes[-1], keep_ways=traced.static_ways is not None)
        logits = run_in_fresh_process(exporter.loader_code(str(path.resolve())), smaller.predictor_inputs())
        checks.append(_check_close(predictor, smaller, torch.from_numpy(logits), atol, rtol,
                                   f"{path.name}: fresh-process logits"))
    worst = max(diff for diff, _ in checks)
    near_ties = [moved for _, moved in checks if moved is not None]
    return ExportReport(
        format=exporter.name,
        file=path.name,
        size_bytes=path.stat().st_size,
        max_abs_diff=worst,
        tolerance=f"|exported - eager| <= {atol:g} + {rtol:g} * |eager|",
        fresh_process=fresh_process,
        loader_code=textwrap.dedent(exporter.loader_code(path.name)).strip(),
        dynamic_sizes=traced.dynamic_sizes,
        notes=list(traced.notes),
        export_seconds=round(seconds, 1),
        verification_note=_near_tie_note(near_ties) if near_ties else "",
    )


def _near_tie_note(near_ties: list[float]) -> str:
    return (
        f"on {len(near_ties)} verification episode(s) the logits differ by more than the tolerance but no more "
        f"than the predictor's own logits move (up to {max(near_ties):.3g}) when its support images change "
        "by float rounding: a near-tie in max pooling or ReLU inside the inner loop"
    )


def _as_export_error(exporter: Exporter, step: Callable[..., T], *args: Any) -> T:
    """Run one step of ``exporter``'s work; any failure becomes one ExportError line naming the format."""
    try:
        return step(*args)
    except AutometaError as exc:
        if isinstance(exc, ExportError) and str(exc).startswith(f"{exporter.name}: "):
            raise
        raise ExportError(f"{exporter.name}: {exc}") from exc
    except Exception as exc:
        raise ExportError(f"{exporter.name}: {one_line(exc)}") from exc


def _smaller_episode(episode: Episode, *, keep_ways: bool) -> Episode:
    """The same task without its last class (when it has more than two and N is free) and its last
    query: sizes the export was not traced with."""
    ways = episode.ways - 1 if episode.ways > 2 and not keep_ways else episode.ways
    support, query = episode.support_y < ways, episode.query_y < ways
    keep = max(1, int(query.sum()) - 1)
    return Episode(
        episode.support_x[support], episode.support_y[support],
        episode.query_x[query][:keep], episode.query_y[query][:keep], ways,
    )


def _check_close(
    predictor: nn.Module, episode: Episode, got: torch.Tensor, atol: float, rtol: float, what: str
) -> tuple[float, float | None]:
    """The largest difference of ``got`` to the predictor's logits on ``episode``, and, where it is over
    the tolerance but within the predictor's own :func:`rounding_sensitivity`, that sensitivity."""
    expected = predict_episode(predictor, episode).float().cpu()
    got = got.float().cpu()
    if got.shape != expected.shape:
        raise ExportError(f"{what} have shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    diff = (got - expected).abs()
    bound = atol + rtol * expected.abs()
    if bool((diff <= bound).all()):
        return float(diff.max()), None
    moved = rounding_sensitivity(predictor, episode, expected)
    if bool((diff <= bound + moved).all()):
        return float(diff.max()), moved
    raise ExportError(
        f"{what} differ from the in-framework predictor by up to {float(diff.max()):.3g} "
        f"(tolerance {atol:g} + {rtol:g}*|logit|); export without quantization or raise the tolerance"
    )


#: Nudges of the support images, and their sizes: float32 rounding of values in [0, 1] and a little more.
_NUDGES, _NUDGE_SIZES = 24, (1e-6, 3e-6, 1e-5)


def rounding_sensitivity(predictor: nn.Module, episode: Episode, expected: torch.Tensor) -> float:
    """How far the predictor's logits on ``episode`` move when its support images change by float rounding.

    A gradient learner's inner loop differentiates through max pooling and ReLU: where two pooled
    values nearly tie, rounding decides which one the gradient flows to, so on some episodes the
    adapted weights, and the logits, jump (5-step MAML on Omniglot: by up to 0.08 for changes of
    1e-6). A runtime that adds in another order can land on the other side of such a tie; a
    difference no larger than that jump is the predictor's, not the export's.
    """
    generator = torch.Generator().manual_seed(0)
    moved = 0.0
    for i in range(_NUDGES):
        noise = torch.randn(episode.support_x.shape, generator=generator) * _NUDGE_SIZES[i % len(_NUDGE_SIZES)]
        support = episode.support_x.float() + noise
        nudged = Episode(support, episode.support_y, episode.query_x, episode.query_y, episode.ways)
        moved = max(moved, float((predict_episode(predictor, nudged).float().cpu() - expected).abs().max()))
    return moved
