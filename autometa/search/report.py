"""``report.md``: the run directory's human-readable account of a search.

It is written atomically and never replaced by one with fewer finished trials
or test scores than it holds (a marker line records them), so a full disk or a
search stopped by an error never loses a finished figure.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from autometa.recipe.schema import Recipe
from autometa.search.run_directory import write_text
from autometa.search.summary import SearchSummary, TrialSummary
from autometa.search.view import format_params, format_value

log = logging.getLogger("autometa.search")
_MARKER = re.compile(r"<!-- autometa: (\d+) finished, (\d+) tested -->")


def pruning_savings(trials: list[TrialSummary], meta_steps: int) -> tuple[int, int]:
    """(meta-steps trained, meta-steps a search without pruning would have trained) over finished trials."""
    trained = full = 0
    for trial in trials:
        if trial.state in ("complete", "pruned"):
            trained += meta_steps if trial.state == "complete" else (trial.steps or 0)
            full += meta_steps
    return trained, full


def write_report(path: Path, summary: SearchSummary, recipe: Recipe) -> None:
    """Write ``report.md``: counts, pruning savings, the winner(s) with test accuracy, every trial."""
    counts = summary.counts()
    trained, full = pruning_savings(summary.trials, recipe.training.meta_steps)
    saved = f"{100 * (1 - trained / full):.0f}%" if full else "-"
    lines = [
        f"# Search `{summary.name}`",
        "",
        f"- storage: `{summary.storage}` (open it with `optuna-dashboard {summary.storage}`)",
        f"- objectives: {', '.join(summary.objectives)}",
        f"- trials: {counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed "
        f"(target {summary.target_trials})",
        f"- pruning: {trained} of {full} meta-steps trained ({saved} saved)",
        "",
    ]
    if summary.warm_start:
        lines += warm_start_lines(summary.warm_start, summary.trials)
    by_number = {t.number: t for t in summary.trials}
    if summary.best:
        heading = "Pareto front" if len(summary.objectives) > 1 else "Best trial"
        lines += [f"## {heading}", "", _header(["trial", *summary.objectives, "test accuracy", "parameters"])]
        for number in summary.best:
            trial = by_number[number]
            test = summary.test.get(number)
            test_text = f"{100 * test['mean']:.2f}% +- {100 * test['ci95']:.2f}% ({test['n']} episodes)" if test else "-"
            values = [format_value(n, v) for n, v in zip(summary.objectives, trial.values or [])]
            lines.append(_row([_trial_cell(trial), *values, test_text, f"`{format_params(trial.params)}`"]))
        lines += [
            "",
            f"Retrain the winner without searching: `autometa train {summary.run_dir / 'best' / 'strategy.yaml'}`",
            "",
        ]
    lines += ["## All trials", "", _header(["trial", "state", "value(s)", "steps", "seconds", "reason", "parameters"])]
    for trial in summary.trials:
        values = ", ".join(format_value(n, v) for n, v in zip(summary.objectives, trial.values)) if trial.values else "-"
        seconds = f"{trial.duration_s:.1f}" if trial.duration_s is not None else "-"
        lines.append(_row([
            _trial_cell(trial), trial.state, values, str(trial.steps or "-"), seconds,
            (trial.reason or "").replace("|", "/"), f"`{format_params(trial.params)}`",
        ]))
    lines += ["", "Each trial's log, metrics and checkpoint are in `trials/<number>/`.", ""]
    figures = (counts["complete"] + counts["pruned"] + counts["failed"], len(summary.test))
    previous = _MARKER.search(path.read_text(encoding="utf-8", errors="replace")) if path.is_file() else None
    if previous and any(new < int(old) for new, old in zip(figures, previous.groups())):
        log.warning("%s not rewritten: it holds more finished trials or test scores than this run found", path)
        return
    lines += [f"<!-- autometa: {figures[0]} finished, {figures[1]} tested -->", ""]
    write_text(path, "\n".join(lines))


def warm_start_lines(warm: dict[str, Any], trials: list[TrialSummary]) -> list[str]:
    """The report's "Warm start" section: the sources, the transferred trials, the sampler's prior, the notes."""
    lines = ["## Warm start", ""]
    setting = warm["setting"] if isinstance(warm["setting"], str) else ", ".join(warm["setting"])
    if not warm["sources"]:
        return lines + [f"`{setting}` found no earlier search in the experience store: a cold start.", ""]
    lines += [f"`warm_start: {setting}`; the earlier searches used:", ""]
    for source in warm["sources"]:
        distance = "-" if source["distance"] is None else f"{source['distance']:.3f}"
        lines.append(f"- `{source['name']}` (`{source['run_dir']}`): meta-feature distance {distance}, "
                     f"{source['trials']} trials, best {format_value('accuracy', source['best_value'])} there")
    transferred = [t for t in trials if t.transferred_from]
    lines += [
        "",
        f"{len(warm['strategies'])} of their best strategies were queued first; each is re-trained and scored on "
        "this study's own validation episodes (no score is copied). Transferred trials: "
        + (", ".join(_trial_cell(t) for t in transferred) or "none yet") + ".",
    ]
    if warm["observations"]:
        lines.append(f"The sampler proposed the first trials from {warm['observations']} observations of those "
                     "searches (ranked within each), until this study had its own startup trials.")
    if warm["notes"]:
        lines += ["", "Adapting them to this search space:", ""] + [f"- {note}" for note in warm["notes"]]
    return lines + [""]


def _trial_cell(trial: TrialSummary) -> str:
    origin = trial.transferred_from
    if not origin:
        return str(trial.number)
    return f"{trial.number} (from `{origin['search']}` #{origin['trial']})"


def _header(cells: list[str]) -> str:
    return _row(cells) + "\n" + _row(["---"] * len(cells))


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
