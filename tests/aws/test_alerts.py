"""Alerts end to end: the handler publishes to SNS; a subscribed SQS queue receives them.

From the topic, the notifier function takes them to Slack: tests/aws/test_notifier.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sales_lakehouse.ingest import handler
from tests.aws.conftest import Aws, Configure
from tests.aws.lambda_events import FakeLambdaContext, body, sale, sqs_event, sqs_record

pytestmark = pytest.mark.aws

CONTEXT = FakeLambdaContext()
SENT_MS = 1_740_823_200_000


def batch(*events: dict[str, Any] | str) -> dict[str, Any]:
    records = [
        sqs_record(item if isinstance(item, str) else body(item), f"m-{n}", SENT_MS + n)
        for n, item in enumerate(events)
    ]
    return sqs_event(records)


@pytest.fixture
def alerting(aws: Aws, configure: Configure) -> Iterator[tuple[str, Configure]]:
    """A landing bucket and an alert topic; yields the alert queue URL and ``configure``."""
    topic_arn, queue_url = aws.alert_topic()
    configure(LANDING_BUCKET=aws.bucket(), ALERT_TOPIC_ARN=topic_arn)
    yield queue_url, configure


def test_sale_above_threshold_is_published_with_subject_and_json(
    aws: Aws, alerting: tuple[str, Configure]
) -> None:
    queue_url, configure = alerting
    # 1 return for 3 sales is 33%: keep the refund-spike rule out of this test.
    configure(ALERT_SALE_AMOUNT="10000", REFUND_SPIKE_PCT="100")
    event = batch(
        # 10 x 1300.00 - 1000.00 = 12000.00: above.
        sale("big", "O-BIG", quantity=10, unit_price="1300.00", discount_amount="1000.00"),
        # 10 x 1000.00 = 10000.00: at the threshold, not above.
        sale("edge", "O-EDGE", quantity=10, unit_price="1000.00", discount_amount="0"),
        # A return is not a sale, however large.
        sale("ret", "O-RET", quantity=20, unit_price="1300.00", event_type="return"),
        sale("small", "O-SMALL"),
    )

    assert handler.sqs_handler(event, CONTEXT) == {"batchItemFailures": []}

    (notification,) = aws.alerts(queue_url)
    assert notification["Type"] == "Notification"
    assert notification["Subject"] == "Large sale: 1 above 10000, max 12000.00 USD order O-BIG"
    message = json.loads(notification["Message"])
    assert message["alert"] == "large_sale"
    assert (message["count"], message["threshold"], message["source"]) == (1, "10000", "sqs")
    assert message["sales"] == [
        {
            "event_id": "big",
            "order_id": "O-BIG",
            "line_number": 1,
            "store_id": "S001",
            "net_amount": "12000.00",
            "currency": "USD",
            "event_ts": "2025-03-01T09:15:02+00:00",
        }
    ]


def test_refund_spike_above_pct_of_sales(aws: Aws, alerting: tuple[str, Configure]) -> None:
    queue_url, configure = alerting
    configure(REFUND_SPIKE_PCT="25")
    sales = [sale(f"s{n}", f"O-{n}") for n in range(4)]
    returns = [sale(f"r{n}", f"O-{n}", event_type="return") for n in range(2)]

    handler.sqs_handler(batch(*sales, returns[0]), CONTEXT)  # 1 of 4 = 25%: not above
    assert aws.alerts(queue_url) == []
    handler.sqs_handler(batch(*sales, *returns), CONTEXT)  # 2 of 4 = 50%

    (notification,) = aws.alerts(queue_url)
    assert notification["Subject"] == "Refund spike: 2 returns vs 4 sales (50.0%) in one batch"
    message = json.loads(notification["Message"])
    assert (message["alert"], message["returns"], message["sales"]) == ("refund_spike", 2, 4)
    assert message["threshold_pct"] == "25"


def test_invalid_burst(aws: Aws, alerting: tuple[str, Configure]) -> None:
    queue_url, configure = alerting
    configure(INVALID_BURST_COUNT="3")

    handler.sqs_handler(batch(sale("ok"), "x", "y"), CONTEXT)  # 2 invalid: below
    assert aws.alerts(queue_url) == []
    handler.sqs_handler(batch(sale("ok"), "x", "y", sale("z", quantity=0)), CONTEXT)

    (notification,) = aws.alerts(queue_url)
    assert (
        notification["Subject"] == "Invalid event burst: 3 invalid events quarantined in one batch"
    )
    message = json.loads(notification["Message"])
    assert (message["alert"], message["invalid"], message["threshold"]) == ("invalid_burst", 3, 3)


def test_a_poison_message_is_quarantined_not_retried_and_alerted_once(
    aws: Aws, alerting: tuple[str, Configure]
) -> None:
    queue_url, configure = alerting
    configure(INVALID_BURST_COUNT="1")

    response = handler.sqs_handler(batch(sale("ok"), "\u0000{poison"), CONTEXT)

    assert response == {"batchItemFailures": []}  # not retried: SQS deletes it
    (notification,) = aws.alerts(queue_url)
    message = json.loads(notification["Message"])
    assert (message["alert"], message["invalid"]) == ("invalid_burst", 1)


def test_no_alert_for_events_that_failed_to_land(aws: Aws, configure: Configure) -> None:
    """A batch that is retried raises its alerts on the try that lands it, not twice."""
    topic_arn, queue_url = aws.alert_topic()
    configure(LANDING_BUCKET="no-such-landing-bucket", ALERT_TOPIC_ARN=topic_arn)
    event = batch(sale("big", quantity=10, unit_price="1300.00"), "x")

    response = handler.sqs_handler(event, CONTEXT)

    assert len(response["batchItemFailures"]) == 2
    assert aws.alerts(queue_url) == []


def test_alert_publish_failure_does_not_fail_the_batch(
    aws: Aws,
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bucket = aws.bucket()
    gone = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
    configure(LANDING_BUCKET=bucket, ALERT_TOPIC_ARN=gone, INVALID_BURST_COUNT="1")

    response = handler.sqs_handler(batch(sale("ok"), "broken"), CONTEXT)

    assert response == {"batchItemFailures": []}
    assert len(aws.keys(bucket)) == 2  # landed and quarantined
    out = capsys.readouterr().out
    (emf,) = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    assert (emf["AlertsRaised"], emf["AlertDeliveryFailures"]) == ([1.0], [1.0])
    assert "alert not published to SNS" in [record.getMessage() for record in caplog.records]
