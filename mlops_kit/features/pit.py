"""The local point-in-time join engine (numpy + Arrow), one feature group at a time.

For each label row it finds the feature row of the same entity with the greatest
``(event time, created time, ingestion order)`` among those with ``event time <= label time``
(and, with ``created_before_label``, created no later than the label time), then drops it if it is older
than ``label time - TTL`` (both ends inclusive). Missing created times sort first.

How, and why this way (measured on 2 cores, 10M feature rows): entity keys are dictionary-encoded jointly
for labels and features, one column at a time and combined arithmetically, so multi-column keys never
collide; feature rows are sorted once by a single int64 ``(entity, event time)`` key (0.8 s with numpy's
argsort, versus 5.9 s for a two-key ``lexsort`` and 2.1 s for Arrow's ``sort_indices``), and only the rows
that tie on that key are re-sorted by exact event time, created time and ingestion order; each label is then
a binary search. The row number rides in the key's low bits, so a plain ``numpy.sort`` (SIMD, about 4x
faster than ``argsort``: 11 ms against 40 ms for 1M keys) yields the order too. When entity count, row count
and time span do not fit one int64 together, the key's time part is coarsened (a 262 ms grain at 50k
entities and 1M rows over a year) and the binary search's answer is corrected by stepping back over the
few rows whose exact time is after the label's; the row number is left out (and ``argsort`` used) when it
would coarsen time below 2**16 steps. At 500k entities and 10M rows over a year that grain is about a minute:
rows of one entity a minute apart are rare, and the few that share a coarse key are re-sorted exactly, while
``numpy.sort`` of the packed keys takes 0.36 s of CPU against 0.85 s for ``argsort``. Values are gathered with
Arrow ``take``, so strings, lists and nulls keep their types.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INGEST_ORDER = "__ingest_order"


def entity_codes(
    label_keys: Sequence[pa.ChunkedArray | pa.Array],
    feature_keys: Sequence[pa.ChunkedArray | pa.Array],
    memory_pool: pa.MemoryPool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense int64 codes of the (possibly multi-column) keys, equal exactly when every column is equal.

    ``memory_pool`` holds the dictionary encoding's buffers (default: Arrow's default pool).
    """
    n_labels = len(label_keys[0])
    combined: np.ndarray | None = None
    for label_column, feature_column in zip(label_keys, feature_keys, strict=True):
        chunks = [*_chunks(label_column), *_chunks(feature_column)]
        encoded = pc.dictionary_encode(pa.chunked_array(chunks), memory_pool=memory_pool)
        size = len(encoded.chunk(0).dictionary) if encoded.num_chunks else 0
        codes = (
            np.concatenate([c.indices.to_numpy(zero_copy_only=False).astype(np.int64) for c in encoded.chunks])
            if encoded.num_chunks
            else np.zeros(0, np.int64)
        )
        if combined is None:
            combined = codes
        else:
            if combined.max(initial=0) >= np.iinfo(np.int64).max // max(size, 1):
                _, combined = np.unique(combined, return_inverse=True)
            combined = combined * max(size, 1) + codes
    assert combined is not None
    if len(label_keys) == 1:
        return combined[:n_labels], combined[n_labels:]  # dictionary indices are already dense
    _, dense = np.unique(combined, return_inverse=True)
    dense = dense.astype(np.int64)
    return dense[:n_labels], dense[n_labels:]


