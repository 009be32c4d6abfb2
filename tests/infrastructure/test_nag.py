"""cdk-nag AwsSolutions runs on every synth and every acknowledgement carries a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3

from cdk.nag import acknowledge, enable_checks
from mlops_local.deploy import CloudAssembly


def test_synth_fails_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    stack = Stack(app, "Insecure")
    s3.Bucket(stack, "NoTlsNoLogs")
    enable_checks(app)

    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


def test_an_acknowledgement_needs_a_real_reason(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path))
    bucket = s3.Bucket(Stack(app, "S"), "B")

    with pytest.raises(ValueError, match="needs a real reason"):
        acknowledge(bucket, "AwsSolutions-S1", "because")


def acknowledgements(cloud_assembly: CloudAssembly) -> list[tuple[str, str, str]]:
    """(construct path, rule, reason) of every cdk-nag acknowledgement in the synthesized app."""
    found: list[tuple[str, str, str]] = []
    for metadata_file in Path(cloud_assembly.directory).glob("*.metadata.json"):
        for path, entries in json.loads(metadata_file.read_text()).items():
            for entry in entries:
                if entry.get("type") == "aws:cdk:acknowledged-rules":
                    found.extend((path, rule, reason) for rule, reason in entry["data"].items())
    return found


def test_the_platform_synthesized_with_every_acknowledgement_justified(cloud_assembly: CloudAssembly) -> None:
    # Synthesis succeeding is the zero-unacknowledged-findings check: cdk-nag fails synth otherwise.
    found = acknowledgements(cloud_assembly)

    assert ("/Data/Storage/AccessLogs", "Annotation::AwsSolutions-S1") in {(p, r) for p, r, _ in found}
    for path, rule, reason in found:
        assert len(reason) >= 20, f"{path} {rule}: {reason!r}"
