"""What the promotion workflow and A/B tests leave on SageMaker, and what of it may go.

Models and endpoint configs are created at runtime (never by CloudFormation), named
``<endpoint prefix>-<label>-<digest>`` by :func:`mlops_kit.serving.deploy.unique_name`. The label says who made
one: the promotion workflow's configs are ``direct``, ``shadow``, ``canary``, ``final`` and ``guarded``, its
models ``v<version>-<slot>``; A/B tests make ``ab`` configs and ``v<version>-<slot>-ab`` models. Nothing here
calls AWS: :class:`mlops_kit.serving.deploy.EndpointDeployer` lists and deletes, these functions choose.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from mlops_kit.serving.deploy import DIGEST_LENGTH, resource_prefix

PROMOTION_CONFIG_LABELS = frozenset({"direct", "shadow", "canary", "final", "guarded"})
ABTEST_CONFIG_LABELS = frozenset({"ab"})
_PROMOTION_MODEL = re.compile(r"v\d+-(blue|green)")
_ABTEST_MODEL = re.compile(r"v\d+-(blue|green)-ab")


def label_of(endpoint_name: str, name: str) -> str | None:
    """The label of a model or config name the kit gave for ``endpoint_name`` (None when the name is not one:
    another endpoint's, or made by hand)."""
    prefix = resource_prefix(endpoint_name)
    match = re.fullmatch(rf"{re.escape(prefix)}-(?P<label>[a-zA-Z0-9-]+)-[0-9a-f]{{{DIGEST_LENGTH}}}", name)
    return match.group("label") if match else None


def is_promotion_config(endpoint_name: str, name: str) -> bool:
    return label_of(endpoint_name, name) in PROMOTION_CONFIG_LABELS


def is_kit_config(endpoint_name: str, name: str) -> bool:
    """A config the promotion workflow or an A/B test made for this endpoint."""
    return label_of(endpoint_name, name) in PROMOTION_CONFIG_LABELS | ABTEST_CONFIG_LABELS


def is_kit_model(endpoint_name: str, name: str) -> bool:
    """A model the promotion workflow or an A/B test made for this endpoint."""
    label = label_of(endpoint_name, name) or ""
    return bool(_PROMOTION_MODEL.fullmatch(label) or _ABTEST_MODEL.fullmatch(label))


@dataclass(frozen=True)
class Unused:
    """Endpoint configs and models that may be deleted, in the order to delete them (configs first)."""

    configs: tuple[str, ...]
    models: tuple[str, ...]

    def to_dict(self) -> dict[str, list[str]]:
        return {"configs": list(self.configs), "models": list(self.models)}


def unused_after_promotion(
    endpoint_name: str,
    configs: Mapping[str, Sequence[str]],
    models: Iterable[str],
    *,
    keep: Iterable[str],
) -> Unused:
    """What a successful promotion may delete.

    ``configs`` maps every endpoint config of the endpoint to the models its variants (production and shadow)
    use; ``models`` are every model of the endpoint; ``keep`` are configs that must stay. Kept are: ``keep``
    (the caller passes the config the endpoint serves and the one the promotion started from), every config not
    made by the promotion workflow (an A/B test's, one made by hand), and every model a kept config uses.
    Deleted are the promotion workflow's other configs and its models no kept config uses. Models and configs
    not named by the kit for this endpoint are never chosen.
    """
    kept = set(keep)
    doomed = sorted(n for n in configs if n not in kept and is_promotion_config(endpoint_name, n))
    in_use = {model for name, used in configs.items() if name not in doomed for model in used}
    unused_models = sorted(
        m for m in set(models) if m not in in_use and _PROMOTION_MODEL.fullmatch(label_of(endpoint_name, m) or "")
    )
    return Unused(tuple(doomed), tuple(unused_models))


def everything_of(endpoint_name: str, configs: Iterable[str], models: Iterable[str]) -> Unused:
    """What tearing the endpoint down deletes: every config and model the kit made for it (promotions and A/B
    tests), and nothing else a name search happened to find."""
    return Unused(
        tuple(sorted(n for n in set(configs) if is_kit_config(endpoint_name, n))),
        tuple(sorted(m for m in set(models) if is_kit_model(endpoint_name, m))),
    )
