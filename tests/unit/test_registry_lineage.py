"""The lineage document and the registry's short values for it (mlops_kit.registry.lineage)."""

from __future__ import annotations

import botocore.session
import pytest

from mlops_kit.registry import missing_lineage
from mlops_kit.registry.lineage import (
    DOCUMENT_SHA256,
    DOCUMENT_URI,
    LineageMismatch,
    LineageReference,
    document_bytes,
    metadata_properties,
    read_document,
    sha256,
    summary,
)
from mlops_local.java_regex import matches

_SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
VALUE = _SAGEMAKER.shape_for("CustomerMetadataValue").metadata
KEY = _SAGEMAKER.shape_for("CustomerMetadataKey").metadata
LINEAGE = {
    "hyperparameters": {"max_iter": 300, "learning_rate": 0.08},
    "library_versions": {"scikit-learn": "1.9.1", "python": "3.11.7"},
    "seed": 42,
}


def test_structured_values_are_summarized_as_sorted_key_value_pairs() -> None:
    assert summary({"max_iter": 300, "learning_rate": 0.08}) == "learning_rate=0.08 max_iter=300"
    assert summary(["a", "b"]) == "a b"
    assert summary({"grid": {"depth": [2, 3]}}) == "grid= depth : 2 3"  # lossy on purpose: the document is exact
    assert summary({}) == "none"
    assert summary(42) == "42"


def test_the_document_is_canonical_and_verified_by_its_hash() -> None:
    data = document_bytes({f"lineage.{k}": v for k, v in reversed(LINEAGE.items())})
    reference = LineageReference("s3://artifacts/lineage/x.json", sha256(data))

    assert data == document_bytes(LINEAGE)  # key order and the lineage. prefix do not change the bytes
    assert read_document(data, reference) == LINEAGE
    with pytest.raises(LineageMismatch, match="changed or replaced after registration"):
        read_document(data.replace(b"300", b"301"), reference)


def test_the_metadata_is_a_summary_per_key_and_the_documents_reference_all_accepted_by_sagemaker() -> None:
    reference = LineageReference("s3://artifacts/lineage/abc.json", "ab" * 32)

    properties = metadata_properties(LINEAGE, reference)

    assert properties == {
        "lineage.hyperparameters": "learning_rate=0.08 max_iter=300",
        "lineage.library_versions": "python=3.11.7 scikit-learn=1.9.1",
        "lineage.seed": "42",
        DOCUMENT_URI: "s3://artifacts/lineage/abc.json",
        DOCUMENT_SHA256: "ab" * 32,
    }
    for key, value in properties.items():
        assert matches(KEY["pattern"], key), key
        assert matches(VALUE["pattern"], value), value
        assert len(key) <= KEY["max"]
        assert len(value) <= VALUE["max"]


def test_a_document_uri_the_metadata_would_alter_is_refused_not_altered() -> None:
    with pytest.raises(ValueError, match="cannot be stored as SageMaker metadata"):
        LineageReference("s3://artifacts/lineage (copy)/abc.json", "ab" * 32).properties()


def test_empty_maps_are_missing_lineage_as_empty_text_is() -> None:
    lineage = {"lineage.hyperparameters": {}, "lineage.library_versions": {"numpy": "2"}, "lineage.seed": " "}

    missing = missing_lineage(lineage)

    assert "lineage.hyperparameters" in missing
    assert "lineage.seed" in missing
    assert "lineage.library_versions" not in missing
