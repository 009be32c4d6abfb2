"""The local join engine's parts (mlops_kit.features.pit) on their own: key codes looked up in the labels'
dictionaries, the join against a brute-force reference with multi-column keys, entities no label asks for, ties,
TTL edges and empty inputs, the parallel gather, and numpy's huge-page advice switched off and back."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_kit.features import pit

# Keys of two columns (a string and an integer) from small alphabets, so that labels and features share some keys,
# features also have keys no label has, and "a"+"b1" vs "ab"+"1"-style collisions would show if keys were joined.
strings = st.sampled_from(["a", "ab", "b1", "1", ""])
key = st.tuples(strings, st.integers(-2, 2))


def brute_force(labels: list, features: list, ttl: int | None, created_before_label: bool) -> list[int]:
    """Each label's feature row: greatest (event, created, row) with the same key, event <= label time, created
    <= label time when asked, then -1 if older than label time - ttl (inclusive)."""
    result = []
    for label_key, when in labels:
        eligible = [
            i for i, (k, event, created) in enumerate(features)
            if k == label_key and event <= when and (not created_before_label or created <= when)
        ]  # fmt: skip
        best = max(eligible, key=lambda i: (features[i][1], features[i][2], i)) if eligible else -1
        if best >= 0 and ttl is not None and when - features[best][1] > ttl:
            best = -1
        result.append(best)
    return result


def columns(keys: list[tuple[str, int]]) -> list[pa.Array]:
    return [pa.array([k[0] for k in keys], pa.string()), pa.array([k[1] for k in keys], pa.int64())]


@given(st.lists(key, max_size=30), st.lists(key, max_size=60))
@settings(max_examples=150, deadline=None)
def test_label_codes_are_equal_exactly_when_keys_are(label_keys, feature_keys) -> None:
    label_codes, feature_codes = pit.label_entity_codes(columns(label_keys), columns(feature_keys))

    assert len(label_codes) == len(label_keys)
    assert len(feature_codes) == len(feature_keys)
    for i, a in enumerate(label_keys):
        for j, b in enumerate(label_keys):
            assert (label_codes[i] == label_codes[j]) == (a == b)
    code_of = dict(zip(label_keys, label_codes.tolist(), strict=True))
    assert feature_codes.tolist() == [code_of.get(k, -1) for k in feature_keys]
    if label_keys:  # dense: 0 .. distinct keys - 1
        assert sorted(set(label_codes.tolist())) == list(range(len(set(label_keys))))


@given(
    st.lists(st.tuples(key, st.integers(-6, 6), st.integers(-2, 2)), max_size=50),
    st.lists(st.tuples(key, st.integers(-7, 7)), max_size=25),
    st.one_of(st.none(), st.integers(0, 4)),
    st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_the_join_matches_brute_force_with_entities_no_label_has(features, labels, ttl, created_before_label) -> None:
    label_keys = [k for k, _ in labels]
    feature_keys = [k for k, _, _ in features]
    event = np.array([e for _, e, _ in features], np.int64)
    created = np.array([c for *_, c in features], np.int64)
    # Cut into chunks, as files read together are: codes and row numbers must run across chunk boundaries.
    feature_columns = [pa.chunked_array([c[:3], c[3:]]) for c in columns(feature_keys)]

    match = pit.join_group(
        columns(label_keys),
        np.array([t for _, t in labels], np.int64),
        feature_columns,
        event,
        created,
        created,
        ttl,
        created_before_label,
    )

    assert match.tolist() == brute_force(labels, features, ttl, created_before_label)


def test_empty_inputs_and_no_shared_entity_give_no_match() -> None:
    """Given no labels, no feature rows, or feature rows only of entities no label has, every label gets -1."""
    label_keys, label_us = [pa.array(["a", "b"])], np.array([5, 6], np.int64)
    none = np.zeros(0, np.int64)

    one = np.ones(1, np.int64)
    no_labels = pit.join_group([pa.array([], pa.string())], none, [pa.array(["a"])], one, one, None, None, False)
    no_rows = pit.join_group(label_keys, label_us, [pa.array([], pa.string())], none, none, None, None, False)

    assert no_labels.tolist() == []
    assert no_rows.tolist() == [-1, -1]
    others = pa.chunked_array([pa.array(["c", "d"]), pa.array(["e"])])
    times = np.array([1, 2, 3], np.int64)
    assert pit.join_group(label_keys, label_us, [others], times, times, None, 10, False).tolist() == [-1, -1]


def test_a_group_without_created_times_breaks_ties_by_ingestion_order_after_leaving_rows_out() -> None:
    """Given rows of an entity no label has between tied rows of a labelled one, and created times given as one
    broadcast value (a group without a created time), the later-ingested tied row wins and its index is the
    stored one."""
    features = pa.chunked_array([pa.array(["x", "a", "x"]), pa.array(["a", "x", "a"])])
    event = np.array([1, 4, 1, 4, 9, 3], np.int64)
    created = np.broadcast_to(np.int64(-(2**63)), (6,))

    match = pit.join_group([pa.array(["a", "a"])], np.array([4, 3], np.int64), [features], event, created, None,
                           None, False)  # fmt: skip

    assert match.tolist() == [3, 5]


def test_gather_keeps_types_order_and_nulls() -> None:
    """Given a table of several kinds of columns in chunks, gathering rows gives them in the order asked, nulls
    where the match is -1, and every column's type unchanged."""
    schema = pa.schema({"f": pa.float64(), "s": pa.string(), "l": pa.list_(pa.int64())})
    table = pa.Table.from_batches(
        [
            pa.record_batch({"f": [0.5, None], "s": ["a", None], "l": [[1], [2, 3]]}, schema=schema),
            pa.record_batch({"f": [float("nan"), 2.0], "s": ["c", "d"], "l": [None, []]}, schema=schema),
        ]
    )

    gathered = pit.gather(table, np.array([3, -1, 0, 2, 1], np.int64))

    assert gathered.schema == table.schema
    assert gathered.column("s").to_pylist() == ["d", None, "a", "c", None]
    assert gathered.column("l").to_pylist() == [[], None, [1], None, [2, 3]]
    values = gathered.column("f").to_pylist()
    assert values[:3] == [2.0, None, 0.5]
    assert np.isnan(values[3])
    assert values[4] is None


