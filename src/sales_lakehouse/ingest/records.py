"""One delivered record, read and validated: a valid sale event or an invalid one.

SQS and Kinesis records differ only in where the body, the record id and the arrival
time are; past :func:`read_record` the consumer treats both alike. An invalid event is
a value, not an exception: it is quarantined and must not be retried.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from sales_lakehouse.ingest.model import SaleEvent

SourceRecord = SQSRecord | KinesisStreamRecord


@dataclass(frozen=True)
class ReadRecord:
    """A delivered record after validation: exactly one of ``event`` and ``error`` is set.

    ``record`` is kept so a record can still be reported as failed after a batch write.
    """

    record: SourceRecord
    record_id: str
    arrived_at: datetime
    raw: str
    event: dict[str, Any] | None = None
    error: str | None = None

    @property
    def event_id(self) -> str:
        if self.event is None:
            raise ValueError(f"record {self.record_id} holds no valid event")
        return str(self.event["event_id"])


def read_record(record: SourceRecord) -> ReadRecord:
    """Decode, parse and validate one SQS or Kinesis record against the event contract."""
    if isinstance(record, KinesisStreamRecord):
        record_id = record.kinesis.sequence_number
        arrived_at = _from_epoch(record.kinesis.approximate_arrival_timestamp)
        raw, error = _kinesis_text(record.kinesis.data)
    else:
        record_id = record.message_id
        arrived_at = _from_epoch(int(record.attributes.sent_timestamp) / 1000)
        raw, error = record.body, None
    if error is None:
        event, error = validate_event(raw)
        if event is not None:
            return ReadRecord(record, record_id, arrived_at, raw, event=event)
    return ReadRecord(record, record_id, arrived_at, raw, error=error)


def validate_event(raw: str) -> tuple[dict[str, Any] | None, str | None]:
    """(event, None) for a valid JSON sale event, else (None, why it is invalid).

    JSON numbers are read as exact decimals so money never passes through a float.
    """
    try:
        payload = json.loads(raw, parse_float=Decimal)
    except (json.JSONDecodeError, RecursionError) as error:
        return None, f"invalid JSON: {error}"
    if not isinstance(payload, dict):
        return None, f"invalid event: expected a JSON object, got {type(payload).__name__}"
    try:
        event = SaleEvent.model_validate(payload)
    except ValidationError as error:
        return None, "invalid event: " + _errors_text(error)
    return dict(event), None


def _errors_text(error: ValidationError) -> str:
    """One line per field problem, e.g. ``quantity: Input should be greater than ...``."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "event"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _kinesis_text(data: str) -> tuple[str, str | None]:
    """The record's data as text, or its base64 form and why it could not be decoded."""
    try:
        return base64.b64decode(data, validate=True).decode("utf-8"), None
    except (binascii.Error, ValueError) as error:
        return data, f"undecodable Kinesis data (kept as base64): {error}"


def _from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
