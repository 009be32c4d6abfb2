"""A drift report for people: one self-contained HTML file, and plain summary rows for a terminal.

The HTML has inline CSS and, per feature, a PNG chart (matplotlib, Agg, base64-embedded) of the reference
and current shares per bin, with PSI, KS and chi-squared; features are sorted by severity then PSI. It loads
nothing from the network, so it opens the same from S3, an e-mail attachment or a laptop.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mlops_kit.drift.report import DriftReport, FeatureDrift
from mlops_kit.drift.stats import Severity

_COLOURS = {
    Severity.ACT: "#c62828",
    Severity.INVESTIGATE: "#ef6c00",
    Severity.STABLE: "#2e7d32",
    Severity.INSUFFICIENT_DATA: "#9e9d24",
    Severity.NO_DATA: "#757575",
}
_REFERENCE_COLOUR = "#90a4ae"
_CURRENT_COLOUR = "#1565c0"


class SummaryRow(NamedTuple):
    """One terminal line per feature (all text, formatted; the CLI only lays them out)."""

    feature: str
    role: str
    severity: str
    psi: str
    test: str
    statistic: str
    p_value: str
    missing: str


SUMMARY_HEADER = SummaryRow("feature", "role", "severity", "PSI", "test", "statistic", "p-value", "missing ref -> cur")


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pvalue(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if value >= 1e-3 else "<0.001"


def _test(feature: FeatureDrift) -> tuple[str, str, str]:
    if feature.ks is not None:
        return "KS", _number(feature.ks.statistic), _pvalue(feature.ks.pvalue)
    if feature.chi2 is not None:
        return f"chi2 (dof {feature.chi2.dof})", _number(feature.chi2.statistic, 2), _pvalue(feature.chi2.pvalue)
    return "-", "-", "-"


def summary_row(feature: FeatureDrift) -> SummaryRow:
    """The terminal line of one feature (or of the prediction)."""
    test, statistic, pvalue = _test(feature)
    return SummaryRow(
        feature=feature.name,
        role=feature.role,
        severity=feature.severity.value,
        psi=_number(feature.psi),
        test=test,
        statistic=statistic,
        p_value=pvalue,
        missing=f"{feature.reference_missing_fraction:.1%} -> {feature.current_missing_fraction:.1%}",
    )


def by_severity(report: DriftReport) -> list[FeatureDrift]:
    """Features and the prediction together, most severe first, then by PSI (highest first), then by name."""
    return sorted(report.all_columns, key=lambda f: (f.severity.rank, -(f.psi or 0.0), f.name))


def summary_rows(report: DriftReport) -> list[SummaryRow]:
    """One row per feature in report order (severity, then PSI), then the prediction; no header."""
    return [summary_row(feature) for feature in report.all_columns]


def histogram_png(feature: FeatureDrift) -> bytes:
    """PNG bar chart of the reference and current shares per bin (Agg backend, no pyplot global state)."""
    # Fixed margins: matplotlib's constrained layout costs more than the drawing itself.
    figure = Figure(figsize=(7.5, 2.8), dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = np.arange(len(feature.bins))
    width = 0.4
    axes.bar(positions - width / 2, feature.reference_proportions, width, label="reference", color=_REFERENCE_COLOUR)
    axes.bar(positions + width / 2, feature.current_proportions, width, label="current", color=_CURRENT_COLOUR)
    axes.set_xticks(positions)
    many = len(feature.bins) > 8 or max((len(b) for b in feature.bins), default=0) > 14
    labels = [label if len(label) <= 24 else label[:23] + "…" for label in feature.bins]
    axes.set_xticklabels(labels, rotation=45 if many else 0, ha="right" if many else "center", fontsize=7)
    figure.subplots_adjust(left=0.08, right=0.99, top=0.95, bottom=0.42 if many else 0.14)
    axes.set_ylabel("share of rows", fontsize=8)
    axes.tick_params(axis="y", labelsize=7)
    axes.legend(fontsize=7, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#212121;
padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}h3{margin:0 0 .3rem;font-size:1rem}
.meta{color:#616161;font-size:.9rem}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e0e0e0}th{background:#fafafa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:.7rem;color:#fff;font-size:.75rem;font-weight:600}
.card{border:1px solid #e0e0e0;border-radius:.4rem;padding:.8rem 1rem;margin:1rem 0}
.card img{max-width:100%;height:auto;display:block;margin-top:.4rem}
.stats{font-size:.85rem;color:#424242}.notes{font-size:.8rem;color:#6d4c41;margin:.3rem 0 0 1rem}
"""


