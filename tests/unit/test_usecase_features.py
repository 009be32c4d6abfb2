"""The data stack deploys the feature store of ``training.use_case``: its groups, and where the ingestion function
imports them from, checked to be the same groups at synth."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from mlops_kit.features import fraud
from mlops_kit.pipeline.usecase import UseCaseError, feature_groups_of, load_use_case
from tests.unit.features.conftest import ACTIVITY, PROFILE


def use_case(monkeypatch: pytest.MonkeyPatch, name: str, **attributes: object) -> ModuleType:
    module = ModuleType(name)
    for key, value in attributes.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def test_the_fraud_use_case_serves_its_groups_from_the_module_without_numpy() -> None:
    features = feature_groups_of(load_use_case("mlops_kit.features.fraud"))

    assert features.groups == fraud.FEATURE_GROUPS
    assert features.registry == "mlops_kit.features.fraud_definitions:FEATURE_GROUPS"
    assert features.versions() == {g.name: g.version for g in fraud.FEATURE_GROUPS}


def test_without_a_registry_the_ingestion_function_imports_the_use_case_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    module = use_case(monkeypatch, "my_use_case", FEATURE_GROUPS=(PROFILE,))

    assert feature_groups_of(module).registry == "my_use_case:FEATURE_GROUPS"


def test_a_use_case_without_feature_groups_fails_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    module = use_case(monkeypatch, "no_groups")

    with pytest.raises(UseCaseError, match="'no_groups' declares no FEATURE_GROUPS"):
        feature_groups_of(module)


def test_a_registry_holding_other_groups_fails_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    use_case(monkeypatch, "elsewhere", GROUPS=(PROFILE,))
    module = use_case(
        monkeypatch, "mismatched", FEATURE_GROUPS=(PROFILE, ACTIVITY), FEATURE_REGISTRY="elsewhere:GROUPS"
    )

    with pytest.raises(UseCaseError, match=r"'elsewhere:GROUPS' holds .*profile.* but FEATURE_GROUPS are .*activity"):
        feature_groups_of(module)


def test_a_registry_that_cannot_be_imported_fails_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    module = use_case(monkeypatch, "unimportable", FEATURE_GROUPS=(PROFILE,), FEATURE_REGISTRY="no_such_module:GROUPS")

    with pytest.raises(UseCaseError, match="'no_such_module:GROUPS' cannot be imported"):
        feature_groups_of(module)
