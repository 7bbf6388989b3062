"""A Powertools ``BatchProcessor`` that validates per record and writes once per batch.

Powertools calls the record handler once per record and turns the records that raised
into ``batchItemFailures`` when its context manager exits, after :meth:`process`
returns. This processor lets the record handler only read and validate (an invalid
event is a result, not an exception), then, still inside :meth:`process`, writes all
valid events as one S3 object and all invalid ones as one quarantine object. If the
landing put fails, each event is then landed as an object of its own, so that only the
events whose own put fails are retried (a put failing for a few records does not send
the whole batch back). A record whose write raises moves from the successes to the
failures through the documented ``failure_handler`` hook, so exactly those records are
retried and no exception is lost into an empty failure list.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from sales_lakehouse.ingest.observability import logger
from sales_lakehouse.ingest.records import ReadRecord, SourceRecord, read_record
from sales_lakehouse.ingest.sink import Landed, S3Sink

SOURCES = {EventType.SQS: "sqs", EventType.KinesisDataStreams: "kinesis"}

T = TypeVar("T")


@dataclass
class BatchSummary:
    """What one invocation did: the basis of its metrics and alerts."""

    received: int = 0
    landed: Landed | None = None
    quarantine_key: str | None = None
    quarantined: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def landed_events(self) -> list[dict[str, Any]]:
        return self.landed.events if self.landed else []


def record_handler(record: SourceRecord) -> ReadRecord:
    """Powertools record handler: read and validate only; writing is per batch."""
    return read_record(record)


class LandingBatchProcessor(BatchProcessor):
    """Partial batch responses for SQS or Kinesis, with one S3 write per batch."""

    def __init__(self, event_type: EventType, sink: S3Sink) -> None:
        # Report every record when all fail (e.g. the bucket is gone) instead of raising:
        # the response then names them all, and Lambda retries exactly those.
        super().__init__(event_type, raise_on_entire_batch_failure=False)
        self.source = SOURCES[event_type]
        self._sink = sink
        self.summary = BatchSummary()

    def _prepare(self) -> None:
        super()._prepare()  # type: ignore[no-untyped-call]
        self.summary = BatchSummary()

    def process(self) -> list[tuple[Any, ...]]:
        """Validate every record, then land the valid and quarantine the invalid ones."""
        results = super().process()
        self.summary.received = len(results)
        read = [result[1] for result in results if result[0] == "success"]
        valid = [item for item in read if item.event is not None]
        invalid = [item for item in read if item.event is None]
        failed: dict[int, tuple[Any, ...]] = {}
        self.summary.landed = self._land(valid, failed)
        key = self._write(invalid, self._quarantine, failed)
        if key is not None:
            self.summary.quarantine_key = key
            self.summary.quarantined = len(invalid)
        self.summary.failed = len(self.fail_messages)
        return [failed.get(id(result[2]), result) for result in results]

    def _land(
        self, valid: Sequence[ReadRecord], failed: dict[int, tuple[Any, ...]]
    ) -> Landed | None:
        """Land the valid events as one object; if that put fails, land each event (with
        its repeats in the batch) on its own, reporting only the events whose put fails."""
        if not valid:
            return None
        try:
            return self._sink.land(valid)
        except Exception as error:  # retried below, event by event
            logger.warning(
                "batch put failed; landing its events one by one",
                extra={"error": f"{type(error).__name__}: {error}"},
            )
            self.summary.errors.append(f"{type(error).__name__}: {error}")
        by_event: dict[str, list[ReadRecord]] = {}
        for item in valid:
            by_event.setdefault(item.event_id, []).append(item)
        parts = [self._write(group, self._sink.land, failed) for group in by_event.values()]
        landed = [part for part in parts if part is not None]
        return Landed.combine(landed) if landed else None

    def _quarantine(self, group: Sequence[ReadRecord]) -> str:
        return self._sink.quarantine(group, self.source)

    def _write(
        self,
        group: Sequence[ReadRecord],
        write: Callable[[Sequence[ReadRecord]], T],
        failed: dict[int, tuple[Any, ...]],
    ) -> T | None:
        """Run one batch write; if it raises, report each record of the group as failed.

        ``failed`` collects the new failure entries by the id of their raw record.
        """
        if not group:
            return None
        try:
            return write(group)
        except Exception as error:  # any failure of the put: the records must be retried
            logger.exception("batch write failed; its records are reported for retry")
            self.summary.errors.append(f"{type(error).__name__}: {error}")
            exc_info = sys.exc_info()
            carried = {id(item.record.raw_event) for item in group}
            self.success_messages = [
                message for message in self.success_messages if id(message) not in carried
            ]
            for item in group:
                entry = self.failure_handler(record=item.record, exception=exc_info)
                failed[id(item.record.raw_event)] = entry
            return None