def _badge(severity: Severity) -> str:
    return f'<span class="badge" style="background:{_COLOURS[severity]}">{html.escape(severity.value)}</span>'


def _card(feature: FeatureDrift) -> str:
    name = html.escape(feature.name)
    test, statistic, pvalue = _test(feature)
    image = base64.b64encode(histogram_png(feature)).decode("ascii")
    parts = [
        f'<div class="card" id="{html.escape("feature-" + feature.name, quote=True)}">',
        f"<h3>{name} {_badge(feature.severity)} <span class='meta'>{html.escape(feature.role)}, "
        f"{html.escape(feature.kind)}</span></h3>",
        f'<div class="stats">PSI <b>{_number(feature.psi)}</b> &middot; {html.escape(test)} statistic {statistic},'
        f" p-value {pvalue} &middot; rows {feature.reference_rows:,} reference, {feature.current_rows:,} current"
        f" &middot; missing {feature.reference_missing_fraction:.1%} &rarr; {feature.current_missing_fraction:.1%}"
        "</div>",
        f'<img alt="reference and current shares per bin of {name}" src="data:image/png;base64,{image}">',
    ]
    if feature.unseen_categories:
        listed = ", ".join(f"{html.escape(v)} ({n:,})" for v, n in feature.unseen_categories)
        parts.append(f'<div class="stats">Not in the baseline: {listed}</div>')
    if feature.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in feature.notes) + "</ul>")
    parts.append("</div>")
    return "\n".join(parts)


def render_html(report: DriftReport, *, title: str = "Drift report") -> str:
    """The whole report as one HTML document (inline CSS, base64 PNG charts, no external resources)."""
    rows = summary_rows(report)
    table_rows = "".join(
        "<tr>"
        + f'<td><a href="#{html.escape("feature-" + r.feature, quote=True)}">{html.escape(r.feature)}</a></td>'
        + f"<td>{html.escape(r.role)}</td><td>{_badge(Severity(r.severity))}</td>"
        + f'<td class="num">{r.psi}</td><td>{html.escape(r.test)}</td><td class="num">{r.statistic}</td>'
        + f'<td class="num">{html.escape(r.p_value)}</td><td>{html.escape(r.missing)}</td></tr>'
        for r in rows
    )
    header = "".join(f"<th>{html.escape(h)}</th>" for h in SUMMARY_HEADER)
    violations = (
        "<table><tr><th>feature</th><th>check</th><th>description</th></tr>"
        + "".join(
            f"<tr><td>{html.escape(v.feature_name)}</td><td>{html.escape(v.constraint_check_type)}</td>"
            f"<td>{html.escape(v.description)}</td></tr>"
            for v in report.violations
        )
        + "</table>"
        if report.violations
        else "<p class='meta'>None.</p>"
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
    metadata = ", ".join(f"{html.escape(k)}: {html.escape(v)}" for k, v in report.baseline_metadata.items())
    cards = [_card(report.prediction)] if report.prediction is not None else []
    cards += [_card(f) for f in report.features]
    thresholds = report.thresholds
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)} {_badge(report.severity)}</h1>
<p class="meta">Generated {html.escape(report.generated_at)} from {html.escape(report.source)} &middot;
{report.current_rows:,} current rows against a baseline of {report.reference_rows:,} rows
({html.escape(report.baseline_created_at)}{"; " + metadata if metadata else ""}) &middot;
PSI bands: stable &lt; {thresholds.investigate}, investigate up to {thresholds.act}, act above;
insufficient_data below {thresholds.min_window_rows:,} window or {thresholds.min_baseline_rows:,} baseline rows.</p>
{"<ul class='notes'>" + notes + "</ul>" if notes else ""}
<h2>Summary</h2>
<table><tr>{header}</tr>{table_rows}</table>
<h2>Violations</h2>
{violations}
<h2>Distributions: reference vs current</h2>
{"".join(cards)}
</body></html>
"""


def write_html(report: DriftReport, path: str | Path, *, title: str = "Drift report") -> Path:
    """Write :func:`render_html` to ``path`` (parents created); raises OSError when it cannot be written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(report, title=title), encoding="utf-8")
    return target
