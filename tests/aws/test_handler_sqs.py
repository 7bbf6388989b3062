"""The SQS handler against moto: landing, idempotent keys, quarantine, partial failures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch import EventType
from botocore.exceptions import ClientError

from sales_lakehouse.ingest import handler
from sales_lakehouse.ingest.config import ConfigError, IngestSettings
from tests.aws.conftest import Aws, Configure
from tests.aws.lambda_events import (
    FakeLambdaContext,
    body,
    sale,
    sqs_event,
    sqs_event_from_messages,
    sqs_record,
)

pytestmark = pytest.mark.aws

CONTEXT = FakeLambdaContext()
# 2025-03-01T10:00:00Z in milliseconds, as SQS reports SentTimestamp.
SENT_MS = 1_740_823_200_000
# sha256("e-1\ne-2\ne-3"): the landed key of a batch of events e-1, e-2, e-3.
E123_KEY = (
    "landing/sales_events/ingest_date=2025-03-01/"
    "3b9c558911fa93c7be008701cc87bf1e67d81b65723c5027a119094cf803ce5b.json"
)


def three_sales() -> dict[str, Any]:
    return sqs_event(
        [
            sqs_record(body(sale("e-2", "O-2")), "m-2", SENT_MS + 50),
            sqs_record(body(sale("e-1", "O-1")), "m-1", SENT_MS),
            sqs_record(body(sale("e-3", "O-3", quantity=5, unit_price=7)), "m-3", SENT_MS + 90),
        ]
    )


def test_valid_batch_lands_as_one_ndjson_object_with_exactly_those_events(
    aws: Aws, configure: Configure
) -> None:
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)

    response = handler.sqs_handler(three_sales(), CONTEXT)

    assert response == {"batchItemFailures": []}
    assert aws.keys(bucket) == [E123_KEY]
    lines = aws.read_lines(bucket, E123_KEY)
    assert [line["event_id"] for line in lines] == ["e-2", "e-1", "e-3"]
    assert lines[1] == {
        "order_id": "O-1",
        "line_number": 1,
        "order_ts": "2025-03-01T09:15:00Z",
        "store_id": "S001",
        "customer_id": "C000042",
        "product_id": "P00007",
        "quantity": 2,
        "unit_price": "19.90",
        "discount_amount": "1.00",
        "promotion_id": None,
        "channel": "store",
        "currency": "USD",
        "event_id": "e-1",
        "event_type": "sale",
        "event_ts": "2025-03-01T09:15:02Z",
        "source": "pos",
    }
    assert (lines[2]["quantity"], lines[2]["unit_price"]) == (5, "7.00")


def test_redelivered_batch_overwrites_the_same_object(aws: Aws, configure: Configure) -> None:
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)
    handler.sqs_handler(three_sales(), CONTEXT)
    first = aws.s3.get_object(Bucket=bucket, Key=E123_KEY)["Body"].read()

    # Redelivered: same messages, later receive, another order within the batch.
    again = three_sales()
    again["Records"].reverse()
    for record in again["Records"]:
        record["attributes"]["ApproximateReceiveCount"] = "2"
    assert handler.sqs_handler(again, CONTEXT) == {"batchItemFailures": []}

    assert aws.keys(bucket) == [E123_KEY]
    lines = aws.read_lines(bucket, E123_KEY)
    assert sorted(line["event_id"] for line in lines) == ["e-1", "e-2", "e-3"]
    assert len(first.splitlines()) == 3


def test_duplicate_event_in_one_batch_is_landed_once(aws: Aws, configure: Configure) -> None:
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)
    event = sqs_event(
        [
            sqs_record(body(sale("e-1")), "m-1", SENT_MS),
            sqs_record(body(sale("e-1")), "m-1b", SENT_MS + 1),  # producer retry: same event
        ]
    )

    assert handler.sqs_handler(event, CONTEXT) == {"batchItemFailures": []}

    (key,) = aws.keys(bucket)
    assert [line["event_id"] for line in aws.read_lines(bucket, key)] == ["e-1"]


def test_invalid_events_are_quarantined_not_retried(
    aws: Aws, configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)
    event = sqs_event(
        [
            sqs_record(body(sale("e-1")), "m-1", SENT_MS),
            sqs_record('{"order_id": "O-9", "line_nu', "m-bad-json", SENT_MS + 1),
            sqs_record(body(sale("e-2", quantity=0)), "m-bad-qty", SENT_MS + 2),
            sqs_record(body(sale("e-3", discount_amount="50.00")), "m-bad-rule", SENT_MS + 3),
            sqs_record(body(sale("e-4", "O-4")), "m-4", SENT_MS + 4),
        ]
    )

    response = handler.sqs_handler(event, CONTEXT)

    assert response == {"batchItemFailures": []}
    landed = aws.keys(bucket, "landing/sales_events/")
    (quarantined,) = aws.keys(bucket, "landing/_quarantine/sales_events/ingest_date=2025-03-01/")
    assert len(landed) == 1
    assert [line["event_id"] for line in aws.read_lines(bucket, landed[0])] == ["e-1", "e-4"]
    rows = {row["record_id"]: row for row in aws.read_lines(bucket, quarantined)}
    assert set(rows) == {"m-bad-json", "m-bad-qty", "m-bad-rule"}
    assert rows["m-bad-json"]["raw"] == '{"order_id": "O-9", "line_nu'
    assert rows["m-bad-json"]["error"].startswith("invalid JSON: ")
    assert rows["m-bad-qty"]["error"] == (
        "invalid event: quantity: Input should be greater than or equal to 1"
    )
    assert "discount_within_gross" in rows["m-bad-rule"]["error"]
    assert json.loads(rows["m-bad-rule"]["raw"])["discount_amount"] == "50.00"
    assert rows["m-bad-qty"]["source"] == "sqs"
    assert rows["m-bad-qty"]["arrived_at"] == "2025-03-01T10:00:00.002000+00:00"
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SalesLakehouse"
    assert (emf["source"], emf["EventsReceived"], emf["EventsLanded"]) == ("sqs", [5.0], [2.0])
    assert (emf["EventsQuarantined"], emf["RecordsFailed"]) == ([3.0], [0.0])


def test_missing_bucket_fails_every_record_with_its_message_id(
    aws: Aws, configure: Configure
) -> None:
    configure(LANDING_BUCKET="no-such-landing-bucket")
    event = sqs_event(
        [
            sqs_record(body(sale("e-1")), "m-1", SENT_MS),
            sqs_record("not json", "m-bad", SENT_MS + 1),
            sqs_record(body(sale("e-2", "O-2")), "m-2", SENT_MS + 2),
        ]
    )

    response = handler.sqs_handler(event, CONTEXT)

    failures = sorted(item["itemIdentifier"] for item in response["batchItemFailures"])
    assert failures == ["m-1", "m-2", "m-bad"]


def test_bucket_deleted_mid_test_fails_the_next_batch(aws: Aws, configure: Configure) -> None:
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)
    assert handler.sqs_handler(three_sales(), CONTEXT) == {"batchItemFailures": []}
    aws.drop_bucket(bucket)

    later = sqs_event(
        [
            sqs_record(body(sale("e-7", "O-7")), "m-7", SENT_MS + 1000),
            sqs_record(body(sale("e-8", "O-8")), "m-8", SENT_MS + 1001),
        ]
    )
    response = handler.sqs_handler(later, CONTEXT)

    assert sorted(i["itemIdentifier"] for i in response["batchItemFailures"]) == ["m-7", "m-8"]


def test_throttled_landing_put_retries_only_the_valid_records(
    aws: Aws, configure: Configure
) -> None:
    """Quarantine works, the landing PutObject is throttled: only valid records fail."""
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)
    s3 = aws.client("s3")

    def throttle_landing(params: dict[str, Any], **_: Any) -> None:
        if "/_quarantine/" not in params["Key"]:
            error = {"Code": "SlowDown", "Message": "Please reduce your request rate."}
            raise ClientError({"Error": error}, "PutObject")

    s3.meta.events.register("before-parameter-build.s3.PutObject", throttle_landing)
    app = handler.IngestApp(IngestSettings(landing_bucket=bucket), s3=s3)
    event = sqs_event(
        [
            sqs_record(body(sale("e-1")), "m-1", SENT_MS),
            sqs_record("{}", "m-empty", SENT_MS + 1),
            sqs_record(body(sale("e-2", "O-2")), "m-2", SENT_MS + 2),
        ]
    )

    response = app.handle(event, CONTEXT, EventType.SQS)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]}
    assert aws.keys(bucket, "landing/sales_events/") == []
    (quarantined,) = aws.keys(bucket, "landing/_quarantine/")
    assert [row["record_id"] for row in aws.read_lines(bucket, quarantined)] == ["m-empty"]


def test_puts_failing_for_records_3_and_7_fail_exactly_those(
    aws: Aws, configure: Configure
) -> None:
    """Ten records; every put that carries event e-3 or e-7 fails once. The batch put fails,
    so each event is landed alone: failures are exactly m-3 and m-7, the eight others land
    once; redelivered, the two land and every event is in the bucket exactly once."""
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)
    s3 = aws.client("s3")
    poisoned = {"e-3", "e-7"}

    def fail_for_poisoned(params: dict[str, Any], **_: Any) -> None:
        if "/_quarantine/" in params["Key"]:
            return
        ids = {json.loads(line)["event_id"] for line in params["Body"].decode().splitlines()}
        if ids & poisoned:
            error = {"Code": "InternalError", "Message": "We encountered an internal error."}
            raise ClientError({"Error": error}, "PutObject")

    s3.meta.events.register("before-parameter-build.s3.PutObject", fail_for_poisoned)
    app = handler.IngestApp(IngestSettings(landing_bucket=bucket), s3=s3)
    records = [
        sqs_record(body(sale(f"e-{n}", f"O-{n}")), f"m-{n}", SENT_MS + n) for n in range(1, 11)
    ]

    first = app.handle(sqs_event(records), CONTEXT, EventType.SQS)

    assert first == {"batchItemFailures": [{"itemIdentifier": "m-3"}, {"itemIdentifier": "m-7"}]}
    landed = aws.keys(bucket, "landing/sales_events/")
    assert len(landed) == 8
    events = [row["event_id"] for key in landed for row in aws.read_lines(bucket, key)]
    assert sorted(events) == sorted(f"e-{n}" for n in range(1, 11) if n not in (3, 7))

    poisoned.clear()  # the failure was transient: Lambda redelivers the two failed records
    second = app.handle(sqs_event([records[2], records[6]]), CONTEXT, EventType.SQS)

    assert second == {"batchItemFailures": []}
    landed = aws.keys(bucket, "landing/sales_events/")
    events = [row["event_id"] for key in landed for row in aws.read_lines(bucket, key)]
    assert sorted(events) == sorted(f"e-{n}" for n in range(1, 11))
    assert aws.keys(bucket, "landing/_quarantine/") == []


def test_failed_records_come_back_and_end_in_the_dead_letter_queue(
    aws: Aws, configure: Configure
) -> None:
    """Emulates the event source mapping (moto stores but does not act on partial responses):
    succeeded messages are deleted, failed ones reappear; past maxReceiveCount, the DLQ."""
    url, arn, dlq_url = aws.queue_with_dlq(max_receive_count=2)
    aws.sqs.send_message(QueueUrl=url, MessageBody=body(sale("e-1")))
    aws.sqs.send_message(QueueUrl=url, MessageBody="garbage")
    configure(LANDING_BUCKET="not-created-yet")

    def poll() -> list[str]:
        messages = aws.receive_all(url, expected=2)
        response = handler.sqs_handler(sqs_event_from_messages(messages, arn), CONTEXT)
        failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed:
                aws.sqs.change_message_visibility(
                    QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return sorted(message["Body"] for message in messages if message["MessageId"] in failed)

    both = sorted([body(sale("e-1")), "garbage"])
    assert poll() == both
    assert poll() == both
    assert aws.receive_all(url) == []
    assert sorted(message["Body"] for message in aws.receive_all(dlq_url)) == both


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_configuration_error_names_the_bad_variable(configure: Configure) -> None:
    configure(LANDING_BUCKET="Bad_Bucket", INVALID_BURST_COUNT="ten")

    with pytest.raises(ConfigError) as raised:
        handler.sqs_handler(three_sales(), CONTEXT)

    assert str(raised.value) == (
        "invalid Lambda configuration: "
        "LANDING_BUCKET='Bad_Bucket' is not a valid S3 bucket name (3-63 of a-z 0-9 . -); "
        "INVALID_BURST_COUNT='ten' is not a whole number"
    )
