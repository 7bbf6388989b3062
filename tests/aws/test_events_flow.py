"""The whole streaming path: producer -> SQS -> Lambda handler -> S3 landing -> bronze ->
silver.sales, with the events and their expectations read back with boto3 and json only."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.ingest import handler
from sales_lakehouse.ingest.stream_put import SqsTarget
from sales_lakehouse_tools.producer import produce
from tests.aws.conftest import Aws, Configure
from tests.aws.lambda_events import FakeLambdaContext, sqs_event_from_messages
from tests.integration.helpers import lake_of, run_sales_only, stats

pytestmark = [pytest.mark.aws, pytest.mark.integration]

CONTEXT = FakeLambdaContext()
LAMBDA_BATCH = 10  # the event source mapping's BatchSize in infra/template.yaml


def expected_lines(events: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The latest event (by event_ts) of each line, over unique event ids."""
    unique = {event["event_id"]: event for event in events}
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for event in unique.values():
        key = (event["order_id"], int(event["line_number"]))
        ts = datetime.fromisoformat(event["event_ts"])
        if key not in latest or ts > datetime.fromisoformat(latest[key]["event_ts"]):
            latest[key] = event
    return latest


def poll_like_lambda(aws: Aws, url: str, arn: str) -> int:
    """Receive batches as the event source mapping does, invoke the handler, delete what it
    handled; return how many messages were handled."""
    handled = 0
    while True:
        batch = aws.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=LAMBDA_BATCH, AttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return handled
        response = handler.sqs_handler(sqs_event_from_messages(batch, arn), CONTEXT)
        assert response == {"batchItemFailures": []}
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        aws.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
        handled += len(batch)


def test_produced_events_reach_silver_through_sqs_lambda_and_s3(
    spark: SparkSession, aws: Aws, configure: Configure, tmp_path: Path
) -> None:
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)
    url, arn, _dlq = aws.queue_with_dlq()
    sent = produce(
        SqsTarget(aws.sqs, url),
        300,
        seed=3,
        bad_share=0.05,
        duplicate_share=0.05,
        start=datetime.now(UTC),
    )
    assert sent.failed == 0 and sent.bad > 0 and sent.duplicates > 0

    assert poll_like_lambda(aws, url, arn) == sent.sent

    # `aws s3 sync` of the landing prefix to a local landing zone.
    landing = tmp_path / "landing"
    keys = aws.keys(bucket, "landing/sales_events/")
    events: list[dict[str, Any]] = []
    for key in keys:
        target = landing / key.removeprefix("landing/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        events += aws.read_lines(bucket, key)
    quarantined = [
        row
        for key in aws.keys(bucket, "landing/_quarantine/")
        for row in aws.read_lines(bucket, key)
    ]
    assert len(quarantined) == sent.bad
    expected = expected_lines(events)
    returned = {key for key, event in expected.items() if event["event_type"] == "return"}
    assert returned, "the producer's 8 % of returns should give at least one returned line"

    lake_dir = tmp_path / "lake"
    summary = run_sales_only(spark, landing, lake_dir)

    silver_stats = stats(summary, "silver", "sales_events")
    assert silver_stats.rows_in == len(events)
    assert silver_stats.quarantined == 0  # what the Lambda accepted, the contract accepts
    assert silver_stats.accepted == len(expected)
    assert silver_stats.duplicates == len(events) - len(expected)
    rows = lake_of(spark, landing, lake_dir).read("silver", "sales").collect()
    silver = {(row["order_id"], row["line_number"]): row for row in rows}
    assert set(silver) == set(expected)
    assert {key for key, row in silver.items() if row["line_status"] == "returned"} == returned
    for key, event in expected.items():
        row = silver[key]
        assert row["_event_id"] == event["event_id"]
        assert row["quantity"] == int(event["quantity"])
        net = int(event["quantity"]) * Decimal(event["unit_price"]) - Decimal(
            event["discount_amount"]
        )
        assert row["net_amount"] == net, key
