"""Text the SageMaker registry accepts, for any input: metadata values and keys, one-line descriptions."""

from __future__ import annotations

import botocore.session
from hypothesis import given
from hypothesis import strategies as st

from mlops_kit.registry.metadata import metadata_key, metadata_value, single_line
from mlops_local.java_regex import matches

_SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
VALUE = _SAGEMAKER.shape_for("CustomerMetadataValue").metadata
KEY = _SAGEMAKER.shape_for("CustomerMetadataKey").metadata
APPROVAL = _SAGEMAKER.shape_for("ApprovalDescription").metadata
STAGE = _SAGEMAKER.shape_for("StageDescription").metadata


def accepted(text: str, shape: dict) -> bool:
    """What SageMaker's API model accepts for a string of ``shape`` (length and Java pattern)."""
    return shape["min"] <= len(text) <= shape["max"] and matches(shape["pattern"], text) is True


@given(st.text(max_size=400))
def test_any_text_becomes_an_accepted_metadata_value_and_key(text: str) -> None:
    assert accepted(metadata_value(text), VALUE)
    assert accepted(metadata_key(text), KEY)


@given(st.text(max_size=1200))
def test_any_text_becomes_an_accepted_one_line_description(text: str) -> None:
    assert accepted(single_line(text), APPROVAL)
    assert accepted(single_line(text), STAGE)


def test_sanitizing_keeps_what_sagemaker_allows_and_reads_naturally() -> None:
    comment = "A/B test checkout-model: ship_treatment (conversion +4 points, p=0.01)\nok'd by Ana Pérez 東京"

    assert metadata_value(comment) == (
        "A/B test checkout-model: ship_treatment conversion +4 points p=0.01 ok d by Ana Pérez 東京"
    )
    assert single_line(comment) == (
        "A/B test checkout-model: ship_treatment (conversion +4 points, p=0.01) ok'd by Ana Pérez 東京"
    )
    assert metadata_value("") == "-"
    assert metadata_value("{}") == "-"
    assert len(metadata_value("x" * 300)) == 256
    assert single_line("a\r\n\u2028b") == "a b"
