"""The A/B testing functions' settings: one typed model per function, built by the CDK construct
(``cdk/constructs/abtest.py``) and parsed by the handler (:func:`mlops_kit.environment.read_settings`).

Only pydantic is imported here: the HTTP router reads its settings without loading numpy or scipy.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from mlops_kit.environment import HandlerSettings


class OutcomeSettings(HandlerSettings):
    """``lambdas/abtest_outcome``: where outcome events are recorded."""

    VARIABLE: ClassVar[str] = "MLOPS_ABTEST_OUTCOME_SETTINGS"

    experiment_table: str = Field(min_length=1)


class RouterSettings(HandlerSettings):
    """``lambdas/abtest_router``: where routes are read and exposures recorded."""

    VARIABLE: ClassVar[str] = "MLOPS_ABTEST_ROUTER_SETTINGS"

    experiment_table: str = Field(min_length=1)


class StatusSettings(HandlerSettings):
    """``lambdas/abtest_status``: the experiments, the endpoint they run on, its promotion lock and registry."""

    VARIABLE: ClassVar[str] = "MLOPS_ABTEST_STATUS_SETTINGS"

    experiment_table: str = Field(min_length=1)
    promotion_table: str = Field(min_length=1)
    endpoint_name: str = Field(min_length=1, max_length=63)
    model_package_group: str = Field(min_length=1)
