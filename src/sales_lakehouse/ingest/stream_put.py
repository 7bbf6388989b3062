"""Put messages on a Kinesis stream or an SQS queue, retrying only what the service rejected.

Kinesis gets ``PutRecords`` calls of up to 500 records (partition key = order_id), SQS
``SendMessageBatch`` calls of up to 10 messages. Both can accept part of a call: only
the entries reported as failed are sent again, with exponential backoff; those still
failing after the last attempt, and those SQS blames on the sender (which sending again
cannot fix), are counted as failed, not raised.

The scheduled API producer (``ingest/api_producer.py``) puts its pages with it, and so
does the load-test producer of the tools (``sales_lakehouse_tools.producer``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Protocol

KINESIS_BATCH = 500
SQS_BATCH = 10


@dataclass(frozen=True)
class Message:
    """One message to send: its body, the partition key (order_id) and what it is."""

    body: str
    partition_key: str
    kind: str  # "good", "bad" or "duplicate"


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


@dataclass(frozen=True)
class Pacing:
    """Retry and rate settings; ``sleep`` and ``clock`` are injectable for tests."""

    rate: float | None = None
    attempts: int = 5
    backoff: float = 0.1
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


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


def chunks(items: Iterable[Message], size: int) -> Iterator[list[Message]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk
