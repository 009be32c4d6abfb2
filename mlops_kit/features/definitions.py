"""Feature group definitions: declared once in code, versioned by a hash of their content.

A :class:`FeatureGroup` names an entity key (one or more typed columns), typed features, the event-time
column, an optional created-time column and a TTL. Its :attr:`FeatureGroup.version` is a stable hash of
everything that changes what the stored values mean (keys, feature names and types, time columns, TTL), not of
documentation (description, owner, tags), so rewording a description does not invalidate a training set.

Feature references are ``"<group>:<feature>"`` strings; a :class:`FeatureRegistry` resolves them and fails
with :class:`UnknownFeatureError` naming what exists.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Columns the stores add to every offline row and online item; feature and key names may not use them.
RESERVED_PREFIX = "__"
RESERVED_NAMES = frozenset({"date"})


class FeatureStoreError(ValueError):
    """Base class of the feature store's input errors: the message says what to change."""


class DefinitionError(FeatureStoreError):
    """A feature group definition is invalid (bad name, duplicate column, unsupported type)."""


class InvalidRecordsError(FeatureStoreError):
    """Input rows (records, labels, entities) do not match their feature group; nothing was written."""


class UnknownFeatureError(FeatureStoreError, KeyError):
    """A feature reference names a group or feature that is not defined."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class ValueType(enum.StrEnum):
    """The value types a feature (or entity key column) can have; every one round-trips exactly."""

    INT64 = "int64"
    FLOAT64 = "float64"  # NaN and +/-inf included
    STRING = "string"
    BOOL = "bool"
    TIMESTAMP = "timestamp"  # timezone-aware, microsecond precision, stored in UTC
    INT64_LIST = "int64_list"
    FLOAT64_LIST = "float64_list"

    @property
    def is_list(self) -> bool:
        return self in (ValueType.INT64_LIST, ValueType.FLOAT64_LIST)


KEY_TYPES = (ValueType.STRING, ValueType.INT64)


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name) or name.startswith(RESERVED_PREFIX) or name in RESERVED_NAMES:
        raise DefinitionError(
            f"{kind} name {name!r} must match {_NAME.pattern} and not be reserved "
            f"(names starting with '{RESERVED_PREFIX}', {sorted(RESERVED_NAMES)})"
        )


@dataclass(frozen=True)
class Feature:
    """One typed feature of a group."""

    name: str
    dtype: ValueType
    description: str = ""

    def __post_init__(self) -> None:
        _check_name("feature", self.name)
        object.__setattr__(self, "dtype", ValueType(self.dtype))


@dataclass(frozen=True)
class EntityKey:
    """One column of an entity key: a string or an int64 (other types are not valid keys)."""

    name: str
    dtype: ValueType = ValueType.STRING

    def __post_init__(self) -> None:
        _check_name("entity key column", self.name)
        object.__setattr__(self, "dtype", ValueType(self.dtype))
        if self.dtype not in KEY_TYPES:
            raise DefinitionError(f"entity key column {self.name!r}: type must be one of {list(KEY_TYPES)}")


@dataclass(frozen=True)
class FeatureGroup:
    """A set of features about one entity, written together, each record stamped with its event time.

    ``ttl`` (optional) bounds how old a value may be when used: point-in-time joins ignore values older than
    label time minus ``ttl`` and online reads return an expired value as missing. ``None`` means values never
    expire. ``created_time_column`` (optional) breaks ties between records with the same event time (the
    later created wins) and supports excluding backfilled values from training sets.
    """

    name: str
    entity_keys: tuple[EntityKey, ...]
    features: tuple[Feature, ...]
    event_time_column: str = "event_timestamp"
    created_time_column: str | None = None
    ttl: dt.timedelta | None = None
    description: str = ""
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("feature group", self.name)
        object.__setattr__(self, "entity_keys", tuple(self.entity_keys))
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "tags", dict(self.tags))
        if not self.entity_keys:
            raise DefinitionError(f"feature group {self.name!r} needs at least one entity key column")
        if not self.features:
            raise DefinitionError(f"feature group {self.name!r} needs at least one feature")
        _check_name("event time column", self.event_time_column)
        if self.created_time_column is not None:
            _check_name("created time column", self.created_time_column)
        columns = [*self.key_names, *self.feature_names, self.event_time_column]
        if self.created_time_column:
            columns.append(self.created_time_column)
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise DefinitionError(f"feature group {self.name!r}: columns used twice: {duplicates}")
        if self.ttl is not None and self.ttl <= dt.timedelta(0):
            raise DefinitionError(f"feature group {self.name!r}: ttl must be positive or None, got {self.ttl}")
        if self.ttl is not None and self.ttl % dt.timedelta(microseconds=1):
            raise DefinitionError(f"feature group {self.name!r}: ttl must be a whole number of microseconds")

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.entity_keys)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def ttl_us(self) -> int | None:
        """The TTL in microseconds, or ``None`` when values never expire."""
        return None if self.ttl is None else self.ttl // dt.timedelta(microseconds=1)

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise UnknownFeatureError(
            f"feature group {self.name!r} has no feature {name!r}; features: {list(self.feature_names)}"
        )

    def content(self) -> dict[str, object]:
        """What the version hashes: everything that changes the meaning of stored values."""
        return {
            "name": self.name,
            "entity_keys": [[k.name, k.dtype.value] for k in self.entity_keys],
            "features": [[f.name, f.dtype.value] for f in self.features],
            "event_time_column": self.event_time_column,
            "created_time_column": self.created_time_column,
            "ttl_us": self.ttl_us,
        }

    @cached_property
    def feature_types(self) -> dict[str, ValueType]:
        return {f.name: f.dtype for f in self.features}

    @cached_property
    def version(self) -> str:
        """A stable 16-hex-digit hash of :meth:`content` (canonical JSON, SHA-256)."""
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class FeatureRef:
    """``group:feature``; ``column`` is the name it gets in training sets and online results."""

    group: str
    feature: str

    @classmethod
    def parse(cls, ref: str | FeatureRef) -> FeatureRef:
        if isinstance(ref, FeatureRef):
            return ref
        group, sep, feature = str(ref).partition(":")
        if not sep or not group or not feature or ":" in feature:
            raise UnknownFeatureError(f"feature reference {ref!r} is not of the form 'group:feature'")
        return cls(group, feature)

    def __str__(self) -> str:
        return f"{self.group}:{self.feature}"

    def column(self, full_names: bool = False) -> str:
        return f"{self.group}__{self.feature}" if full_names else self.feature


@dataclass(frozen=True)
class ResolvedRefs:
    """Feature references grouped by feature group, in the caller's order, with their output columns."""

    refs: tuple[FeatureRef, ...]
    groups: tuple[FeatureGroup, ...]  # in order of first reference
    full_names: bool

    def features_of(self, group: str) -> list[str]:
        return [r.feature for r in self.refs if r.group == group]

    def columns_of(self, group: str) -> list[str]:
        return [r.column(self.full_names) for r in self.refs if r.group == group]

    @property
    def columns(self) -> list[str]:
        return [r.column(self.full_names) for r in self.refs]


