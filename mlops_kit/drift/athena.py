"""Per-bin counts as SQL (Athena / Trino, also DuckDB), for capture volumes beyond one machine.

PSI and chi-squared need only the counts per baseline bin, so one table scan in Athena replaces downloading
the capture data. :func:`count_query` turns a baseline into a single ``SELECT`` that returns one row of counts;
:meth:`CountQuery.parse` turns that row into :class:`~mlops_kit.drift.stats.BinCounts` for
:func:`~mlops_kit.drift.report.drift_report_from_counts`.

The SQL uses only what Trino and DuckDB share (``CASE WHEN`` ladders, ``TRY_CAST``, ``SUM``, ``COUNT(*)``,
``TIMESTAMP`` literals and double-quoted identifiers), with the same semantics as the in-memory path:

- numeric values are ``TRY_CAST(column AS DOUBLE)``; NULL, unparsable text, NaN and +/-inf are missing (the
  finiteness test is written as a range comparison that NaN fails on both engines, which order NaN
  differently); bin ``i`` is ``e[i-1] <= x < e[i]``, as ``numpy.digitize`` assigns it. Edges are written as
  shortest round-trip double literals with an exponent, which both engines read as DOUBLE, exactly.
- categorical values are ``CAST(column AS VARCHAR)`` compared with the baseline's category labels; anything
  else goes to ``__other__``, NULL is missing. Labels must be spelled as :func:`~mlops_kit.drift.baseline.
  category_label` spells them (store categorical columns as strings or integers, not floats).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mlops_kit.drift.baseline import Baseline, CategoricalBaseline, FeatureBaseline, NumericBaseline
from mlops_kit.drift.stats import BinCounts

ROW_COUNT_ALIAS = "row_count"
_MAX_FINITE = "1.7976931348623157e308"  # largest finite double: x <= it is false for +inf and NaN on both engines
_MISSING = -1


def quote_identifier(name: str) -> str:
    """A double-quoted SQL identifier (embedded quotes doubled); raises ValueError on an empty name or NUL."""
    if not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def quote_string(value: str) -> str:
    """A single-quoted SQL string literal (embedded quotes doubled); raises ValueError on NUL."""
    if "\x00" in value:
        raise ValueError(f"a SQL string cannot hold NUL: {value!r}")
    return "'" + value.replace("'", "''") + "'"


def double_literal(value: float) -> str:
    """``value`` as a DOUBLE literal both engines parse to the same float (shortest repr, with an exponent).

    Without an exponent, Trino reads ``0.1`` as DECIMAL and DuckDB may compare a DOUBLE column in DECIMAL.
    Raises ValueError for NaN or infinity.
    """
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"edges must be finite (got {value!r})")
    text = repr(number)
    return text if "e" in text else text + "e0"


def _timestamp_literal(moment: dt.datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return f"TIMESTAMP '{moment.isoformat(sep=' ', timespec='microseconds')}'"


def numeric_bin_expression(column: str, edges: Sequence[float]) -> str:
    """SQL for the bin index of ``column`` (``-1`` missing, ``0..len(edges)`` the left-closed bins)."""
    value = f"TRY_CAST({quote_identifier(column)} AS DOUBLE)"
    lines = [
        "CASE",
        f"  WHEN {value} IS NULL THEN {_MISSING}",
        f"  WHEN NOT ({value} >= -{_MAX_FINITE} AND {value} <= {_MAX_FINITE}) THEN {_MISSING}",
    ]
    lines += [f"  WHEN {value} < {double_literal(edge)} THEN {i}" for i, edge in enumerate(edges)]
    lines.append(f"  ELSE {len(edges)}")
    lines.append("END")
    return "\n".join(lines)


def categorical_bin_expression(column: str, categories: Sequence[str]) -> str:
    """SQL for the bin index of ``column`` (``-1`` missing, ``i`` category ``i``, ``len(categories)`` other)."""
    value = f"CAST({quote_identifier(column)} AS VARCHAR)"
    lines = ["CASE", f"  WHEN {value} IS NULL THEN {_MISSING}"]
    lines += [f"  WHEN {value} = {quote_string(category)} THEN {i}" for i, category in enumerate(categories)]
    lines.append(f"  ELSE {len(categories)}")
    lines.append("END")
    return "\n".join(lines)


@dataclass(frozen=True)
class CountQuery:
    """A one-row counting query and how to read its result.

    ``columns`` maps each result alias to ``(feature, bin)`` where ``bin`` is the bin index or ``-1`` for the
    missing count; the alias :data:`ROW_COUNT_ALIAS` holds the number of rows scanned.
    """

    sql: str
    columns: Mapping[str, tuple[str, int]]
    bins: Mapping[str, int]

    def parse(self, row: Mapping[str, object]) -> tuple[int, dict[str, BinCounts]]:
        """Row count and per-feature :class:`BinCounts` from the query's single result row.

        Athena returns every value as text and SUM over no rows as NULL; both are handled. Raises ValueError
        naming the alias when a column is absent or not a whole number.
        """
        rows = _whole(row, ROW_COUNT_ALIAS)
        counts = {name: np.zeros(n, dtype=np.int64) for name, n in self.bins.items()}
        missing = dict.fromkeys(self.bins, 0)
        for alias, (feature, index) in self.columns.items():
            value = _whole(row, alias)
            if index == _MISSING:
                missing[feature] = value
            else:
                counts[feature][index] = value
        return rows, {name: BinCounts(counts[name], missing[name]) for name in self.bins}


def _whole(row: Mapping[str, object], alias: str) -> int:
    lowered = {str(k).lower(): v for k, v in row.items()}
    if alias not in lowered:
        raise ValueError(f"query result has no column {alias!r}")
    value = lowered[alias]
    if value is None or value == "":
        return 0
    try:
        number = float(str(value))
    except ValueError:
        raise ValueError(f"query result column {alias!r} is not a number: {value!r}") from None
    if not number.is_integer() or number < 0:
        raise ValueError(f"query result column {alias!r} is not a count: {value!r}")
    return int(number)


def count_query(
    baseline: Baseline,
    table: str,
    *,
    columns: Collection[str] | None = None,
    timestamp_column: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> CountQuery:
    """One ``SELECT`` over ``table`` counting every baseline feature (and the prediction) into its bins.

    ``table`` may be qualified (``database.table``); each part is quoted. ``columns``, when given, are the
    table's columns: baseline features absent from them are left out of the query (the report then flags
    them as missing instead of the query failing). ``start`` (inclusive) and ``end`` (exclusive) filter on
    ``timestamp_column``; naive datetimes are taken as UTC. Raises ValueError when a window bound is given
    without ``timestamp_column``, ``start >= end``, or no baseline column is left to count.
    """
    if (start is not None or end is not None) and timestamp_column is None:
        raise ValueError("start/end need timestamp_column")
    if start is not None and end is not None and start >= end:
        raise ValueError(f"start ({start}) must be before end ({end})")
    present = None if columns is None else set(columns)
    targets: list[FeatureBaseline] = [f for f in baseline.all_columns() if present is None or f.name in present]
    if not targets:
        raise ValueError("none of the baseline's columns is in the table")
    table_sql = ".".join(quote_identifier(part) for part in table.split("."))

    select_bins: list[str] = []
    aggregates = [f"COUNT(*) AS {ROW_COUNT_ALIAS}"]
    aliases: dict[str, tuple[str, int]] = {}
    bins: dict[str, int] = {}
    for position, feature in enumerate(targets):
        if isinstance(feature, NumericBaseline):
            expression = numeric_bin_expression(feature.name, feature.edges.tolist())
            n_bins = feature.edges.size + 1
        else:
            assert isinstance(feature, CategoricalBaseline)
            expression = categorical_bin_expression(feature.name, feature.categories)
            n_bins = len(feature.categories) + 1
        # Positional aliases: feature names can hold anything, and engines fold or limit identifier case.
        bin_column = f"b{position}"
        select_bins.append(f"{_indent(expression)} AS {bin_column}")
        bins[feature.name] = n_bins
        for index in (_MISSING, *range(n_bins)):
            alias = f"f{position}_{'missing' if index == _MISSING else index}"
            aliases[alias] = (feature.name, index)
            aggregates.append(f"SUM(CASE WHEN {bin_column} = {index} THEN 1 ELSE 0 END) AS {alias}")

    conditions = []
    if timestamp_column is not None and start is not None:
        conditions.append(f"{quote_identifier(timestamp_column)} >= {_timestamp_literal(start)}")
    if timestamp_column is not None and end is not None:
        conditions.append(f"{quote_identifier(timestamp_column)} < {_timestamp_literal(end)}")
    where = f"\n  WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = (
        "WITH binned AS (\n  SELECT\n"
        + ",\n".join(select_bins)
        + f"\n  FROM {table_sql}{where}\n)\nSELECT\n  "
        + ",\n  ".join(aggregates)
        + "\nFROM binned"
    )
    return CountQuery(sql=sql, columns=aliases, bins=bins)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())
