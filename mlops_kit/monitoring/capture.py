"""Find and read an endpoint's data-capture files for a time window (standard library only: Lambda uses it too).

SageMaker writes capture under the endpoint's ``DestinationS3Uri`` as
``<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl``, the hour being the UTC hour the file was
written. Drift monitoring reads the production variants only: the shadow variant (``shadow``) answers copies
of the same requests, so counting it would count each request twice.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

SHADOW_VARIANT = "shadow"
# A file is named for the hour it was written, and holds records up to a few minutes older (SageMaker
# buffers capture), so the hour before the window is listed too; the job filters by each record's time.
_BUFFER_HOURS = 1
_HOUR_FORMAT = "%Y/%m/%d/%H"
_HOUR_FOLDER = re.compile(r"\d{4}/\d{2}/\d{2}/\d{2}/")


@dataclass(frozen=True)
class CaptureObject:
    """One capture file: its key, size in bytes and variant."""

    key: str
    size: int
    variant: str


@dataclass(frozen=True)
class CaptureListing:
    """The capture files of a window (sorted by key) and where they are."""

    bucket: str
    objects: tuple[CaptureObject, ...]
    variants: tuple[str, ...]

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects)

    @property
    def count(self) -> int:
        return len(self.objects)


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix without slashes at its ends); raises ValueError otherwise."""
    if not uri.startswith("s3://") or not uri.removeprefix("s3://").split("/", 1)[0]:
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC; raises ValueError for naive datetimes (the window must be unambiguous)."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; drift windows are in UTC")
    return moment.astimezone(dt.UTC)


def _hour_span(start: dt.datetime, end: dt.datetime) -> tuple[str, str]:
    """The first and the last ``yyyy/mm/dd/hh`` folder that can hold records of ``[start, end)`` (one hour before it
    included). Raises ValueError when ``start`` is not before ``end``."""
    start, end = utc(start), utc(end)
    if start >= end:
        raise ValueError(f"window start {start.isoformat()} must be before its end {end.isoformat()}")
    first = start.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=_BUFFER_HOURS)
    last = (end - dt.timedelta(microseconds=1)).replace(minute=0, second=0, microsecond=0)
    return first.strftime(_HOUR_FORMAT), last.strftime(_HOUR_FORMAT)


def endpoint_prefix(destination: str, endpoint: str) -> tuple[str, str]:
    """(bucket, ``<prefix>/<endpoint>/``) of an endpoint's capture under ``destination`` (an S3 URI)."""
    bucket, prefix = split_uri(destination)
    return bucket, f"{prefix}/{endpoint}/".lstrip("/")


def list_capture(
    s3: Any,
    destination: str,
    endpoint: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    exclude_variants: Sequence[str] = (SHADOW_VARIANT,),
) -> CaptureListing:
    """The capture files of ``endpoint`` that may hold records of ``[start, end)``, shadow variants excluded.

    ``s3`` is a boto3 S3 client. An endpoint that never captured anything gives an empty listing.

    Each variant is one listing, from the window's first hour folder (``StartAfter``) to its last: keys come in
    order and the folders sort as times do, so the listing stops at the first key past the window. Its cost is the
    window's files, not its length: one request per hour folder made a year's window 8,760 requests per variant.
    """
    bucket, prefix = endpoint_prefix(destination, endpoint)
    first, last = _hour_span(start, end)
    paginator = s3.get_paginator("list_objects_v2")
    variants = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        variants += [p["Prefix"][len(prefix) :].strip("/") for p in page.get("CommonPrefixes", [])]
    variants = sorted(v for v in variants if v and v not in exclude_variants)
    objects = []
    for variant in variants:
        listed = _hour_folders_listing(paginator, bucket, f"{prefix}{variant}/", first, last)
        objects += [CaptureObject(item["Key"], int(item["Size"]), variant) for item in listed]
    return CaptureListing(bucket=bucket, objects=tuple(sorted(objects, key=lambda o: o.key)), variants=tuple(variants))


def _hour_folders_listing(paginator: Any, bucket: str, base: str, first: str, last: str) -> Iterator[dict[str, Any]]:
    """The listed objects under ``base`` in the hour folders ``first`` to ``last``: one listing from ``first`` on,
    ended at the first key past ``last`` (keys come in order, and the folders sort as times do)."""
    for page in paginator.paginate(Bucket=bucket, Prefix=base, StartAfter=base + first):
        for item in page.get("Contents", []):
            folder = item["Key"][len(base) : len(base) + 14]  # "yyyy/mm/dd/hh/" in capture's layout
            if folder[:13] > last:
                return
            if _HOUR_FOLDER.fullmatch(folder):
                yield item


def read_lines(s3: Any, listing: CaptureListing, *, workers: int = 16) -> Iterator[tuple[CaptureObject, bytes]]:
    """Every non-blank line of every file in ``listing`` (fetched concurrently, yielded in key order).

    ``.gz`` files are decompressed. Raises the client's error when a file cannot be read.
    """
    import gzip

    def fetch(item: CaptureObject) -> bytes:
        body: bytes = s3.get_object(Bucket=listing.bucket, Key=item.key)["Body"].read()
        return gzip.decompress(body) if item.key.endswith(".gz") else body

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for item, body in zip(listing.objects, pool.map(fetch, listing.objects), strict=True):
            for line in body.splitlines():
                if line.strip():
                    yield item, line
