"""The local point-in-time join engine (numpy + Arrow), one feature group at a time.

For each label row it finds the feature row of the same entity with the greatest
``(event time, created time, ingestion order)`` among those with ``event time <= label time``
(and, with ``created_before_label``, created no later than the label time), then drops it if it is older
than ``label time - TTL`` (both ends inclusive). Missing created times sort first.

How, and why this way (measured on 2 cores, 10M feature rows): the labels' entity keys are dictionary-encoded, one
column at a time and combined arithmetically, so multi-column keys never collide; feature rows are looked up in
the labels' dictionaries (Arrow's ``index_in``, on both cores: 1.5 s of CPU for 10M string keys against 2.5 s to
encode labels and features jointly) and rows of entities no label asks for are left out. Feature rows are sorted
once by a single int64 ``(entity, event time)`` key (0.8 s with numpy's argsort, versus 5.9 s for a two-key
``lexsort`` and 2.1 s for Arrow's ``sort_indices``), and only the rows that tie on that key are re-sorted by exact
event time, created time and ingestion order; each label is then a binary search. The row number rides in the
key's low bits, so a plain sort yields the order too (Polars' sort, where installed: 12-15 ms for 1M keys against
32 ms for its ``arg_sort`` and 51 ms for ``numpy.sort``, see :func:`sort_int64`). When entity count, row count and
time span do not fit one int64 together, the key's time part is coarsened (a 262 ms grain at 50k entities and 1M
rows over a year) and the binary search's answer is corrected by stepping back over the few rows whose exact time
is after the label's; the row number is left out (and ``argsort`` used) when it would coarsen time below 2**16
steps. At 500k entities and 10M rows over a year that grain is about a minute: rows of one entity a minute apart
are rare, and the few that share a coarse key are re-sorted exactly, while ``numpy.sort`` of the packed keys takes
0.36 s of CPU against 0.85 s for ``argsort``. Values are gathered with Arrow ``take``, so strings, lists and nulls
keep their types.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INGEST_ORDER = "__ingest_order"
_T = TypeVar("_T")
_R = TypeVar("_R")


def workers() -> int:
    """Threads for the join's parallel steps: the process's usable cores, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def parallel_map(function: Callable[[_T], _R], items: Sequence[_T], *, rows: int) -> list[_R]:
    """``[function(item) for item in items]`` on up to :func:`workers` threads, results in order; ``rows`` is how
    many rows the items hold between them (below :data:`PARALLEL_MIN_ROWS`, the calling thread does it all).

    Worth it only for functions that spend their time in Arrow compute or numpy, which release the GIL. The
    threads are the process's one pool (:func:`_pool`); a call from one of them runs in the calling thread.
    """
    inline = min(workers(), len(items)) <= 1 or rows < PARALLEL_MIN_ROWS
    if inline or threading.current_thread().name.startswith(_POOL_PREFIX):
        return [function(item) for item in items]
    return list(_pool().map(function, items))


