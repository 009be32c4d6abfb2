"""A picture of the sequential test: the effect with its confidence sequence, and the always-valid p-value.

Rendered with matplotlib's Agg canvas on a private ``Figure`` (no pyplot global state), so it is safe in a
Lambda, a thread or a test run without a display.
"""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mlops_kit.abtest.report import PrimaryStatus, SequentialPath, as_float_array

_P_FLOOR = 1e-6
"""p-values are drawn on a log scale clipped here, so a p-value of 0.0 (Lambda overflowed) stays on the plot."""


def plot_sequential(
    path: SequentialPath,
    *,
    alpha: float,
    mde: float | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> bytes:
    """A PNG (bytes) with two panels over the looks of ``path``.

    Top: the difference (treatment minus control) with its ``1 - alpha`` confidence sequence as a band, the
    zero line and, when given, the MDE. Bottom: the always-valid p-value on a log scale with ``alpha``.
    Raises ``ValueError`` for a path without looks.
    """
    if not path.looks:
        raise ValueError("the path has no looks to plot")
    looks: list[datetime] = list(path.looks)
    difference = as_float_array(path.difference)
    low = as_float_array(path.ci_low)
    high = as_float_array(path.ci_high)
    p_values = np.clip(np.asarray(path.p_value, dtype=float), _P_FLOOR, 1.0)

    figure = Figure(figsize=(8.0, 6.0), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    effect, evidence = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))

    bounded = np.isfinite(low) & np.isfinite(high)
    effect.fill_between(
        looks, low, high, where=bounded, color="tab:blue", alpha=0.2, label=f"{1 - alpha:.0%} confidence sequence"
    )
    effect.plot(looks, difference, color="tab:blue", marker="o", markersize=3, label="difference (treatment - control)")
    effect.axhline(0.0, color="black", linewidth=0.8)
    if mde is not None:
        effect.axhline(mde, color="tab:green", linestyle="--", linewidth=0.8, label=f"MDE {mde:+.4g}")
    effect.set_ylabel("effect")
    effect.legend(loc="best", fontsize="small")
    effect.grid(alpha=0.3)

    evidence.step(looks, p_values, where="post", color="tab:red", label="always-valid p-value")
    evidence.axhline(alpha, color="black", linestyle="--", linewidth=0.8, label=f"alpha = {alpha:g}")
    evidence.set_yscale("log")
    evidence.set_ylim(_P_FLOOR, 1.5)
    evidence.set_ylabel("p-value")
    evidence.set_xlabel("look")
    evidence.legend(loc="lower left", fontsize="small")
    evidence.grid(alpha=0.3)
    figure.autofmt_xdate()
    if title:
        figure.suptitle(title)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def plot_status(primary: PrimaryStatus, *, title: str | None = None) -> bytes:
    """:func:`plot_sequential` for a status report's primary metric (its path, alpha and MDE)."""
    return plot_sequential(primary.path, alpha=primary.alpha, mde=primary.mde, title=title or primary.metric)
