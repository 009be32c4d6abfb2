"""Reading a pipeline run's steps as SageMaker lists them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mlops_kit.pipeline.runs import steps_of

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class _Pages:
    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return [{"PipelineExecutionSteps": page} for page in self.pages]


class _SageMaker:
    def __init__(self, *pages: list[dict[str, Any]]) -> None:
        self.pages = list(pages)

    def get_paginator(self, operation: str) -> _Pages:
        assert operation == "list_pipeline_execution_steps"
        return _Pages(self.pages)


def _step(name: str, seconds: int) -> dict[str, Any]:
    return {"StepName": name, "StepStatus": "Succeeded", "StartTime": T0 + dt.timedelta(seconds=seconds)}


def test_steps_come_oldest_first_across_pages() -> None:
    sagemaker = _SageMaker([_step("Register", 30), _step("Gate", 20)], [_step("Train", 10), _step("Validate", 0)])

    assert [s.name for s in steps_of(sagemaker, "arn")] == ["Validate", "Train", "Gate", "Register"]


def test_steps_that_started_in_the_same_instant_keep_the_listing_order_reversed() -> None:
    # Newest first, as SageMaker lists them; the timestamps cannot tell these apart.
    sagemaker = _SageMaker([_step("Register", 5), _step("Gate", 5), _step("Train", 5), _step("Validate", 0)])

    assert [s.name for s in steps_of(sagemaker, "arn")] == ["Validate", "Train", "Gate", "Register"]
