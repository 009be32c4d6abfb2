"""The drift job's tests use the drift monitoring world (feature history, baseline, capture in an in-memory S3)."""

from tests.unit.monitoring.conftest import baseline_json, history, stored_history, world

__all__ = ["baseline_json", "history", "stored_history", "world"]
