"""Emulated time."""

from __future__ import annotations


class TimeScale:
    """Compresses emulated waiting: ``seconds * factor`` of real time is spent per emulated second."""

    def __init__(self, factor: float = 1.0) -> None:
        if factor <= 0:
            raise ValueError("time scale factor must be positive")
        self.factor = factor

    def scale(self, seconds: float) -> float:
        return max(0.0, float(seconds) * self.factor)
