"""Validate incoming feature rows and bring them to one canonical Arrow schema per feature group.

Both stores ingest through :func:`to_table`, which accepts a pandas DataFrame, an Arrow table or a list of
dicts (JSON records, as the streaming Lambda receives them) and either returns a table whose columns are
exactly the group's key columns, event time, created time (if declared) and features, each cast to its
canonical Arrow type, or raises :class:`InvalidRecordsError` naming the column and the problem. Nothing is
written by a store before this check passes, so a bad batch is never half-written.

Rules (each violation is an error):

* every entity key column and the event-time column must be present and non-null;
* columns that are neither keys, time columns nor features are refused (a typo is not silently dropped);
* partial records are refused, on every path: a DataFrame or table must have every feature column and each
  JSON record every feature (send ``null`` for an unknown value). A record is a whole row of its group: the
  offline store keeps whole rows and the online store replaces the item, so an absent feature would erase
  the value the producer did not send. Only the created-time column may be left out (it is then null);
* integers must fit int64 (``-2**63 .. 2**63 - 1``), the range of the stored columns;
* timestamps must be timezone-aware (ISO 8601 strings need an offset or ``Z``) and of microsecond
  precision: finer values are refused rather than truncated;
* values must have the declared type: an ``int64`` feature refuses booleans, strings and fractional floats
  (integral floats, which pandas makes of integer columns with nulls, are accepted).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlops_kit.features.definitions import FeatureGroup, InvalidRecordsError, ValueType

__all__ = ["ARROW_TYPES", "TIMESTAMP", "InvalidRecordsError", "from_pandas", "group_schema", "micros", "to_table"]

UTC = dt.UTC
TIMESTAMP = pa.timestamp("us", tz="UTC")
ARROW_TYPES: dict[ValueType, pa.DataType] = {
    ValueType.INT64: pa.int64(),
    ValueType.FLOAT64: pa.float64(),
    ValueType.STRING: pa.string(),
    ValueType.BOOL: pa.bool_(),
    ValueType.TIMESTAMP: TIMESTAMP,
    ValueType.INT64_LIST: pa.list_(pa.int64()),
    ValueType.FLOAT64_LIST: pa.list_(pa.float64()),
}


def group_schema(group: FeatureGroup) -> pa.Schema:
    """The canonical Arrow schema of a group's rows (before the stores add their own columns)."""
    fields = [pa.field(k.name, ARROW_TYPES[k.dtype], nullable=False) for k in group.entity_keys]
    fields.append(pa.field(group.event_time_column, TIMESTAMP, nullable=False))
    if group.created_time_column:
        fields.append(pa.field(group.created_time_column, TIMESTAMP))
    fields.extend(pa.field(f.name, ARROW_TYPES[f.dtype]) for f in group.features)
    return pa.schema(fields)


def column_types(group: FeatureGroup) -> dict[str, ValueType]:
    types = {k.name: k.dtype for k in group.entity_keys}
    types[group.event_time_column] = ValueType.TIMESTAMP
    if group.created_time_column:
        types[group.created_time_column] = ValueType.TIMESTAMP
    types.update({f.name: f.dtype for f in group.features})
    return types


def parse_timestamp(value: Any, what: str) -> dt.datetime:
    """A timezone-aware datetime (UTC) from a datetime or ISO 8601 string; naive values are refused."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRecordsError(f"{what}: {value!r} is not an ISO 8601 timestamp") from None
    if hasattr(value, "to_pydatetime") and not isinstance(value, dt.datetime):
        value = value.to_pydatetime()
    if not isinstance(value, dt.datetime):
        raise InvalidRecordsError(f"{what}: expected a timestamp, got {type(value).__name__} {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRecordsError(
            f"{what}: timestamp {value.isoformat()} has no time zone (naive timestamps are ambiguous)"
        )
    nanos = getattr(value, "nanosecond", 0)
    if nanos:
        raise InvalidRecordsError(f"{what}: timestamp {value} has sub-microsecond precision")
    return value.astimezone(UTC)


def _cast(column: str, array: pa.Array | pa.ChunkedArray, dtype: ValueType) -> pa.ChunkedArray:
    """Cast ``array`` to ``dtype``'s Arrow type; raises InvalidRecordsError naming the column when it cannot."""
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if pa.types.is_null(array.type):
        return pa.chunked_array([pa.nulls(len(array), ARROW_TYPES[dtype])])
    return _CASTS[dtype](column, array, dtype)


def _refusal(column: str, dtype: ValueType, source: pa.DataType, detail: str = "") -> InvalidRecordsError:
    return InvalidRecordsError(f"column {column!r}: expected {dtype.value}, got {source}{detail}")