def test_parallel_map_keeps_the_order_of_items_and_runs_small_work_in_the_calling_thread() -> None:
    import threading

    big, small = pit.PARALLEL_MIN_ROWS, pit.PARALLEL_MIN_ROWS - 1
    assert pit.parallel_map(lambda x: x * x, list(range(50)), rows=big) == [x * x for x in range(50)]
    assert pit.parallel_map(lambda x: x, [], rows=big) == []
    caller = threading.current_thread().name
    assert set(pit.parallel_map(lambda _: threading.current_thread().name, list(range(8)), rows=small)) == {caller}
    assert 1 <= pit.workers() <= 8


def test_numpy_huge_page_advice_is_off_inside_and_restored_after_nested_blocks() -> None:
    from numpy._core import multiarray

    # A contract on the pinned numpy: if an upgrade drops the private setter, the join silently keeps the advice
    # (and its kernel CPU); fail here instead, so the upgrade decides what replaces it.
    setter = getattr(multiarray, "_set_madvise_hugepage", None)
    assert setter is not None, "numpy no longer has _set_madvise_hugepage: see pit.numpy_without_hugepages"
    before = setter(True)
    try:
        with pit.numpy_without_hugepages():
            with pit.numpy_without_hugepages():
                assert setter(False) is False  # off inside (setting it again returns the current value)
            assert setter(False) is False  # still off: the outer block is still in
        assert setter(True) is True  # restored to what it was before
    finally:
        setter(before)


@pytest.mark.parametrize("sizes", [[], [0], [5], [3, 0, 4, 1], [1] * 17])
def test_to_numpy_copies_every_chunk_in_order(sizes: list[int]) -> None:
    starts = np.cumsum([0, *sizes])
    column = pa.chunked_array([pa.array(range(s, s + n), pa.int64()) for s, n in zip(starts, sizes, strict=False)],
                              pa.int64())  # fmt: skip

    assert pit.to_numpy(column).tolist() == list(range(sum(sizes)))


def test_to_numpy_refuses_nulls() -> None:
    with pytest.raises(pa.ArrowInvalid):
        pit.to_numpy(pa.chunked_array([pa.array([1, None], pa.int64())]))
