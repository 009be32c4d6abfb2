"""botocore's API models are parsed once per process while an emulator runs, not once per session.

Every boto3 session reads and parses botocore's JSON data again: the endpoints and partitions files when its first
client resolves an endpoint, and each service's model (several MB for SageMaker) for its first client of that
service. The kit's code makes sessions freely (the emulator one per client set, each CLI command one, Lambda
handlers their own), and the tests start an emulator per test, so parsing the same files again took a quarter of the
emulator and integration tests' CPU (145 s of 571 s, sampled with py-spy). The files ship with botocore and do not
change while a process runs, and botocore already treats a parsed model as shared and read-only (every client of a
session gets the same object; the only in-place change, merging a service's ``sdk-extras``, is idempotent), so one
parse shared by every session keeps botocore's own contract.
"""

from __future__ import annotations

from typing import Any

from mlops_local.patching import Patcher, PatchPoint


def _loader_point(method: str, what: str) -> PatchPoint:
    # botocore wraps these in its instance_cache decorator, whose signature is generic; the contract test also
    # checks the parameters of the method it wraps (tests/emulator/test_sdk_models.py).
    return PatchPoint(
        name=f"botocore-{method.replace('_', '-')}-once",
        module="botocore.loaders",
        attribute=f"Loader.{method}",
        signature="(self, *args, **kwargs)",
        why=f"each boto3 session's loader {what} again; do it once per process",
    )


PATCH_POINTS: tuple[PatchPoint, ...] = (
    _loader_point("list_available_services", "lists and stats every service's data folder"),
    _loader_point("load_service_model", "parses each service's model"),
    _loader_point("load_data_with_path", "parses the endpoints and partitions files"),
)

# (method, the loader's search paths, arguments) -> what botocore's loader returned. Process-wide on purpose: it
# outlives one emulator, so the next test's sessions find every model already parsed. Two threads may load the same
# file at once; both results are equal and either may be kept.
_LOADED: dict[tuple[Any, ...], Any] = {}


def _once(method: str, original: Any) -> Any:
    def load(self: Any, *args: Any, **kwargs: Any) -> Any:
        key = (method, tuple(self.search_paths), args, tuple(sorted(kwargs.items())))
        if key not in _LOADED:
            _LOADED.setdefault(key, original(self, *args, **kwargs))
        return _LOADED[key]

    return load


def apply(patcher: Patcher) -> None:
    for point in PATCH_POINTS:
        method = point.attribute.rpartition(".")[2]
        patcher.replace(point, _once(method, point.original()))
