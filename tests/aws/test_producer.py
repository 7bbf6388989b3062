"""The producer against moto: batch sizes, reading back, and the consumer's verdict on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sales_lakehouse.ingest import handler
from sales_lakehouse.ingest.stream_put import KinesisTarget, SqsTarget
from sales_lakehouse.runtime.cli import main
from sales_lakehouse_tools.producer import produce
from tests.aws.conftest import Aws, Configure
from tests.aws.lambda_events import (
    FakeLambdaContext,
    kinesis_event_from_records,
    sqs_event_from_messages,
)

pytestmark = pytest.mark.aws

START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def count_calls(client: Any, operation: str) -> list[int]:
    """Record the number of entries of every ``operation`` call the client makes."""
    sizes: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params.get("Records", params.get("Entries", []))))

    client.meta.events.register(
        f"before-parameter-build.{client.meta.service_model.service_name}.{operation}", record
    )
    return sizes


def test_producer_to_kinesis(aws: Aws, configure: Configure) -> None:
    stream = aws.stream(shards=2)
    kinesis = aws.client("kinesis")
    calls = count_calls(kinesis, "PutRecords")

    summary = produce(
        KinesisTarget(kinesis, stream),
        1200,
        seed=3,
        bad_share=0.1,
        duplicate_share=0.1,
        start=START,
    )

    assert calls == [500, 500, 200]
    assert (summary.sent, summary.failed) == (1200, 0)
    # 10% of 1200 is 120; three standard deviations either side.
    assert 84 <= summary.bad <= 156
    assert 84 <= summary.duplicates <= 156
    records = aws.stream_records(stream)
    assert len(records) == 1200
    for record in records:
        try:
            order_id = json.loads(record["Data"])["order_id"]
        except (json.JSONDecodeError, KeyError):
            continue
        assert record["PartitionKey"] == order_id

    # The consumer, given everything as one batch, agrees with the producer's counts.
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)
    event = kinesis_event_from_records(records, stream)
    assert handler.kinesis_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    landed = aws.keys(bucket, "landing/sales_events/")
    quarantined = aws.keys(bucket, "landing/_quarantine/")
    assert len(landed) == len(quarantined) == 1
    assert len(aws.read_lines(bucket, quarantined[0])) == summary.bad
    lines = aws.read_lines(bucket, landed[0])
    assert len(lines) == 1200 - summary.bad - summary.duplicates
    assert len({line["event_id"] for line in lines}) == len(lines)


def test_producer_to_sqs(aws: Aws, configure: Configure) -> None:
    url, arn, dlq_url = aws.queue_with_dlq()
    sqs = aws.client("sqs")
    calls = count_calls(sqs, "SendMessageBatch")

    summary = produce(SqsTarget(sqs, url), 25, seed=11, bad_share=0.2, start=START)

    assert calls == [10, 10, 5]
    assert (summary.sent, summary.failed, summary.duplicates) == (25, 0, 0)
    messages = aws.receive_all(url, expected=25)
    assert len(messages) == 25
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)
    event = sqs_event_from_messages(messages, arn)
    assert handler.sqs_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    (landed,) = aws.keys(bucket, "landing/sales_events/")
    assert len(aws.read_lines(bucket, landed)) == 25 - summary.bad
    assert aws.receive_all(dlq_url) == []


def test_cli_produce_to_sqs(
    aws: Aws, moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, _ = aws.queue_with_dlq()
    name = url.rsplit("/", 1)[1]
    argv = ["produce", "--to", "sqs", "--queue", name, "--count", "12", "--seed", "5"]
    argv += ["--endpoint-url", moto_endpoint, "--region", "us-east-1", "--bad-share", "0"]

    assert main(argv) == 0

    out = capsys.readouterr().out
    assert out.startswith("sent 12, failed 0, bad 0, duplicates ")
    assert len(aws.receive_all(url, expected=12)) == 12


def test_cli_produce_errors_are_one_line(
    moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["produce", "--to", "kinesis", "--count", "1"]) == 2
    assert (
        capsys.readouterr().err == "sales-lakehouse produce: error: --to kinesis needs --stream\n"
    )

    argv = ["produce", "--to", "sqs", "--queue", "no-such-queue", "--endpoint-url", moto_endpoint]
    assert main([*argv, "--region", "us-east-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sales-lakehouse produce: error: sqs no-such-queue: ")
    assert err.count("\n") == 1
