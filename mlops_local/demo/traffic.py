"""Synthetic traffic for the demo endpoint: fraud transactions of known customers, in the request format."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlops_kit.serving.client import EndpointClient, ModelRequestError


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
    client: EndpointClient, payloads: list[dict[str, Any]], stats: TrafficStats | None = None, **kwargs: Any
) -> TrafficStats:
    stats = stats or TrafficStats()
    for result in client.predict_many(payloads, **kwargs):
        stats.sent += 1
        if isinstance(result, ModelRequestError):
            stats.errors += 1
        else:
            stats.variants[result.variant] += 1
            stats.latencies_ms.append(result.latency_ms)
    return stats


class BackgroundTraffic:
    """Keeps sending requests (cycling through ``payloads``) until stopped, as live traffic would."""

    def __init__(self, client: EndpointClient, payloads: list[dict[str, Any]], *, pause: float = 0.002) -> None:
        self.client, self.payloads, self.pause = client, payloads, pause
        self.stats = TrafficStats()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            send(self.client, [self.payloads[index % len(self.payloads)]], self.stats)
            index += 1
            time.sleep(self.pause)

    def __enter__(self) -> BackgroundTraffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