def _chunks(column: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    """The column's chunks in one type per kind (labels from pandas may be large_string or string_view)."""
    kind = column.type
    if pa.types.is_integer(kind):
        column = column.cast(pa.int64())
    elif not pa.types.is_string(kind):
        column = column.cast(pa.string())
    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


_MIN_TIME_BITS = 16  # below this many time steps, keep the row number out of the key


def _sort_keys(
    label_entity: np.ndarray, label_us: np.ndarray, feature_entity: np.ndarray, event_us: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Single int64 keys ordering (entity, time) for labels and features alike, possibly coarse in time.

    ``entity * 2**time_bits + ((time - low) >> shift)``, less than ``2**(62 - row_bits)`` so that a row
    number of ``row_bits`` fits below it. Returns both key arrays, ``time_bits`` (``key >> time_bits`` is
    the entity) and ``row_bits`` (0 when a row number does not fit). When everything does not fit in 62
    bits, time is coarsened by ``shift`` bits. Coarse keys still order entities exactly and times up to
    ``2**shift`` µs; the caller resolves equal coarse keys with the exact times.
    """
    if len(event_us) == 0:
        return np.zeros(len(label_us), np.int64), np.zeros(0, np.int64), 0, 0
    low = min(int(label_us.min(initial=event_us.min())), int(event_us.min()))
    high = max(int(label_us.max(initial=event_us.max())), int(event_us.max()))
    entities = int(max(label_entity.max(initial=0), feature_entity.max(initial=0))) + 1
    entity_bits = max(entities - 1, 1).bit_length()
    time_bits = max(high - low, 1).bit_length()
    row_bits = max(len(event_us) - 1, len(label_us) - 1, 1).bit_length()
    if entity_bits + min(time_bits, _MIN_TIME_BITS) + row_bits > 62:
        row_bits = 0
    shift = max(0, entity_bits + time_bits + row_bits - 62)
    bits = time_bits - shift
    label_key = (label_entity << bits) | ((label_us - low) >> shift)
    feature_key = (feature_entity << bits) | ((event_us - low) >> shift)
    return label_key, feature_key, bits, row_bits


def _sort(keys: np.ndarray, row_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, sorted keys): equal keys in row order when ``row_bits`` carries the row number, else any order."""
    if not row_bits:
        order = np.argsort(keys)
        return order, keys[order]
    packed = np.sort((keys << row_bits) | np.arange(len(keys), dtype=np.int64))
    return packed & ((1 << row_bits) - 1), packed >> row_bits


def join_group(
    label_keys: Sequence[pa.ChunkedArray | pa.Array],
    label_us: np.ndarray,
    feature_keys: Sequence[pa.ChunkedArray | pa.Array],
    event_us: np.ndarray,
    created_us: np.ndarray,
    available_us: np.ndarray | None,
    ttl_us: int | None,
    created_before_label: bool,
    memory_pool: pa.MemoryPool | None = None,
) -> np.ndarray:
    """For each label row, the index of its matching feature row, or -1 (no match in time and TTL).

    Feature rows must be in ingestion order (the order their files were written, rows in file order): that
    order breaks the last ties. ``created_us`` is the created time for ordering (``INT64_MIN`` when
    missing); ``available_us`` is when the value became available, used by ``created_before_label``.
    ``memory_pool`` holds the key encoding's Arrow buffers (default: Arrow's default pool).
    """
    n_labels = len(label_us)
    if n_labels == 0 or len(event_us) == 0:
        return np.full(n_labels, -1, np.int64)
    label_entity, feature_entity = entity_codes(label_keys, feature_keys, memory_pool)
    label_key, feature_key, time_bits, row_bits = _sort_keys(label_entity, label_us, feature_entity, event_us)
    order, sorted_key = _sort(feature_key, row_bits)
    ties = sorted_key[1:] == sorted_key[:-1]
    if ties.any():
        in_tie = np.zeros(len(order), bool)
        in_tie[1:] |= ties
        in_tie[:-1] |= ties
        slots = np.flatnonzero(in_tie)
        rows = order[slots]
        # Equal (coarse) keys: by exact event time, created time, then ingestion order (the row index itself).
        order[slots] = rows[np.lexsort((rows, created_us[rows], event_us[rows], feature_key[rows]))]
    # Searching in label-key order walks the sorted features forwards (cache-friendly): faster than random order.
    label_order, sorted_label_key = _sort(label_key, row_bits)
    position = np.empty(n_labels, np.int64)
    position[label_order] = np.searchsorted(sorted_key, sorted_label_key, side="right") - 1
    valid = position >= 0
    position = np.where(valid, position, 0)
    # The entity is the key's high part; rows are looked up only where labels land (no 1M-row gathers).
    valid &= (sorted_key[position] >> time_bits) == label_entity
    # A coarse key can place a later event (same entity, same coarse time) at the position: step back.
    checks = [event_us]
    if created_before_label:
        assert available_us is not None
        checks.append(available_us)
    late = valid & _after(checks, order[position], label_us)
    while late.any():
        position[late] -= 1
        still = late & (position >= 0)
        still[still] &= (sorted_key[position[still]] >> time_bits) == label_entity[still]
        valid[late & ~still] = False
        position = np.where(valid, position, 0)
        late = valid & _after(checks, order[position], label_us)
    match = np.where(valid, order[position], -1)
    if ttl_us is not None:
        too_old = (match >= 0) & (label_us - event_us[np.maximum(match, 0)] > ttl_us)
        match[too_old] = -1
    return match


def _after(times: list[np.ndarray], rows: np.ndarray, label_us: np.ndarray) -> np.ndarray:
    """Whether any of ``times`` at ``rows`` is later than the label time."""
    late = times[0][rows] > label_us
    for other in times[1:]:
        late |= other[rows] > label_us
    return late


def gather(table: pa.Table, match: np.ndarray, memory_pool: pa.MemoryPool | None = None) -> pa.Table:
    """Rows of ``table`` at ``match`` (null rows where ``match`` is -1), one per label row."""
    indices = pa.array(np.maximum(match, 0), mask=match < 0, type=pa.int64())
    return pc.take(table, indices, memory_pool=memory_pool)
