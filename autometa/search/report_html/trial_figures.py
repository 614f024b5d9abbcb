"""Plots of single trials and of the winner: learning curves, per-episode spread, compression stages.

Learning curves are small multiples, one per trial: validation accuracy with its
95% CI band against meta-steps, the training loss scaled onto the same axis
(grey), a dashed line where a pruned trial stopped and the reason a trial failed.
matplotlib's cost is per Axes, so beyond :data:`SUBPLOT_LIMIT` trials every trial
is a cell inside one Axes instead (80 trials: seconds, not half a minute).
"""

from __future__ import annotations

import math
from typing import Any

import matplotlib.patches
import numpy as np

from autometa.search.report_html.drawing import STATE_COLORS, plt, shorten
from autometa.search.report_html.run_data import RunData, TrialCurves

#: Up to this many trials, each learning curve gets its own Axes.
SUBPLOT_LIMIT = 24


def curves_figure(run: RunData) -> plt.Figure | None:
    """Every trial's learning curve (see the module docstring)."""
    if not run.trials:
        return None
    return _subplots(run) if len(run.trials) <= SUBPLOT_LIMIT else _cells(run)


def _loss_top(run: RunData) -> float:
    losses = [row["loss"] for c in run.trials for row in c.train if math.isfinite(row.get("loss", math.nan))]
    return max(losses, default=1.0) * 1.05


def _title(run: RunData, curves: TrialCurves) -> str:
    return f"#{curves.trial.number} {curves.trial.state}" + (" ★" if curves.trial.number in run.best else "")


