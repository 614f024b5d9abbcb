"""The report page: one section per question a user asks of a search, as self-contained HTML.

No script, no stylesheet or font from elsewhere: the CSS is inline, every plot an
inline SVG, every picture a data URI, so the file opens offline and as an e-mail
attachment.
"""

from __future__ import annotations

import html
from typing import Any

import yaml

from autometa.search.report import pruning_savings
from autometa.search.report_html.drawing import percent, svg
from autometa.search.report_html.episodes import episodes_html
from autometa.search.report_html.run_data import RunData, TrialCurves
from autometa.search.report_html.study_figures import (
    history_figure,
    importance_figure,
    importances,
    parallel_figure,
    pareto_figure,
    pruning_figure,
    slice_figure,
    time_saved,
)
from autometa.search.report_html.trial_figures import compression_figure, curves_figure, spread_figure
from autometa.search.run_directory import read_json
from autometa.search.view import format_params, format_value

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1060px;margin:0 auto;
  padding:0 18px 40px;color:#222}
h1{font-size:22px;margin:18px 0 4px} h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:3px;margin-top:30px}
nav a{margin-right:10px;font-size:13px} .muted{color:#666} .note{color:#8a5300;font-size:13px}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f6f8} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
figure.plot{margin:10px 0} figure.plot svg{max-width:100%;height:auto}
.kpi{display:inline-block;border:1px solid #ddd;border-radius:6px;padding:6px 12px;margin:4px 8px 4px 0}
.kpi b{display:block;font-size:18px} .complete{color:#1f77b4} .pruned{color:#ff7f0e} .failed{color:#d62728}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px}
.episode h3{font-size:13px;margin:12px 0 4px} .episode .row{display:flex;flex-wrap:wrap;gap:4px;margin-bottom:6px}
figure.tile{margin:0;text-align:center;font-size:10.5px;border:2px solid transparent;padding:1px}
figure.tile img{width:56px;height:56px;image-rendering:pixelated;display:block}
figure.tile.support{background:#eef3f8} figure.tile.ok figcaption{color:#2ca02c}
figure.tile.wrong{border-color:#d62728} figure.tile.wrong figcaption{color:#d62728;font-weight:600}
"""


def esc(value: Any) -> str:
    return html.escape(str(value))


def plot(fig: Any, fig_id: str, caption: str = "") -> str:
    """A ``figure.plot`` holding ``fig`` as inline SVG (nothing when there is no figure)."""
    if fig is None:
        return ""
    text = f"<figcaption class=muted>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="plot" id="{fig_id}">{svg(fig, fig_id)}{text}</figure>'


def note(text: str) -> str:
    return f"<p class=note>{esc(text)}</p>"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A table of already escaped cells; a cell starting with ``<td`` is used as is."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    cells = ("".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row) for row in rows)
    body = "".join(f"<tr>{row}</tr>" for row in cells)
    return f"<table><tr>{head}</tr>{body}</table>"


def page(run: RunData) -> str:
    """The whole report of ``run`` as one HTML document."""
    sections = [
        ("history", "History", _history), ("importance", "Importances", _importances),
        ("params", "Parameters", _parameters), ("pareto", "Pareto front", _pareto), ("pruning", "Pruning", _pruning),
        ("curves", "Learning curves", _curves), ("winner", "Winner", _winner), ("episodes", "Episodes", _episodes),
        ("compression", "Compression", _compression), ("trials", "All trials", _all_trials),
    ]
    if not run.multi:
        sections = [s for s in sections if s[0] != "pareto"]
    parts = [
        f"<h1>Search <code>{esc(run.name)}</code></h1>",
        f"<p class=muted>{esc(run.root)} · storage <code>{esc(run.storage)}</code> · "
        f"objectives: {esc(', '.join(run.objectives))}</p>",
        "<nav>" + "".join(f'<a href="#{anchor}">{title}</a>' for anchor, title, _ in sections) + "</nav>",
        _key_figures(run),
    ]
    for anchor, title, section in sections:
        parts.append(f'<h2 id="{anchor}">{title}</h2>')
        parts.append(section(run))
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>autometa report: {esc(run.name)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(p for p in parts if p) + "\n</body></html>\n")


def _saved(run: RunData) -> tuple[int, int, float]:
    trained, full = pruning_savings([c.trial for c in run.trials], run.meta_steps)
    return trained, full, 100 * (1 - trained / full) if full else 0.0


def _key_figures(run: RunData) -> str:
    counts = {s: sum(c.trial.state == s for c in run.trials) for s in ("complete", "pruned", "failed")}
    spent, _ = time_saved(run)
    figures = [(str(counts[s]), s, s) for s in counts]
    figures += [(f"{_saved(run)[2]:.0f}%", "meta-steps saved by pruning", ""),
                (f"{spent / 60:.1f} min", "trial time (sum)", "")]
    if run.best:
        winner = run.trial(run.best[0])
        test = winner.trial.metrics.get("test")
        figures.insert(0, (percent(test["mean"], test["ci95"]), "winner's test accuracy (95% CI)", "") if test
                       else (percent(winner.score), "winner's val accuracy", ""))
    shown = "".join(f'<span class="kpi {cls}"><b>{esc(v)}</b>{esc(k)}</span>' for v, k, cls in figures)
    return f"<div>{shown}</div>"


def _history(run: RunData) -> str:
    return plot(history_figure(run), "fig-history", "Each trial's val accuracy (a pruned trial: its last validation "
                "before it was stopped); green: the best complete trial so far.")


def _importances(run: RunData) -> str:
    found, notes = importances(run)
    caption = ("Optuna's PED-ANOVA (how much each parameter matters for reaching the best trials) and, with "
               "scikit-learn, fANOVA (its share of the score's variance), over the complete trials.")
    return plot(importance_figure(found), "fig-importances", caption) + "".join(note(n) for n in notes)


def _parameters(run: RunData) -> str:
    shown = plot(slice_figure(run), "fig-slice") + plot(
        parallel_figure(run), "fig-parallel", "Parallel coordinates (Optuna's matplotlib plot) of the complete trials.")
    return shown or note("No searched parameter: the recipe's strategy has no search node.")


def _pareto(run: RunData) -> str:
    return plot(pareto_figure(run), "fig-pareto") or note("No complete trial yet.")


def _pruning(run: RunData) -> str:
    trained, full, saved = _saved(run)
    _, extra = time_saved(run)
    text = (f"<p>{trained:,} of {full:,} meta-steps trained (<b>{saved:.0f}% saved</b>); the pruned trials would have "
            f"needed about {extra / 60:.1f} more minutes at their own pace.</p>")
    if run.multi:
        text = note("Multi-objective searches are not pruned (Optuna cannot compare trials on several objectives "
                    "mid-way).") + text
    return text + plot(pruning_figure(run), "fig-pruning")


def _curves(run: RunData) -> str:
    stopped = [c.trial for c in run.trials if c.trial.state in ("pruned", "failed")]
    reasons = table(["trial", "state", "reason"], [
        [f"#{t.number}", f"<td class={t.state}>{t.state}</td>", esc(t.reason or "")] for t in stopped
    ]) if stopped else ""
    return plot(curves_figure(run), "fig-curves", "★ the winner; dashed: where a pruned trial was stopped.") + reasons


def _winner(run: RunData) -> str:
    if not run.best:
        return note("No complete trial yet.")
    winner: TrialCurves = run.trial(run.best[0])
    trial, val, test = winner.trial, winner.trial.metrics.get("val") or {}, winner.trial.metrics.get("test") or {}
    strategy = (read_json(run.root / "trials" / str(trial.number) / "params.json") or {}).get("strategy", trial.params)
    front = f" (Pareto front: {', '.join(f'#{n}' for n in run.best)})" if run.multi else ""
    rows = [
        ("trial", f"#{trial.number}{front}"),
        ("val accuracy",
         percent(val.get("mean", winner.score), val.get("ci95")) + (f" ({val['n']} episodes)" if val else "")),
        ("test accuracy", percent(test["mean"], test["ci95"]) + f" ({test['n']} episodes)" if test else "–"),
        ("searched parameters", format_params(trial.params)),
    ]
    return ("<table>" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows) + "</table>"
            + "<details open><summary>strategy</summary><pre>" + esc(yaml.safe_dump(strategy, sort_keys=False))
            + "</pre></details>"
            + plot(spread_figure(winner), "fig-spread",
                   "Per-episode accuracy of the winner; black line: the mean, grey band: its 95% CI."))


def _episodes(run: RunData) -> str:
    if run.preview is None:
        return note("No best/val_preview.npz: the search has no winner yet, or predates episode previews.")
    return episodes_html(*run.preview)


def _compression(run: RunData) -> str:
    card = run.model_card
    if not card:
        return note("No artifacts/model_card.json: the recipe has no compression or export "
                    "(autometa compress RUN_DIR makes them).")
    rows = [[
        esc(s["stage"]), esc(s["plugin"]),
        f"<td class=num>{s['accuracy']['mean']:.2f} ± {s['accuracy']['ci95']:.2f}</td>",
        f"<td class=num>{s['parameters']:,}</td>", f"<td class=num>{s['nonzero_parameters']:,}</td>",
        f"<td class=num>{s['flops'] / 1e6:.1f}</td>",
        f"<td class=num>{s['latency']['median_ms']:.2f} / {s['latency']['p95_ms']:.2f}</td>",
        "yes" if s.get("kept", True) else "no", esc(s.get("notes", "")),
    ] for s in card.get("stages", [])]
    files = "; ".join(f"<code>{esc(a['file'])}</code> ({esc(a['format'])}, {a['size_bytes'] / 1024:.0f} KiB, "
                      f"max |Δlogit| {a['max_abs_diff']:.1g})" for a in card.get("artifacts") or [])
    caption = ("Test accuracy with its 95% CI; latency: the median with a whisker to the 95th percentile, "
               f"one episode on {card.get('machine') or 'this machine'}.")
    return (plot(compression_figure(card), "fig-compression", caption)
            + table(["stage", "plugin", "accuracy %", "parameters", "non-zero", "MFLOPs", "latency ms (median / p95)",
                     "kept", "notes"], rows)
            + (f"<p>{files}</p>" if files else ""))


def _all_trials(run: RunData) -> str:
    header = ["#", "state", *[f"val {o}" if o == "accuracy" else o for o in run.objectives], "steps", "seconds",
              "parameters", "reason"]
    rows = []
    for curves in run.trials:
        t = curves.trial
        values = [format_value(o, v) for o, v in zip(run.objectives, t.values or [])] or ["–"] * len(run.objectives)
        rows.append([
            f"<td class=num>{t.number}{' ★' if t.number in run.best else ''}</td>",
            f"<td class={t.state}>{t.state}</td>",
            *[f"<td class=num>{esc(v)}</td>" for v in values], f"<td class=num>{curves.last_step or '–'}</td>",
            f"<td class=num>{t.duration_s:.1f}</td>" if t.duration_s is not None else "–",
            esc(format_params(t.params)), esc(t.reason or ""),
        ])
    dashboard = (f"optuna-dashboard {run.storage} --artifact-dir {run.root / 'artifacts-store'}")
    return table(header, rows) + f"<p class=muted>Browse the study interactively: <code>{esc(dashboard)}</code></p>"
