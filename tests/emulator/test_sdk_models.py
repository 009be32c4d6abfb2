"""botocore's models are parsed once per process while an emulator runs, and every client still works."""

from __future__ import annotations

import inspect

import boto3
import botocore.loaders

from mlops_local.emulator import Emulator
from mlops_local.sdk_models import PATCH_POINTS

# The methods botocore's instance_cache wraps, with the parameters the patch passes through unchanged.
WRAPPED = {
    "list_available_services": "(self, type_name)",
    "load_service_model": "(self, service_name, type_name, api_version=None)",
    "load_data_with_path": "(self, name)",
}


def test_the_patched_loader_methods_wrap_the_parameters_recorded() -> None:
    assert {p.attribute.rpartition(".")[2] for p in PATCH_POINTS} == set(WRAPPED)
    for method, parameters in WRAPPED.items():
        wrapper = botocore.loaders.Loader.__dict__[method]
        (wrapped,) = (c.cell_contents for c in wrapper.__closure__ or () if inspect.isfunction(c.cell_contents))
        assert str(inspect.signature(wrapped)) == parameters, method


def test_sessions_share_one_parsed_model_and_their_clients_work(emulator: Emulator) -> None:
    first, second = (emulator.session().client("sagemaker") for _ in range(2))

    assert first.meta.service_model._service_description is second.meta.service_model._service_description
    assert second.list_models()["Models"] == []
    assert sorted(emulator.session().get_available_services()) == sorted(boto3.Session().get_available_services())


def test_a_loader_with_other_search_paths_reads_its_own_files(emulator: Emulator, tmp_path) -> None:
    (tmp_path / "only-here" / "2020-01-01").mkdir(parents=True)
    (tmp_path / "only-here" / "2020-01-01" / "service-2.json").write_text('{"metadata": {}, "operations": {}}')
    default = emulator.session()._session.get_component("data_loader")
    extra = botocore.loaders.Loader(extra_search_paths=[str(tmp_path)])

    assert "only-here" in extra.list_available_services("service-2")
    assert "only-here" not in default.list_available_services("service-2")
