"""The study's plots: optimization history, parameter importances, score against each parameter,
the Pareto front, and the compute pruning saved.

Pruned trials are drawn (hollow, at their last validation) wherever a score is
shown: Optuna's own plots leave them out, and they are half of a pruned search.
Importances come from Optuna's evaluators, the parallel coordinates from Optuna's
matplotlib plot.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import matplotlib.ticker
import numpy as np
import optuna
from optuna.trial import TrialState

from autometa.search.report_html.drawing import BEST_COLOR, STATE_COLORS, plt
from autometa.search.report_html.run_data import RunData


def history_figure(run: RunData) -> plt.Figure:
    """Each trial's score in order, with the best complete score so far as a step line."""
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    best_x, best_y, best = [], [], -math.inf
    for curves in run.trials:
        number, state, score = curves.trial.number, curves.trial.state, curves.score
        if state == "failed" or score is None:
            ax.scatter([number], [0], marker="x", color=STATE_COLORS["failed"], zorder=3)
            continue
        color = STATE_COLORS.get(state, STATE_COLORS["running"])
        ax.scatter([number], [100 * score], s=28, zorder=3, color=color if state == "complete" else "none",
                   edgecolors=color, linewidths=1.2)
        if state == "complete":
            best = max(best, score)
        if best > -math.inf:
            best_x.append(number)
            best_y.append(100 * best)
    if best_x:
        ax.step(best_x, best_y, where="post", color=BEST_COLOR, lw=1.5, label="best so far")
    ax.scatter([], [], color=STATE_COLORS["complete"], label="complete")
    ax.scatter([], [], color="none", edgecolors=STATE_COLORS["pruned"], label="pruned (last validation)")
    ax.scatter([], [], marker="x", color=STATE_COLORS["failed"], label="failed")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"val {run.objectives[0]} %")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)  # below: never over a point
    ax.set_title("Optimization history")
    return fig


def importances(run: RunData) -> tuple[dict[str, dict[str, float]], list[str]]:
    """``{evaluator: {parameter: importance}}`` and notes on what could not be computed.

    PED-ANOVA (Optuna's default, numpy only) gets no ``target``: with one it
    assumes lower is better, without one it follows the study's direction (and
    for several objectives, ranks by reaching the Pareto front). fANOVA needs
    scikit-learn and is skipped without it.
    """
    complete = run.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, ["importances need at least two complete trials"]
    found: dict[str, dict[str, float]] = {}
    notes: list[str] = []
    evaluators = [
        ("PED-ANOVA" + (" (Pareto front)" if run.multi else ""), optuna.importance.PedAnovaImportanceEvaluator, None),
        ("fANOVA", lambda: optuna.importance.FanovaImportanceEvaluator(seed=0), lambda t: t.values[0]),
    ]
    for label, make, target in evaluators:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found[label] = optuna.importance.get_param_importances(run.study, evaluator=make(), target=target)
        except ImportError:
            notes.append(f"{label} skipped: it needs scikit-learn (pip install scikit-learn)")
        except Exception as exc:  # too few trials, one distinct value, ...
            notes.append(f"{label} not computed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    if len(complete) < 10:
        notes.append(f"only {len(complete)} complete trials: the importances are rough")
    return {label: values for label, values in found.items() if values}, notes


def importance_figure(found: dict[str, dict[str, float]]) -> plt.Figure | None:
    if not found:
        return None
    names = sorted({n for d in found.values() for n in d}, key=lambda n: (-max(d.get(n, 0) for d in found.values()), n))
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(names) + 1.0))
    height = 0.8 / len(found)
    for i, (label, values) in enumerate(found.items()):
        ax.barh(np.arange(len(names)) + i * height, [values.get(n, 0) for n in names], height=height, label=label)
    ax.set_yticks(np.arange(len(names)) + height * (len(found) - 1) / 2, names)
    ax.invert_yaxis()
    ax.set_xlabel("importance (sums to 1 per evaluator)")
    ax.legend(frameon=False)
    ax.set_title("Parameter importances")
    return fig