def _subplots(run: RunData) -> plt.Figure:
    cols = 4 if len(run.trials) <= 16 else 6
    rows = math.ceil(len(run.trials) / cols)
    height = 1.75 * rows + 0.6
    fig, axes = plt.subplots(rows, cols, figsize=(10.0, height), squeeze=False, sharex=True, sharey=True)
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.6 / height + 0.02, top=1 - 0.45 / height,
                        wspace=0.08, hspace=0.42)
    top = _loss_top(run)
    for ax, curves in zip(axes.flat, run.trials):
        color = STATE_COLORS.get(curves.trial.state, STATE_COLORS["running"])
        _draw_curve(ax, curves, color, x0=0.0, y0=0.0, loss_top=top, marker=2.5)
        if curves.trial.state == "pruned" and curves.last_step:
            ax.text(curves.last_step, 6, " pruned", color=color, fontsize=6.5)
        if curves.trial.state == "failed":
            ax.text(0.5, 0.5, "failed:\n" + shorten(curves.trial.reason or "?", 30), transform=ax.transAxes,
                    ha="center", va="center", fontsize=6, color=color)
        ax.set_title(_title(run, curves), fontsize=7.5, color=color, loc="left", pad=2)
    axes[0, 0].set_xlim(0, run.meta_steps)
    axes[0, 0].set_ylim(0, 100)
    axes[0, 0].set_xticks([0, run.meta_steps // 2, run.meta_steps])
    axes[0, 0].set_yticks([0, 50, 100])
    for ax in axes.flat:
        ax.tick_params(labelsize=7, length=2)
    for ax in axes.flat[len(run.trials):]:
        ax.set_visible(False)
    fig.supxlabel("meta-step", fontsize=8)
    fig.supylabel("val accuracy %", fontsize=8)
    fig.suptitle("Learning curves: val accuracy with 95% CI band; training loss in grey "
                 f"(scaled: the top of the axis is loss {top:.2f})", fontsize=9)
    return fig


def _cells(run: RunData) -> plt.Figure:
    cols = 8
    rows = math.ceil(len(run.trials) / cols)
    width, gap_x, gap_y = float(run.meta_steps), run.meta_steps * 0.12, 32.0
    fig, ax = plt.subplots(figsize=(10, 0.95 * rows + 0.5))
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.35 / (0.95 * rows + 0.5), bottom=0.01)
    ax.set_axis_off()
    top = _loss_top(run)
    for i, curves in enumerate(run.trials):
        x0, y0 = (i % cols) * (width + gap_x), -(i // cols) * (100 + gap_y)
        color = STATE_COLORS.get(curves.trial.state, STATE_COLORS["running"])
        cell = matplotlib.patches.Rectangle((x0, y0), width, 100, facecolor="#fafafa", edgecolor="#cccccc", lw=0.6)
        ax.add_patch(cell)
        _draw_curve(ax, curves, color, x0=x0, y0=y0, loss_top=top, marker=1.8, height=100)
        if curves.trial.state == "failed":
            ax.text(x0 + width / 2, y0 + 50, "failed", color=color, ha="center", va="center", fontsize=6)
        last = curves.val[-1].mean if curves.val else None
        label = f"#{curves.trial.number}" + (" ★" if curves.trial.number in run.best else "")
        label += f" {100 * last:.0f}%" if last is not None else ""
        ax.text(x0, y0 + 104, label, color=color, fontsize=6, va="bottom")
    ax.set_xlim(-2, cols * (width + gap_x))
    ax.set_ylim(-(rows - 1) * (100 + gap_y) - 4, 118)
    fig.suptitle(f"Learning curves (each cell: meta-steps 0-{run.meta_steps} across, val accuracy 0-100% up, "
                 f"95% CI band; grey: training loss, top = {top:.2f}; dashed: pruned there)", fontsize=8)
    return fig


def _draw_curve(ax: Any, curves: TrialCurves, color: str, *, x0: float, y0: float, loss_top: float,
                marker: float, height: float | None = None) -> None:
    """One trial's loss, validation curve with CI and pruning line, offset by (x0, y0) in data units."""
    loss = [(x0 + row["step"], y0 + 100 * row["loss"] / loss_top) for row in curves.train
            if math.isfinite(row.get("loss", math.nan))]
    if loss:
        ax.plot(*zip(*loss), color="#777777", lw=0.6, alpha=0.85)
    if curves.val:
        xs = np.array([x0 + p.step for p in curves.val])
        ys = np.array([y0 + 100 * p.mean for p in curves.val])
        ci = np.array([100 * (p.ci95 or 0.0) for p in curves.val])
        ax.fill_between(xs, ys - ci, ys + ci, color=color, alpha=0.22, lw=0)
        ax.errorbar(xs, ys, yerr=ci, fmt="o-", color=color, ms=marker, lw=1.2, elinewidth=0.7, capsize=1.5)
    if curves.trial.state == "pruned" and curves.last_step:
        if height is None:
            ax.axvline(curves.last_step, color=color, ls="--", lw=1)
        else:
            ax.plot([x0 + curves.last_step] * 2, [y0, y0 + height], color=color, ls="--", lw=0.7)


def spread_figure(curves: TrialCurves) -> plt.Figure | None:
    """Histograms of the winner's per-episode accuracy on the validation and test episodes."""
    series = [(split, curves.trial.metrics[split]) for split in ("val", "test")
              if (curves.trial.metrics.get(split) or {}).get("per_episode")]
    if not series:
        return None
    fig, axes = plt.subplots(1, len(series), figsize=(3.7 * len(series), 2.6), squeeze=False)
    for ax, (split, result) in zip(axes.flat, series):
        scores = 100 * np.asarray(result["per_episode"], dtype=float)
        ax.hist(scores, bins=np.linspace(0, 100, 21), color="#1f77b4", alpha=0.8)
        mean, ci = 100 * result["mean"], 100 * result["ci95"]
        ax.axvline(mean, color="k", lw=1)
        ax.axvspan(mean - ci, mean + ci, color="k", alpha=0.12, lw=0)
        ax.set_title(f"{split}: {mean:.1f}% ± {ci:.1f} over {len(scores)} episodes", fontsize=9)
        ax.set_xlabel("episode accuracy %")
    axes.flat[0].set_ylabel("episodes")
    fig.tight_layout()
    return fig


def compression_figure(card: dict[str, Any]) -> plt.Figure | None:
    """Test accuracy (95% CI) against parameters and against latency (median, whisker to p95), per stage."""
    stages = card.get("stages") or []
    if not stages:
        return None
    fig, (by_size, by_latency) = plt.subplots(1, 2, figsize=(8.5, 3.0), sharey=True)
    for i, stage in enumerate(stages):
        accuracy, latency, kept = stage["accuracy"], stage["latency"], stage.get("kept", True)
        marker, color = ("o" if kept else "x"), f"C{i}"
        label = f"{stage['stage']} ({stage['plugin']})" + ("" if kept else ", undone")
        by_size.errorbar(stage["parameters"], accuracy["mean"], yerr=accuracy["ci95"], fmt=marker, color=color,
                         capsize=3, label=label)
        whisker = [[0], [max(0.0, latency["p95_ms"] - latency["median_ms"])]]
        by_latency.errorbar(latency["median_ms"], accuracy["mean"], yerr=accuracy["ci95"], xerr=whisker, fmt=marker,
                            color=color, capsize=3)
    kept = [s for s in stages if s.get("kept", True)]
    accuracies = [s["accuracy"]["mean"] for s in kept]
    by_size.plot([s["parameters"] for s in kept], accuracies, color="#999999", lw=0.8, zorder=0)
    by_latency.plot([s["latency"]["median_ms"] for s in kept], accuracies, color="#999999", lw=0.8, zorder=0)
    by_size.set_xscale("log")
    by_size.set_xlabel("parameters")
    by_size.set_ylabel("test accuracy % (95% CI)")
    by_latency.set_xlabel("latency per episode, ms (median to p95)")
    by_size.legend(frameon=False, fontsize=7)
    fig.suptitle("Compression stages", fontsize=10)
    fig.tight_layout()
    return fig