def _is_text(source: pa.DataType) -> bool:
    return pa.types.is_string(source) or pa.types.is_large_string(source) or pa.types.is_string_view(source)


def _is_number(source: pa.DataType) -> bool:
    return pa.types.is_integer(source) or pa.types.is_floating(source)


def _is_list(source: pa.DataType) -> bool:
    return pa.types.is_list(source) or pa.types.is_large_list(source) or pa.types.is_fixed_size_list(source)


def _cast_timestamp(column: str, array: pa.Array | pa.ChunkedArray, dtype: ValueType) -> pa.ChunkedArray:
    source = array.type
    if pa.types.is_string(source) or pa.types.is_large_string(source):
        try:
            array = array.cast(TIMESTAMP)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise InvalidRecordsError(f"column {column!r}: {exc}") from None
        source = TIMESTAMP
    if not pa.types.is_timestamp(source):
        raise _refusal(column, dtype, source)
    if source.tz is None:
        raise InvalidRecordsError(
            f"column {column!r}: timestamps have no time zone (naive); localize them, e.g. "
            "`df[col] = df[col].dt.tz_localize('UTC')`"
        )
    try:
        return _chunked(array.cast(TIMESTAMP, safe=True))
    except pa.ArrowInvalid:
        raise InvalidRecordsError(f"column {column!r}: timestamps have sub-microsecond precision") from None


def _cast_number(column: str, array: pa.Array | pa.ChunkedArray, dtype: ValueType) -> pa.ChunkedArray:
    if not _is_number(array.type):
        raise _refusal(column, dtype, array.type)
    return _cast_exactly(column, array, dtype)


def _cast_string(column: str, array: pa.Array | pa.ChunkedArray, dtype: ValueType) -> pa.ChunkedArray:
    if not _is_text(array.type):
        raise _refusal(column, dtype, array.type)
    return _chunked(array.cast(ARROW_TYPES[dtype]))


def _cast_bool(column: str, array: pa.Array | pa.ChunkedArray, dtype: ValueType) -> pa.ChunkedArray:
    if not pa.types.is_boolean(array.type):
        raise _refusal(column, dtype, array.type)
    return _chunked(array)


def _cast_number_list(column: str, array: pa.Array | pa.ChunkedArray, dtype: ValueType) -> pa.ChunkedArray:
    source = array.type
    if not _is_list(source) or not (_is_number(source.value_type) or pa.types.is_null(source.value_type)):
        raise _refusal(column, dtype, source)
    return _cast_exactly(column, array, dtype)


def _cast_exactly(column: str, array: pa.Array | pa.ChunkedArray, dtype: ValueType) -> pa.ChunkedArray:
    """Cast numbers (or lists of them) without losing a fraction or overflowing."""
    try:
        return _chunked(array.cast(ARROW_TYPES[dtype], safe=True))
    except pa.ArrowInvalid:
        raise _refusal(column, dtype, array.type, " with fractional or out-of-range values") from None


_CASTS: dict[ValueType, Callable[[str, pa.Array | pa.ChunkedArray, ValueType], pa.ChunkedArray]] = {
    ValueType.TIMESTAMP: _cast_timestamp,
    ValueType.INT64: _cast_number,
    ValueType.FLOAT64: _cast_number,
    ValueType.STRING: _cast_string,
    ValueType.BOOL: _cast_bool,
    ValueType.INT64_LIST: _cast_number_list,
    ValueType.FLOAT64_LIST: _cast_number_list,
}


def _chunked(array: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array])


def _from_records(group: FeatureGroup, records: Sequence[Mapping[str, Any]]) -> pa.Table:
    types = column_types(group)
    unknown = sorted({k for r in records for k in r} - set(types))
    if unknown:
        raise InvalidRecordsError(f"feature group {group.name!r}: unknown columns {unknown}; known: {sorted(types)}")
    required = group.feature_names  # absent keys and event times are reported as nulls below
    partial = [(index, [n for n in required if n not in record]) for index, record in enumerate(records)]
    partial = [(index, missing) for index, missing in partial if missing]
    if partial:
        shown = "; ".join(f"record {index} lacks {missing}" for index, missing in partial[:5])
        raise InvalidRecordsError(
            f"feature group {group.name!r}: {len(partial)} partial record(s) ({shown}); every record must carry "
            "every feature, with null for an unknown value (partial updates are refused)"
        )
    columns: dict[str, pa.Array] = {}
    for name, dtype in types.items():
        values = [r.get(name) for r in records]
        if dtype is ValueType.TIMESTAMP:
            values = [None if v is None else parse_timestamp(v, f"column {name!r}") for v in values]
            columns[name] = pa.array(values, type=TIMESTAMP)
            continue
        if dtype in (ValueType.INT64, ValueType.INT64_LIST):
            scalars = [
                x for v in values if v is not None for x in (v if dtype.is_list and isinstance(v, list) else [v])
            ]
            if any(isinstance(x, bool) for x in scalars):
                raise InvalidRecordsError(f"column {name!r}: expected {dtype.value}, got a boolean")
        try:
            columns[name] = pa.array(values)
        except OverflowError:  # an integer beyond 64 bits (JSON has no integer limit)
            if dtype is ValueType.FLOAT64:
                columns[name] = _floats(name, values)
                continue
            allowed = "int64 (-2**63 .. 2**63 - 1)" if dtype in (ValueType.INT64, ValueType.INT64_LIST) else dtype
            raise InvalidRecordsError(f"column {name!r}: expected {allowed}, got an integer outside int64") from None
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidRecordsError(
                f"column {name!r}: expected {dtype.value}, got mixed or wrong types ({exc})"
            ) from None
    return pa.table(columns)


