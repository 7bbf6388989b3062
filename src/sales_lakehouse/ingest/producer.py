"""Send generated sale events to a Kinesis stream or an SQS queue, as the source APIs would.

Kinesis gets ``PutRecords`` calls of up to 500 records (partition key = order_id), SQS
``SendMessageBatch`` calls of up to 10 messages. Both can accept part of a call: only
the entries reported as failed are sent again, with exponential backoff; those still
failing after the last attempt, and those SQS blames on the sender (which sending again
cannot fix), are counted as failed, not raised.

``KinesisTarget`` and :func:`send_with_retries` are also what the scheduled API producer
(``ingest/api_producer.py``) puts its pages with.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Protocol

from sales_lakehouse.ingest.events import Message, messages

KINESIS_BATCH = 500
SQS_BATCH = 10


@dataclass(frozen=True)
class Rejected:
    """The messages of one call that the service did not take: worth a retry, or not.

    ``reasons``: the service's error code of each rejected message, for error messages.
    """

    retry: list[Message] = field(default_factory=list)
    permanent: list[Message] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


class Target(Protocol):
    """A destination that takes a batch of messages and says which it rejected."""

    batch_size: int

    def send(self, batch: Sequence[Message]) -> Rejected: ...


class KinesisTarget:
    """PutRecords to one stream; the response lists an ErrorCode per rejected record."""

    batch_size = KINESIS_BATCH

    def __init__(self, kinesis: Any, stream: str) -> None:
        self._kinesis = kinesis
        self._stream = stream

    def send(self, batch: Sequence[Message]) -> Rejected:
        """Throttled or internal-failure records are worth retrying; Kinesis has no others."""
        response = self._kinesis.put_records(
            StreamName=self._stream,
            Records=[
                {"Data": message.body.encode("utf-8"), "PartitionKey": message.partition_key}
                for message in batch
            ],
        )
        if not response.get("FailedRecordCount"):
            return Rejected()
        failed = [
            (message, result["ErrorCode"])
            for message, result in zip(batch, response["Records"], strict=True)
            if "ErrorCode" in result
        ]
        return Rejected(retry=[message for message, _ in failed], reasons=[c for _, c in failed])


class SqsTarget:
    """SendMessageBatch to one queue; the response lists the failed entry ids."""

    batch_size = SQS_BATCH

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def send(self, batch: Sequence[Message]) -> Rejected:
        """Entries SQS marks as the sender's fault are permanent; the others are retried."""
        response = self._sqs.send_message_batch(
            QueueUrl=self._queue_url,
            Entries=[{"Id": str(index), "MessageBody": m.body} for index, m in enumerate(batch)],
        )
        rejected = Rejected()
        for entry in response.get("Failed", []):
            kept = rejected.permanent if entry.get("SenderFault") else rejected.retry
            kept.append(batch[int(entry["Id"])])
            rejected.reasons.append(str(entry.get("Code", "unknown")))
        return rejected


@dataclass
class ProduceSummary:
    """Messages accepted by the service, given up on, and how many were bad or duplicates."""

    sent: int = 0
    failed: int = 0
    bad: int = 0
    duplicates: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        return (
            f"sent {self.sent}, failed {self.failed}, bad {self.bad}, "
            f"duplicates {self.duplicates} in {self.seconds:.1f}s ({rate:.0f}/s)"
        )


@dataclass(frozen=True)
class Pacing:
    """Retry and rate settings; ``sleep`` and ``clock`` are injectable for tests."""

    rate: float | None = None
    attempts: int = 5
    backoff: float = 0.1
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def produce(
    target: Target,
    count: int,
    *,
    seed: int = 7,
    bad_share: float = 0.0,
    duplicate_share: float = 0.0,
    start: datetime | None = None,
    pacing: Pacing | None = None,
    progress: Callable[[ProduceSummary], None] | None = None,
) -> ProduceSummary:
    """Generate ``count`` messages and send them in batches; return what happened."""
    if count < 0:
        raise ValueError("count must be 0 or more")
    pacing = pacing or Pacing()
    if pacing.rate is not None and pacing.rate <= 0:
        raise ValueError("rate must be above 0 events per second")
    summary = ProduceSummary()
    began = pacing.clock()
    stream = messages(count, seed, start or datetime.now(UTC), bad_share, duplicate_share)
    size = (
        target.batch_size
        if pacing.rate is None
        else max(1, min(target.batch_size, int(pacing.rate)))
    )
    for batch in _chunks(stream, size):
        _wait_for_rate(pacing, began, summary.sent + summary.failed + len(batch))
        failed = send_with_retries(target, batch, pacing)
        summary.sent += len(batch) - len(failed)
        summary.failed += len(failed)
        summary.bad += sum(1 for m in batch if m.kind == "bad")
        summary.duplicates += sum(1 for m in batch if m.kind == "duplicate")
        summary.seconds = pacing.clock() - began
        if progress is not None:
            progress(summary)
    summary.seconds = pacing.clock() - began
    return summary


def send_with_retries(target: Target, batch: Sequence[Message], pacing: Pacing) -> list[Message]:
    """Send a batch, then only its retryable rejects again with backoff; return the failed."""
    pending, given_up = list(batch), []
    for attempt in range(pacing.attempts):
        if attempt:
            pacing.sleep(pacing.backoff * 2 ** (attempt - 1))
        rejected = target.send(pending)
        given_up += rejected.permanent
        pending = rejected.retry
        if not pending:
            break
    return given_up + pending


def _wait_for_rate(pacing: Pacing, began: float, total: int) -> None:
    """Sleep until ``total`` messages (this batch included) fit in ``rate`` per second."""
    if pacing.rate is None:
        return
    ahead = total / pacing.rate - (pacing.clock() - began)
    if ahead > 0:
        pacing.sleep(ahead)


def _chunks(items: Iterable[Message], size: int) -> Iterator[list[Message]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
