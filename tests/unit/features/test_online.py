"""Online store: latest-wins under shuffled, duplicated and concurrent writes; batched reads; TTL; errors."""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_kit import waiting
from mlops_kit.features.online import OnlineReadError, OnlineStore
from mlops_kit.features.records import InvalidRecordsError
from tests.unit.features.conftest import REGISTRY, FakeTable, at

NAN = float("nan")


def store(table: FakeTable | None = None, now: dt.datetime | None = None) -> OnlineStore:
    return OnlineStore(REGISTRY, table or FakeTable(), clock=lambda: now or at(0), base_delay=0.0)


def profile(user: str, hours: float, age: int, created: float | None = None) -> dict:
    return {"user": user, "event_timestamp": at(hours), "created": None if created is None else at(created),
            "age": age, "country": "DE"}  # fmt: skip


# (user, event hour, created hour or None, value)
records = st.lists(
    st.tuples(
        st.sampled_from(["u1", "u2", "u3"]),
        st.integers(0, 6),
        st.one_of(st.none(), st.integers(0, 3)),
        st.integers(0, 10**6),
    ),
    min_size=1,
    max_size=25,
)


def expected_latest(batch: list[tuple]) -> dict[str, tuple]:
    """The newest record per user by (event, created; missing created lowest), ignoring arrival order."""
    best: dict[str, tuple] = {}
    for user, event, created, value in batch:
        rank = (event, -1 if created is None else created)
        if user not in best or rank > best[user][0]:
            best[user] = (rank, value)
    return best


