"""``report.html``: a search's self-contained visual report (``autometa report RUN_DIR``; every search writes it).

It reads only the run directory and its study: the optimization history,
parameter importances, score against each parameter, the Pareto front, the
compute pruning saved, every trial's learning curve, the winner with its
per-episode spread and a few validation episodes, and the compression stages.
Plots are matplotlib rendered to inline SVG (:mod:`.drawing`), so the page has
no script and no outside request, and opens offline or as an e-mail attachment.
"""

from __future__ import annotations

import os
from pathlib import Path

import optuna

from autometa.search.report_html.drawing import report_style
from autometa.search.report_html.page import page
from autometa.search.report_html.run_data import default_storage, load_run, open_study_readonly


def build_html_report(run_dir: Path, study: optuna.Study, storage: str) -> str:
    """The report of the run in ``run_dir`` whose study (in ``storage``) is ``study``, as HTML text."""
    with report_style():
        return page(load_run(Path(run_dir), study, storage))


def write_html_report(run_dir: Path, *, storage: str | None = None, study: optuna.Study | None = None,
                      out: Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) atomically; returns its path.

    ``storage`` defaults to the run directory's own; without ``study`` it is opened read-only.
    """
    run_dir = Path(run_dir)
    storage = storage or default_storage(run_dir)
    study = study or open_study_readonly(storage)
    out = Path(out or run_dir / "report.html")
    partial = out.with_name(out.name + ".partial")
    partial.write_text(build_html_report(run_dir, study, storage), encoding="utf-8")
    os.replace(partial, out)
    return out


__all__ = ["build_html_report", "write_html_report", "default_storage", "open_study_readonly"]