def _floats(column: str, values: list[Any]) -> pa.Array:
    """A float64 column whose JSON values include integers too large for int64 (they are numbers all the same)."""
    converted = []
    for value in values:
        number = value
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:
                raise InvalidRecordsError(
                    f"column {column!r}: an integer of {len(str(abs(value)))} digits overflows float64"
                ) from None
        converted.append(number)
    try:
        return pa.array(converted, type=pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidRecordsError(f"column {column!r}: expected float64, got mixed or wrong types ({exc})") from None


def _overflowing_column(frame: Any) -> str:
    """The first column of a DataFrame that Arrow cannot convert for an integer beyond 64 bits."""
    for name in frame.columns:
        try:
            from_pandas(frame[[name]])
        except OverflowError:
            return str(name)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            continue
    return "?"


def from_pandas(frame: Any) -> pa.Table:
    """``pa.Table.from_pandas`` without the index, quiet about pyarrow's use of a pandas 3.1 deprecation.

    pyarrow reads timezone-aware columns through ``Series.values``, which pandas 3.1 deprecates; the values
    it gets are still the UTC instants, so the warning says nothing about our data.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray that drops timezone")
        return pa.Table.from_pandas(frame, preserve_index=False)


def _input_table(group: FeatureGroup, data: Any) -> pa.Table:
    """``data`` as an Arrow table of whatever types it has (no group columns checked yet)."""
    if isinstance(data, list | tuple):
        if not all(isinstance(r, Mapping) for r in data):
            raise InvalidRecordsError("records must be mappings (JSON objects)")
        table = _from_records(group, data)
    elif isinstance(data, pa.Table):
        table = data
    elif hasattr(data, "columns") and hasattr(data, "dtypes"):  # a pandas DataFrame, without importing pandas
        try:
            table = from_pandas(data)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidRecordsError(f"feature group {group.name!r}: {exc}") from None
        except OverflowError:  # an object column holding an integer beyond 64 bits
            raise InvalidRecordsError(
                f"column {_overflowing_column(data)!r}: expected int64 (-2**63 .. 2**63 - 1), "
                "got an integer outside int64"
            ) from None
    else:
        raise InvalidRecordsError(
            f"expected a DataFrame, an Arrow table or a list of records, got {type(data).__name__}"
        )
    return table


def to_table(group: FeatureGroup, data: Any) -> pa.Table:
    """Validate ``data`` (DataFrame, Arrow table or list of dicts) against ``group``; see the module rules."""
    if isinstance(data, list | tuple) and not data:
        return group_schema(group).empty_table()
    table = _input_table(group, data)
    types = column_types(group)
    unknown = [c for c in table.column_names if c not in types]
    if unknown:
        raise InvalidRecordsError(f"feature group {group.name!r}: unknown columns {unknown}; known: {sorted(types)}")
    missing = [c for c in types if c not in table.column_names and c != group.created_time_column]
    if missing:
        raise InvalidRecordsError(
            f"feature group {group.name!r}: missing columns {missing}; send every feature, with nulls for "
            "unknown values (partial updates are refused)"
        )
    if group.created_time_column and group.created_time_column not in table.column_names:
        table = table.append_column(group.created_time_column, pa.nulls(table.num_rows, TIMESTAMP))
    schema = group_schema(group)
    arrays = []
    for field in schema:
        array = _cast(field.name, table.column(field.name), types[field.name])
        if not field.nullable and array.null_count:
            raise InvalidRecordsError(
                f"feature group {group.name!r}: column {field.name!r} has {array.null_count} null values"
            )
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=schema)


def micros(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Microseconds since the epoch (int64, nulls kept) of a ``timestamp[us, UTC]`` column."""
    return _chunked(pc.cast(array, pa.int64()))
