"""Synthetic traffic for the demo endpoint: fraud transactions of known customers, in the request format."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops_kit.serving.client import EndpointClient, ModelRequestError
from mlops_local.clock import Event, VirtualClock


def requests(n: int, *, seed: int, customers: int, start: dt.datetime, drift: float = 0.0) -> list[dict[str, Any]]:
    """``n`` requests shaped like the fraud labels (amount, merchant, time), for existing customers."""
    from mlops_kit.features import fraud

    data = fraud.generate(customers, n, seed=seed, start=start, days=7, drift=drift)
    labels = data.transactions
    return [
        {
            "customer_id": row.customer_id,
            "transaction": {
                "amount": float(row.amount),
                "merchant_category": str(row.merchant_category),
                "event_timestamp": row.event_timestamp.isoformat(),
            },
        }
        for row in labels.itertuples()
    ]


@dataclass
class TrafficStats:
    sent: int = 0
    errors: int = 0
    variants: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")


def send(
    client: EndpointClient,
    payloads: list[dict[str, Any]],
    stats: TrafficStats | None = None,
    *,
    clock: VirtualClock | None = None,
    every: float = 0.0,
    **kwargs: Any,
) -> TrafficStats:
    """Send ``payloads`` in order; with a ``clock``, one every ``every`` emulated seconds (traffic takes time, as
    it does on AWS: a drift window or an alarm period then holds the requests of its own minutes)."""
    stats = stats or TrafficStats()
    for index, payload in enumerate(payloads):
        if clock is not None and every > 0 and index:
            clock.sleep(every)
        for result in client.predict_many([payload], **kwargs):
            stats.sent += 1
            if isinstance(result, ModelRequestError):
                stats.errors += 1
            else:
                stats.variants[result.variant] += 1
                stats.latencies_ms.append(result.latency_ms)
    if clock is not None and every > 0:
        clock.sleep(every)  # the last request's time passes too
    return stats


# Emulated seconds between two requests of live traffic: six a minute. Every alarm period and bake window holds
# requests (a 30-minute shadow bake about 180 pairs, many times `shadow.min_pairs`), and each request costs the
# emulator a real inference, a feature lookup and a capture record: at one every 5 s, the promotion tests spent
# about a quarter of their CPU time on traffic.
LIVE_EVERY = 10.0


class BackgroundTraffic:
    """Live traffic: one request every ``every`` emulated seconds (cycling through ``payloads``) until stopped.

    It runs on the emulator's clock, so a bake window of N minutes always sees the same number of requests,
    whatever the machine's load, and the requests' times fall where they would on AWS.
    """

    def __init__(
        self, client: EndpointClient, payloads: list[dict[str, Any]], clock: VirtualClock, *, every: float = LIVE_EVERY
    ) -> None:
        self.client, self.payloads, self.clock, self.every = client, payloads, clock, every
        self.stats = TrafficStats()
        self._stop = Event(clock)
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        index = 0
        # Half a second off the whole seconds the workflow's own waits fall on: requests never share an instant
        # with a weight change, so which weights a request sees never depends on thread scheduling.
        if self._stop.wait(0.5):
            return
        while True:
            send(self.client, [self.payloads[index % len(self.payloads)]], self.stats)
            index += 1
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> BackgroundTraffic:
        self._thread = self.clock.spawn(self._run, name="demo-traffic")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()  # wakes the sleeping thread at once: no emulated time passes
        if self._thread is not None:
            self._thread.join()