class FeatureRegistry:
    """The feature groups a deployment knows, by name."""

    def __init__(self, groups: Iterable[FeatureGroup]) -> None:
        self._groups: dict[str, FeatureGroup] = {}
        for group in groups:
            if group.name in self._groups:
                raise DefinitionError(f"feature group {group.name!r} is defined twice")
            self._groups[group.name] = group

    def __iter__(self) -> Iterator[FeatureGroup]:
        return iter(self._groups.values())

    def __len__(self) -> int:
        return len(self._groups)

    def __contains__(self, name: object) -> bool:
        return name in self._groups

    def group(self, name: str) -> FeatureGroup:
        try:
            return self._groups[name]
        except KeyError:
            raise UnknownFeatureError(
                f"unknown feature group {name!r}; defined groups: {sorted(self._groups)}"
            ) from None

    def versions(self) -> dict[str, str]:
        return {name: group.version for name, group in sorted(self._groups.items())}

    def resolve(self, refs: Sequence[str | FeatureRef], *, full_names: bool = False) -> ResolvedRefs:
        """Check every reference exists; fail on duplicates and (without ``full_names``) on column clashes."""
        if not refs:
            raise UnknownFeatureError("no feature references given")
        parsed = [FeatureRef.parse(r) for r in refs]
        groups: dict[str, FeatureGroup] = {}
        for ref in parsed:
            group = self.group(ref.group)
            group.feature(ref.feature)
            groups.setdefault(group.name, group)
        seen: dict[str, FeatureRef] = {}
        for ref in parsed:
            column = ref.column(full_names)
            if column in seen:
                hint = "" if full_names else "; pass full_names=True to name columns '<group>__<feature>'"
                raise FeatureStoreError(f"{seen[column]} and {ref} both give the column {column!r}{hint}")
            seen[column] = ref
        return ResolvedRefs(tuple(parsed), tuple(groups.values()), full_names)
