"""Where the consumer writes: one NDJSON object of landed events per batch (per event when
the batch's put failed, see processor.py), one of quarantined records per batch, under
keys that depend only on their content.

Keys are ``<prefix>/sales_events/ingest_date=<d>/<sha256>.json`` and
``<prefix>/_quarantine/sales_events/ingest_date=<d>/<sha256>.json``. The hash covers
the sorted event ids (landed) or the sorted record ids, SQS message ids or Kinesis
sequence numbers (quarantine, where there may be no event id); ``<d>`` is the
UTC date the earliest of those records reached the queue or stream. A batch delivered
again therefore writes the same key with the same bytes: an overwrite, not a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from sales_lakehouse.ingest.model import DATASET
from sales_lakehouse.ingest.records import ReadRecord


@dataclass(frozen=True)
class Landed:
    """What landed objects hold: their keys, the unique events, and duplicates dropped."""

    keys: list[str]
    events: list[dict[str, Any]]
    duplicates: int

    @staticmethod
    def combine(parts: Sequence[Landed]) -> Landed:
        return Landed(
            [key for part in parts for key in part.keys],
            [event for part in parts for event in part.events],
            sum(part.duplicates for part in parts),
        )


def content_key(prefix: str, folder: str, records: Sequence[ReadRecord], ids: list[str]) -> str:
    """``<prefix>/<folder>/ingest_date=<d>/<sha256 of sorted ids>.json``."""
    day = min(record.arrived_at for record in records).date().isoformat()
    digest = hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()
    return f"{prefix}/{folder}/ingest_date={day}/{digest}.json"


def unique_events(records: Sequence[ReadRecord]) -> tuple[list[ReadRecord], int]:
    """First record of each event id in delivery order, and how many repeats were dropped."""
    seen: dict[str, ReadRecord] = {}
    for record in records:
        seen.setdefault(record.event_id, record)
    return list(seen.values()), len(records) - len(seen)


def events_body(records: Sequence[ReadRecord]) -> bytes:
    """Newline-delimited JSON, one validated event per line, in contract column order."""
    return b"".join(to_json(record.event) + b"\n" for record in records)


def quarantine_body(records: Sequence[ReadRecord], source: str) -> bytes:
    """Newline-delimited JSON, one invalid record per line: raw body, error, provenance."""
    lines = (
        json.dumps(
            {
                "source": source,
                "record_id": record.record_id,
                "arrived_at": record.arrived_at.isoformat(),
                "error": record.error,
                "raw": record.raw,
            },
            ensure_ascii=False,
        )
        + "\n"
        for record in records
    )
    return "".join(lines).encode("utf-8")


class S3Sink:
    """Writes landed and quarantined batches to the landing bucket."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix

    def land(self, records: Sequence[ReadRecord]) -> Landed:
        """Put the batch's valid events (deduplicated on event_id) as one object."""
        unique, duplicates = unique_events(records)
        ids = [record.event_id for record in unique]
        key = content_key(self._prefix, DATASET, unique, ids)
        self._put(key, events_body(unique))
        return Landed([key], [record.event for record in unique if record.event], duplicates)

    def quarantine(self, records: Sequence[ReadRecord], source: str) -> str:
        """Put the batch's invalid records with their errors as one object."""
        ids = [record.record_id for record in records]
        key = content_key(self._prefix, f"_quarantine/{DATASET}", records, ids)
        self._put(key, quarantine_body(records, source))
        return key

    def _put(self, key: str, body: bytes) -> None:
        self._s3.put_object(
            Bucket=self._bucket, Key=key, Body=body, ContentType="application/x-ndjson"
        )
