"""Lambda event payloads shaped as AWS sends them, and the runtime's context object.

The SQS and Kinesis shapes follow the Lambda developer guide's sample events; the
builders also convert real ReceiveMessage / GetRecords answers from the moto server.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class FakeLambdaContext:
    """The attributes of the Lambda runtime's context object that Powertools reads."""

    function_name: str = "sales-events-ingest"
    function_version: str = "$LATEST"
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:sales-events-ingest"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "6f1c1a7e-3c9a-4b8e-9d0b-2b6f0c7e9a11"
    log_group_name: str = "/aws/lambda/sales-events-ingest"
    log_stream_name: str = "2025/03/01/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def sqs_record(
    body: str, message_id: str, sent_ms: int, queue: str = "sales-events", receive_count: int = 1
) -> dict[str, Any]:
    """One record of an SQS event, as Lambda's poller delivers it."""
    return {
        "messageId": message_id,
        "receiptHandle": "AQEB" + hashlib.sha1(message_id.encode()).hexdigest(),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(sent_ms),
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": str(sent_ms + 7),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
        "awsRegion": REGION,
    }


def sqs_event(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": list(records)}


def sqs_event_from_messages(messages: Sequence[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """An SQS Lambda event from a ReceiveMessage answer (AttributeNames=All)."""
    records = []
    for message in messages:
        record = sqs_record(message["Body"], message["MessageId"], 0)
        record["receiptHandle"] = message["ReceiptHandle"]
        record["attributes"] = dict(message["Attributes"])
        record["eventSourceARN"] = queue_arn
        records.append(record)
    return sqs_event(records)


def kinesis_record(
    data: bytes | str,
    sequence_number: str,
    arrival: float,
    partition_key: str = "pk",
    stream: str = "sales-events",
) -> dict[str, Any]:
    """One record of a Kinesis event: the data is base64, as Lambda delivers it."""
    raw = data.encode() if isinstance(data, str) else data
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence_number,
            "data": base64.b64encode(raw).decode("ascii"),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/sales-events-ingest",
        "awsRegion": REGION,
        "eventSourceARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}",
    }


def kinesis_event_from_records(records: Sequence[dict[str, Any]], stream: str) -> dict[str, Any]:
    """A Kinesis Lambda event from a GetRecords answer."""
    return {
        "Records": [
            kinesis_record(
                record["Data"],
                record["SequenceNumber"],
                _epoch(record["ApproximateArrivalTimestamp"]),
                record["PartitionKey"],
                stream,
            )
            for record in records
        ]
    }


def _epoch(value: datetime | float) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def sale(event_id: str, order_id: str = "O-1", **changes: Any) -> dict[str, Any]:
    """A valid sale event as a producer would send it; ``changes`` override fields."""
    event: dict[str, Any] = {
        "order_id": order_id,
        "line_number": 1,
        "order_ts": "2025-03-01T09:15:00",
        "store_id": "S001",
        "customer_id": "C000042",
        "product_id": "P00007",
        "quantity": 2,
        "unit_price": "19.9",
        "discount_amount": "1.00",
        "promotion_id": None,
        "channel": "store",
        "currency": "USD",
        "event_id": event_id,
        "event_type": "sale",
        "event_ts": "2025-03-01T09:15:02+00:00",
        "source": "pos",
    }
    event.update(changes)
    return event


def body(event: dict[str, Any]) -> str:
    return json.dumps(event)
