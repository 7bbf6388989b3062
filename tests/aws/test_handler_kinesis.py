"""The Kinesis handler: base64 data, sequence numbers as failure identifiers."""

from __future__ import annotations

import pytest

from sales_lakehouse.ingest import handler
from tests.aws.conftest import Aws, Configure
from tests.aws.lambda_events import (
    FakeLambdaContext,
    body,
    kinesis_event_from_records,
    kinesis_record,
    sale,
)

pytestmark = pytest.mark.aws

CONTEXT = FakeLambdaContext()
# 2025-03-01T23:59:59.5Z and 2025-03-02T00:00:01Z as Kinesis arrival timestamps (seconds).
BEFORE_MIDNIGHT = 1_740_873_599.5
AFTER_MIDNIGHT = 1_740_873_601.0
SEQ = (
    "49590338271490256608559692538361571095921575989136588898",
    "49590338271490256608559692540925702759324208523137515618",
    "49590338271490256608559692541934702759324208523137515619",
)


def test_kinesis_batch_lands_valid_and_quarantines_invalid(aws: Aws, configure: Configure) -> None:
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket, LANDING_PREFIX="/raw/landing/")
    event = {
        "Records": [
            kinesis_record(body(sale("k-1", "O-1")), SEQ[0], AFTER_MIDNIGHT, "O-1"),
            kinesis_record(body(sale("k-2", "O-2", currency="JPY")), SEQ[1], AFTER_MIDNIGHT, "O-2"),
            kinesis_record(body(sale("k-3", "O-3")), SEQ[2], BEFORE_MIDNIGHT, "O-3"),
        ]
    }
    event["Records"][1]["kinesis"]["data"] = "%%% not base64 %%%"

    assert handler.kinesis_handler(event, CONTEXT) == {"batchItemFailures": []}

    (landed,) = aws.keys(bucket, "raw/landing/sales_events/")
    # The earliest arrival of the landed records names the partition.
    assert landed.startswith("raw/landing/sales_events/ingest_date=2025-03-01/")
    assert [line["event_id"] for line in aws.read_lines(bucket, landed)] == ["k-1", "k-3"]
    (quarantined,) = aws.keys(
        bucket, "raw/landing/_quarantine/sales_events/ingest_date=2025-03-02/"
    )
    (row,) = aws.read_lines(bucket, quarantined)
    assert (row["source"], row["record_id"], row["raw"]) == (
        "kinesis",
        SEQ[1],
        "%%% not base64 %%%",
    )
    assert row["error"].startswith("undecodable Kinesis data (kept as base64)")


def test_kinesis_schema_error_is_quarantined_with_the_decoded_body(
    aws: Aws, configure: Configure
) -> None:
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)
    bad = body(sale("k-9", currency="JPY"))
    event = {"Records": [kinesis_record(bad, SEQ[0], AFTER_MIDNIGHT)]}

    assert handler.kinesis_handler(event, CONTEXT) == {"batchItemFailures": []}

    (key,) = aws.keys(bucket, "landing/_quarantine/")
    (row,) = aws.read_lines(bucket, key)
    assert row["raw"] == bad
    assert row["error"] == "invalid event: currency: Value error, must be one of USD, EUR, GBP, CAD"


def test_kinesis_s3_failure_reports_sequence_numbers(configure: Configure) -> None:
    configure(LANDING_BUCKET="no-such-landing-bucket")
    event = {
        "Records": [
            kinesis_record(body(sale("k-1")), SEQ[0], AFTER_MIDNIGHT),
            kinesis_record("{", SEQ[1], AFTER_MIDNIGHT),
        ]
    }

    response = handler.kinesis_handler(event, CONTEXT)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": SEQ[0]}, {"itemIdentifier": SEQ[1]}]
    }


def test_records_read_back_from_a_stream_are_landed(aws: Aws, configure: Configure) -> None:
    bucket = aws.bucket()
    configure(LANDING_BUCKET=bucket)
    stream = aws.stream()
    for event_id, order_id in (("s-1", "O-1"), ("s-2", "O-2")):
        aws.kinesis.put_record(
            StreamName=stream, Data=body(sale(event_id, order_id)).encode(), PartitionKey=order_id
        )
    records = aws.stream_records(stream)

    response = handler.kinesis_handler(kinesis_event_from_records(records, stream), CONTEXT)

    assert response == {"batchItemFailures": []}
    (key,) = aws.keys(bucket)
    assert [line["order_id"] for line in aws.read_lines(bucket, key)] == ["O-1", "O-2"]