def slice_figure(run: RunData) -> plt.Figure | None:
    """Score against each searched parameter, one panel per parameter (log axes where sampled so)."""
    names: list[str] = []
    for curves in run.trials:
        names += [n for n in curves.trial.params if n not in names]
    scored = [c for c in run.trials if c.score is not None and c.trial.state in ("complete", "pruned")]
    if not names or not scored:
        return None
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 0.5, 2.3 * rows), squeeze=False, sharey=True)
    jitter = np.random.default_rng(0)
    for ax, name in zip(axes.flat, names):
        points = [(c.trial.params[name], 100 * c.score, c.trial.state) for c in scored if name in c.trial.params]
        xs: list[Any] = [p[0] for p in points]
        if any(isinstance(x, (str, bool)) for x in xs) or (len(set(xs)) <= 3 and all(isinstance(x, int) for x in xs)):
            categories = sorted({str(x) for x in xs})
            xs = [categories.index(str(x)) + j for x, j in zip(xs, jitter.uniform(-0.12, 0.12, len(xs)))]
            ax.set_xticks(range(len(categories)), categories)
        for state in ("complete", "pruned"):
            shown = [(x, p[1]) for x, p in zip(xs, points) if p[2] == state]
            if shown:
                color = STATE_COLORS[state]
                ax.scatter(*zip(*shown), s=22, color=color if state == "complete" else "none", edgecolors=color,
                           linewidths=1.1)
        if getattr(_distribution(run, name), "log", False):
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(name, fontsize=9)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"val {run.objectives[0]} %")
    fig.suptitle("Score against each searched parameter (hollow: pruned, at its last validation)", fontsize=10)
    fig.tight_layout()
    return fig


def _distribution(run: RunData, name: str) -> Any:
    for trial in run.study.get_trials(deepcopy=False):
        if name in trial.distributions:
            return trial.distributions[name]
    return None


def parallel_figure(run: RunData) -> plt.Figure | None:
    """Optuna's matplotlib parallel-coordinate plot of the complete trials (first objective)."""
    if sum(c.trial.state == "complete" for c in run.trials) < 2 or not any(c.trial.params for c in run.trials):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning
        try:
            ax = optuna.visualization.matplotlib.plot_parallel_coordinate(
                run.study, target=lambda t: 100 * t.values[0], target_name=f"val {run.objectives[0]} %")
        except Exception:  # Optuna refuses some parameter mixes; the slice plot still shows them
            return None
    fig = ax.figure
    fig.set_size_inches(7.5, 3.4)
    return fig


def pareto_figure(run: RunData) -> plt.Figure | None:
    """Accuracy against each cost objective; the front highlighted and joined."""
    done = [c.trial for c in run.trials if c.trial.state == "complete" and c.trial.values]
    if not run.multi or not done:
        return None
    costs = run.objectives[1:]
    fig, axes = plt.subplots(1, len(costs), figsize=(3.8 * len(costs) + 0.4, 3.2), squeeze=False)
    front = set(run.best)
    for ax, (j, cost) in zip(axes.flat, enumerate(costs, start=1)):
        for trial in done:
            on = trial.number in front
            ax.scatter(trial.values[j], 100 * trial.values[0], s=34 if on else 18, zorder=3 if on else 2,
                       color="#d62728" if on else "#9aa5b1")
            if on:
                ax.annotate(str(trial.number), (trial.values[j], 100 * trial.values[0]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        line = sorted((t for t in done if t.number in front), key=lambda t: t.values[j])
        ax.plot([t.values[j] for t in line], [100 * t.values[0] for t in line], color="#d62728", lw=1, alpha=0.6)
        ax.set_xlabel(cost + (" (ms)" if cost == "latency" else ""))
        ax.set_ylabel("val accuracy %")
        if cost in ("params", "flops"):
            ax.set_xscale("log")
    axes.flat[0].scatter([], [], color="#d62728", label="Pareto front")
    axes.flat[0].scatter([], [], color="#9aa5b1", label="dominated")
    axes.flat[0].legend(frameon=False)
    fig.suptitle("Pareto front", fontsize=10)
    fig.tight_layout()
    return fig


def time_saved(run: RunData) -> tuple[float, float]:
    """(seconds the finished trials took, seconds the pruned ones would have needed more at their own pace)."""
    spent = saved = 0.0
    for curves in run.trials:
        trial = curves.trial
        if trial.state not in ("complete", "pruned"):
            continue
        spent += trial.duration_s or 0.0
        steps = curves.last_step
        if trial.state == "pruned" and steps and trial.duration_s:
            saved += trial.duration_s * (run.meta_steps / steps - 1)
    return spent, saved


def pruning_figure(run: RunData) -> plt.Figure | None:
    """Meta-steps each finished trial trained, and (hatched) those pruning or a failure spared."""
    rows = [c for c in run.trials if c.trial.state in ("complete", "pruned", "failed")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.22 * len(rows) + 1.0))
    for i, curves in enumerate(rows):
        state = curves.trial.state
        steps = run.meta_steps if state == "complete" else (curves.last_step or 0)
        ax.barh(i, steps, color=STATE_COLORS[state], height=0.7)
        if state != "complete":
            ax.barh(i, run.meta_steps - steps, left=steps, color="#e6e6e6", height=0.7, hatch="///",
                    edgecolor="#bbbbbb")
    ax.set_yticks(range(len(rows)), [f"#{c.trial.number}" for c in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, run.meta_steps)
    ax.set_xlabel("meta-steps (grey hatched: not trained, thanks to pruning or a failure)")
    ax.set_title("Compute per trial")
    return fig