# Below this many rows a step runs in the calling thread: handing a few rows to another thread and back costs more
# than the work, and on a loaded machine each hand-off waits for a core (the join's property tests, thousands of tiny
# joins, took 2-3x longer beside other work).
PARALLEL_MIN_ROWS = 65_536
_POOL_PREFIX = "mlops-kit-pit"
_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The join's worker threads, started once per process: a pool per call started 6-8 threads per join, about
    6 ms of a 0.2 s join at 100k labels. Keyed by process id: a forked child gets a pool of its own (the
    parent's threads do not exist there)."""
    pid = os.getpid()
    with _POOLS_LOCK:
        pool = _POOLS.get(pid)
        if pool is None:
            pool = _POOLS[pid] = ThreadPoolExecutor(workers(), thread_name_prefix=_POOL_PREFIX)
        return pool


class _HugepageAdvice:
    """Who has numpy's huge-page advice switched off, so that the last one out restores it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.before = True


_HUGEPAGES = _HugepageAdvice()


@contextmanager
def numpy_without_hugepages() -> Iterator[None]:
    """Within the block, numpy does not advise the kernel to back its large arrays with huge pages.

    Why: numpy calls ``madvise(MADV_HUGEPAGE)`` on every array of 4 MiB or more, and where the kernel's
    transparent huge pages are set to ``defrag=madvise`` (the default of many distributions) each first
    touch of such memory may compact memory synchronously to find a huge page. The join allocates many
    80 MB arrays at 10M rows: on a loaded 2-core VM one join spent 8-10 s of CPU in the kernel with the
    advice and 2.8-3.7 s without (user time 4.7-5.4 s either way). numpy offers no public switch other than
    the ``NUMPY_MADVISE_HUGEPAGE`` variable read at import, so this uses its private setter when present
    (a no-op otherwise) and restores the previous setting when the last concurrent user leaves.
    """
    setter = getattr(getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None)
    if setter is None:
        yield
        return
    with _HUGEPAGES.lock:
        if _HUGEPAGES.users == 0:
            _HUGEPAGES.before = bool(setter(False))
        _HUGEPAGES.users += 1
    try:
        yield
    finally:
        with _HUGEPAGES.lock:
            _HUGEPAGES.users -= 1
            if _HUGEPAGES.users == 0:
                setter(_HUGEPAGES.before)


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


def label_entity_codes(
    label_keys: Sequence[pa.ChunkedArray | pa.Array],
    feature_keys: Sequence[pa.ChunkedArray | pa.Array],
    memory_pool: pa.MemoryPool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Dense int64 codes of the labels' (possibly multi-column) keys, and the same codes for the feature rows,
    -1 where a feature row's key is not among the labels' (such a row can never match).

    Only the labels' keys are hashed into a table (they are fewer); the feature rows are looked up in it with
    Arrow's ``index_in``, in slices on :func:`workers` threads. Codes are equal exactly when every column is.
    """
    label_codes, feature_codes, _ = _column_codes(label_keys[0], feature_keys[0], memory_pool)
    for label_column, feature_column in zip(label_keys[1:], feature_keys[1:], strict=True):
        codes, looked_up, size = _column_codes(label_column, feature_column, memory_pool)
        # Mixed radix over the two dense code ranges (no collision), then dense again over the labels' pairs.
        label_pairs = label_codes * size + codes
        feature_pairs = np.where((feature_codes < 0) | (looked_up < 0), -1, feature_codes * size + looked_up)
        distinct, inverse = np.unique(label_pairs, return_inverse=True)
        label_codes = inverse.astype(np.int64).reshape(-1)
        position = np.minimum(np.searchsorted(distinct, feature_pairs), max(len(distinct) - 1, 0))
        found = (feature_pairs >= 0) & (distinct[position] == feature_pairs) if len(distinct) else feature_pairs < -1
        feature_codes = np.where(found, position, -1).astype(np.int64)
    return label_codes, feature_codes


def _column_codes(
    label_column: pa.ChunkedArray | pa.Array,
    feature_column: pa.ChunkedArray | pa.Array,
    memory_pool: pa.MemoryPool | None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """One key column: the labels' dictionary codes, the feature rows' codes in it (-1: absent), its size."""
    kind = pa.int64() if pa.types.is_integer(label_column.type) else pa.string()
    labels = pa.chunked_array(_chunks(label_column), kind).combine_chunks()
    encoded = pc.dictionary_encode(labels, memory_pool=memory_pool)
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    features = pa.chunked_array(_chunks(feature_column), labels.type)
    # Each thread writes its slice's indices straight into the result: no per-slice arrays to convert to int64 and
    # concatenate afterwards (two passes over 80 MB at 10M rows).
    looked_up = np.empty(len(features), np.int64)
    parts = _slices(features, workers())
    starts = np.cumsum([0, *(len(part) for part in parts)])
    lookup = partial(_index_in, parts, starts, looked_up, dictionary=encoded.dictionary, memory_pool=memory_pool)
    parallel_map(lookup, range(len(parts)), rows=len(features))
    return codes, looked_up, max(len(encoded.dictionary), 1)


def _index_in(
    parts: list[pa.ChunkedArray],
    starts: np.ndarray,
    result: np.ndarray,
    index: int,
    *,
    dictionary: pa.Array,
    memory_pool: pa.MemoryPool | None,
) -> None:
    """Each value of ``parts[index]``'s index in ``dictionary``, -1 where absent (nulls included), written to
    ``result`` from ``starts[index]`` on."""
    found = pc.index_in(parts[index], value_set=dictionary, memory_pool=memory_pool)
    offset = int(starts[index])
    for chunk in pc.coalesce(found, pa.scalar(-1, found.type), memory_pool=memory_pool).chunks:
        result[offset : offset + len(chunk)] = chunk.to_numpy(zero_copy_only=True)
        offset += len(chunk)


def _slices(column: pa.ChunkedArray, count: int) -> list[pa.ChunkedArray]:
    """``column`` cut into at most ``count`` consecutive zero-copy slices of about equal length."""
    step = max(-(-len(column) // max(count, 1)), 1)
    return [column.slice(start, step) for start in range(0, len(column), step)]


def _chunks(column: pa.ChunkedArray | pa.Array) -> list[pa.Array]:
    """The column's chunks in one type per kind (labels from pandas may be large_string or string_view)."""
    kind = column.type
    if pa.types.is_integer(kind):
        column = column.cast(pa.int64())
    elif not pa.types.is_string(kind):
        column = column.cast(pa.string())
    return list(column.chunks) if isinstance(column, pa.ChunkedArray) else [column]


def to_numpy(column: pa.ChunkedArray, dtype: type[np.generic] = np.int64) -> np.ndarray:
    """A null-free numeric column as one numpy array, its chunks copied in on :func:`workers` threads.

    ``ChunkedArray.to_numpy`` concatenates on the calling thread: for 10M rows in 1,825 chunks that was 0.5-1 s
    of the join's single-threaded part, most of it first touches of the new memory, which here fall on the
    threads that copy. Raises ``pyarrow.ArrowInvalid`` if the column has nulls.
    """
    result = np.empty(len(column), dtype)
    parts = _slices(column, workers())
    starts = np.cumsum([0, *(len(part) for part in parts)])

    def fill(index: int) -> None:
        offset = int(starts[index])
        for chunk in parts[index].chunks:
            result[offset : offset + len(chunk)] = chunk.to_numpy(zero_copy_only=True)
            offset += len(chunk)

    parallel_map(fill, range(len(parts)), rows=len(column))
    return result


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
        order = argsort_int64(keys)
        return order, keys[order]
    packed = sort_int64((keys << row_bits) | np.arange(len(keys), dtype=np.int64))
    return packed & ((1 << row_bits) - 1), packed >> row_bits


def sort_int64(values: np.ndarray) -> np.ndarray:
    """``numpy.sort(values)`` of int64 values, by Polars where it is installed (the jobs' containers have numpy only).

    Why: numpy's sort of 1M random int64 keys took 51 ms on this project's 2-core machine (x86-64 with AVX-512,
    numpy 2.4), Polars' 15 ms on one thread; ``argsort`` 73 ms against 32 ms.
    """
    try:
        import polars as pl
    except ImportError:
        return np.sort(values)
    return pl.Series(values, dtype=pl.Int64).sort().to_numpy()


def argsort_int64(values: np.ndarray) -> np.ndarray:
    """``numpy.argsort(values)`` of int64 values, as int64 positions (equal values in any order); see
    :func:`sort_int64`."""
    try:
        import polars as pl
    except ImportError:
        return np.argsort(values)
    return pl.Series(values, dtype=pl.Int64).arg_sort().to_numpy().astype(np.int64)


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
    label_entity, feature_entity = label_entity_codes(label_keys, feature_keys, memory_pool)
    kept: np.ndarray | None = None
    if (feature_entity < 0).any():
        # Rows of entities no label asks for are left out before sorting; the rest keep their ingestion order.
        kept = np.flatnonzero(feature_entity >= 0)
        feature_entity, event_us = feature_entity[kept], event_us[kept]
        created_us = created_us[kept] if created_us.strides != (0,) else created_us[: len(kept)]
        available_us = None if available_us is None else available_us[kept]
        if len(kept) == 0:
            return np.full(n_labels, -1, np.int64)
    match = _match(label_entity, label_us, feature_entity, event_us, created_us, available_us, ttl_us,
                   created_before_label)  # fmt: skip
    if kept is not None:
        match = np.where(match >= 0, kept[np.maximum(match, 0)], -1)
    return match


def _match(
    label_entity: np.ndarray,
    label_us: np.ndarray,
    feature_entity: np.ndarray,
    event_us: np.ndarray,
    created_us: np.ndarray,
    available_us: np.ndarray | None,
    ttl_us: int | None,
    created_before_label: bool,
) -> np.ndarray:
    """:func:`join_group` on entity codes: every feature row's entity is one a label has."""
    n_labels = len(label_us)
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
    # One column per thread: ``take`` releases the GIL.
    take = partial(pc.take, indices=indices, memory_pool=memory_pool)
    columns = parallel_map(take, table.columns, rows=len(match))
    return pa.Table.from_arrays(columns, schema=table.schema)