@given(records, st.randoms(use_true_random=False), st.integers(1, 4))
@settings(max_examples=80, deadline=None)
def test_latest_wins_whatever_the_order_duplicates_and_batching(batch, rnd, batches) -> None:
    shuffled = list(batch) + rnd.sample(batch, k=len(batch) // 2)  # replays
    rnd.shuffle(shuffled)
    online = store()
    written = stale = 0
    size = max(1, len(shuffled) // batches)
    for start in range(0, len(shuffled), size):
        part = [profile(u, e, v, c) for u, e, c, v in shuffled[start : start + size]]
        report = online.write("profile", part)
        assert report.written + report.stale == len(part)
        assert report.ok
        written, stale = written + report.written, stale + report.stale

    got = online.get([{"user": u} for u in sorted(expected_latest(batch))], ["profile:age"])
    expected = expected_latest(batch)
    for user, row in zip(sorted(expected), got.rows, strict=True):
        # Records tying on (event, created) are the same version: any of them may be the one kept.
        ties = {v for u, e, c, v in batch if u == user and (e, -1 if c is None else c) == expected[user][0]}
        assert row["age"] in ties
    assert written + stale == len(shuffled)


def test_an_older_or_equal_time_replay_is_stale() -> None:
    online = store()
    assert online.write("profile", [profile("u", 5, 10)]).written == 1

    older = online.write("profile", [profile("u", 4, 99)])
    replay = online.write("profile", [profile("u", 5, 99)])

    assert (older.written, older.stale) == (0, 1)
    assert (replay.written, replay.stale) == (0, 1)
    assert online.get([{"user": "u"}], ["profile:age"]).rows == [{"age": 10}]


def test_equal_event_time_with_a_later_created_time_is_a_correction() -> None:
    online = store()
    online.write("profile", [profile("u", 5, 10, created=6)])

    report = online.write("profile", [profile("u", 5, 11, created=7)])

    assert report.written == 1
    assert online.get([{"user": "u"}], ["profile:age"]).rows == [{"age": 11}]


def test_concurrent_writers_cannot_lose_the_newest_value() -> None:
    table = FakeTable()
    online = store(table)
    versions = list(range(200))
    random.Random(7).shuffle(versions)
    chunks = [versions[i::8] for i in range(8)]
    barrier = threading.Barrier(8)

    def writer(chunk: list[int]) -> None:
        barrier.wait()
        for hour in chunk:
            online.write("profile", [profile("u", hour, hour)])

    threads = [threading.Thread(target=writer, args=(c,)) for c in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert online.get([{"user": "u"}], ["profile:age"]).rows == [{"age": 199}]


def test_reads_batch_across_groups_in_the_fewest_calls_and_keep_the_callers_order() -> None:
    table = FakeTable()
    online = store(table)
    users = [f"u{i}" for i in range(120)]
    online.write("profile", [profile(u, 1, i) for i, u in enumerate(users)])
    activity = [
        {"user": u, "event_timestamp": at(0), "score": float(i), "flag": True, "seen": at(-1), "history": [1.0, NAN]}
        for i, u in enumerate(users)
    ]
    online.write("activity", activity)
    table.requests = 0
    wanted = [{"user": u} for u in reversed(users)] + [{"user": "nobody"}, {"user": "u5"}]

    result = online.get(wanted, ["activity:score", "profile:age", "activity:history"])

    assert result.requests == 3  # 121 distinct users x 2 groups = 242 keys -> 100 + 100 + 42
    assert sorted(table.batch_sizes) == [42, 100, 100]  # made concurrently, in any order
    assert result.columns == ["score", "age", "history"]
    assert [r["age"] for r in result.rows[:3]] == [119, 118, 117]
    assert result.rows[-2] == {"score": None, "age": None, "history": None}
    assert result.status[-2] == {"activity": "missing", "profile": "missing"}
    assert result.rows[-1]["score"] == 5.0
    assert result.rows[-1]["history"][0] == 1.0
    assert result.rows[-1]["history"][1] != result.rows[-1]["history"][1]  # NaN survives


def test_unprocessed_keys_are_retried_until_served() -> None:
    table = FakeTable(unprocessed_first=3, keep=1)
    online = store(table)
    online.write("profile", [profile(f"u{i}", 1, i) for i in range(5)])
    table.requests = 0

    result = online.get([{"user": f"u{i}"} for i in range(5)], ["profile:age"])

    assert [r["age"] for r in result.rows] == [0, 1, 2, 3, 4]
    assert result.requests == 4


class BarrierTable(FakeTable):
    """BatchGetItem calls that each wait until ``calls`` of them are in flight at once."""

    def __init__(self, calls: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(calls, timeout=30)  # a guard, not a measurement: sequential calls break it

    def batch_get(self, keys: list[dict]) -> tuple[list[dict], list[dict]]:
        self.barrier.wait()
        return super().batch_get(keys)


def test_the_calls_of_one_read_are_made_concurrently() -> None:
    table = BarrierTable(calls=3)
    online = store(table)
    online.write("profile", [profile(f"u{i}", 1, i) for i in range(250)])
    table.requests = 0

    result = online.get([{"user": f"u{i}"} for i in range(250)], ["profile:age"])

    assert result.requests == 3
    assert [r["age"] for r in result.rows] == list(range(250))


def test_one_entity_of_several_groups_is_one_call() -> None:
    table = FakeTable()
    online = store(table)
    online.write("profile", [profile("u", 1, 7)])
    table.requests = 0

    result = online.get([{"user": "u"}], ["profile:age", "activity:score"])

    assert result.requests == 1
    assert table.batch_sizes == [2]


def test_each_call_retries_only_its_own_unprocessed_keys_waiting_through_the_kits_waiter() -> None:
    waits: list[float] = []

    def recording_waiter(check, *, every, timeout, what):  # answers at once: no wall time passes
        waits.append(every)
        assert what == "BatchGetItem backoff"
        while (answer := check()) is None:
            pass
        return answer

    table = FakeTable(unprocessed_first=1, keep=10)
    online = OnlineStore(REGISTRY, table, clock=lambda: at(0), base_delay=0.05)
    online.write("profile", [profile(f"u{i}", 1, i) for i in range(250)])
    table.requests, table.batch_sizes = 0, []
    waiting.use_waiter(recording_waiter)
    try:
        result = online.get([{"user": f"u{i}"} for i in range(250)], ["profile:age"])
    finally:
        waiting.use_waiter(None)

    assert [r["age"] for r in result.rows] == list(range(250))
    assert result.requests == 4
    # Calls of 100, 100 and 50 keys; the throttled one is made again with its own keys less the 10 it was served.
    assert sorted(table.batch_sizes) in ([40, 50, 100, 100], [50, 90, 100, 100])
    assert len(waits) == 1
    assert 0 < waits[0] <= 0.05 * 2


def test_keys_still_unprocessed_after_every_retry_fail_the_read() -> None:
    online = OnlineStore(
        REGISTRY, FakeTable(unprocessed_first=100, keep=0), clock=lambda: at(0), max_attempts=3, base_delay=0.0
    )

    with pytest.raises(OnlineReadError, match="still unprocessed after 3"):
        online.get([{"user": "u"}], ["profile:age"])


def test_ttl_is_honoured_at_read_time_inclusive() -> None:
    table = FakeTable()
    row = {"user": "u", "event_timestamp": at(0), "score": 1.0, "flag": False, "seen": None, "history": None}
    store(table).write("activity", [row])

    at_limit = store(table, now=at(48)).get([{"user": "u"}], ["activity:score"])
    after = store(table, now=at(48) + dt.timedelta(microseconds=1)).get([{"user": "u"}], ["activity:score"])

    assert at_limit.rows == [{"score": 1.0}]
    assert at_limit.status == [{"activity": "found"}]
    assert after.rows == [{"score": None}]
    assert after.status == [{"activity": "expired"}]


def test_multi_column_keys_and_missing_key_columns() -> None:
    online = store()
    online.write("pair", [{"a": "x|1", "b": 2, "event_timestamp": at(0), "v": 1},
                          {"a": "x", "b": 12, "event_timestamp": at(0), "v": 2}])  # fmt: skip

    result = online.get([{"a": "x", "b": 12}, {"a": "x|1", "b": 2}, {"a": "x|", "b": 12}], ["pair:v"])

    assert [r["v"] for r in result.rows] == [2, 1, None]
    with pytest.raises(InvalidRecordsError, match=r"entity 0 lacks key columns \['b'\]"):
        online.get([{"a": "x"}], ["pair:v"])


def test_bad_records_are_refused_before_anything_is_written() -> None:
    table = FakeTable()
    online = store(table)

    with pytest.raises(InvalidRecordsError, match="column 'age': expected int64"):
        online.write("profile", [profile("u", 1, 1), {**profile("v", 1, 1), "age": "old"}])
    assert table.items == {}


def test_api_failures_are_reported_per_record_not_swallowed() -> None:
    class Failing(FakeTable):
        def put_if_newer(self, item, condition, values):
            if item["pk"]["S"] == '["bad"]':
                raise RuntimeError("ProvisionedThroughputExceededException")
            return super().put_if_newer(item, condition, values)

    report = store(Failing()).write("profile", [profile("ok", 1, 1), profile("bad", 1, 1)])

    assert (report.written, report.stale) == (1, 0)
    assert report.failed == [('["bad"]', "RuntimeError: ProvisionedThroughputExceededException")]
    assert not report.ok


def test_entities_from_a_dataframe_with_numpy_integer_keys() -> None:
    import pandas as pd

    online = store()
    online.write("pair", [{"a": "x", "b": 7, "event_timestamp": at(0), "v": 70}])

    result = online.get(pd.DataFrame({"a": ["x", "x"], "b": [7, 8]}), ["pair:v"])

    assert [r["v"] for r in result.rows] == [70, None]


def test_ingest_reports_online_failures_after_the_offline_append(tmp_path) -> None:
    from mlops_kit.features.offline import OfflineStore
    from mlops_kit.features.storage import LocalObjectStore
    from mlops_kit.features.store import FeatureStore, IngestError

    class Failing(FakeTable):
        def put_if_newer(self, item, condition, values):
            raise RuntimeError("AccessDeniedException")

    feature_store = FeatureStore(
        REGISTRY, offline=OfflineStore(REGISTRY, LocalObjectStore(tmp_path)), online=store(Failing())
    )

    with pytest.raises(IngestError, match="1 of 1 profile records were not written online") as raised:
        feature_store.ingest("profile", [profile("u", 1, 1)])

    report = raised.value.report
    assert report.offline is not None
    assert report.offline.rows == 1
    assert report.online is not None
    assert report.online.failed == [('["u"]', "RuntimeError: AccessDeniedException")]
    assert feature_store.offline is not None
    assert feature_store.offline.read("profile").num_rows == 1
