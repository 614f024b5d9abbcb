"""How the report draws: matplotlib figures turned into inline SVG, and the conventions all plots share.

Inline SVG needs no JavaScript and no download, stays sharp at any zoom, keeps its
text as text, and is smaller than a PNG of the same plot. Several SVGs in one page
share one id namespace, so each figure gets its own ``svg.hashsalt`` (matplotlib's
clip-path and marker ids are hashes); the ``<metadata>`` block (a date and outside
URLs) is dropped, so the same run gives the same page.
"""

from __future__ import annotations

import html
import io
import math
import re
import textwrap
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit
import matplotlib.pyplot as plt  # noqa: E402

#: Colour of each trial state in every plot (pruned and failed trials are also drawn hollow or as x).
STATE_COLORS = {"complete": "#1f77b4", "pruned": "#ff7f0e", "failed": "#d62728", "running": "#7f7f7f",
                "waiting": "#7f7f7f"}
BEST_COLOR = "#2ca02c"

STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, crisp
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25,
    "figure.dpi": 100,
}


def report_style() -> Any:
    """A context in which figures are drawn in the report's style (matplotlib's global settings are restored after)."""
    return plt.rc_context(STYLE)


def svg(fig: plt.Figure, name: str) -> str:
    """``fig`` as an inline ``<svg>`` element whose ids are unique in the page (the figure is closed)."""
    buffer = io.StringIO()
    with plt.rc_context({"svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]  # no XML prolog or DOCTYPE inside HTML
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    return text.replace("<svg ", f'<svg role="img" aria-label="{html.escape(name)}" ', 1)


def percent(value: float | None, ci95: float | None = None) -> str:
    """``80.13%`` or ``80.13% ± 3.57`` from fractions; ``–`` when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.2f}%" + (f" ± {100 * ci95:.2f}" if ci95 is not None else "")


def shorten(text: str, width: int) -> str:
    """At most four lines of ``width`` characters, for text inside a plot."""
    return "\n".join(textwrap.wrap(text, width)[:4])
