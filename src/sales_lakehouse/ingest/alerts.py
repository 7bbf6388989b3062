"""Alert rules evaluated on each batch, and the SNS publisher that sends them out.

Rules see only what a batch actually landed or quarantined, so a batch that failed
and is retried raises its alerts once, on the try that lands it. Delivery is
best-effort: a failed publish is logged and counted, never a reason to reprocess data.
The alert notifier function (``notifier.py``) takes them from the topic to Slack.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sales_lakehouse.ingest.model import net_amount

# SNS rejects a Subject over 100 characters or with anything but printable ASCII.
SUBJECT_LIMIT = 100
# How many offending sales one alert lists; the count covers them all.
LISTED_SALES = 20


@dataclass(frozen=True)
class AlertRules:
    """Thresholds: net amount of one sale, returns as % of sales, invalid events per batch."""

    sale_amount: Decimal
    refund_spike_pct: Decimal
    invalid_burst_count: int


@dataclass(frozen=True)
class Alert:
    """One alert: a kind, a one-line subject and JSON-ready details."""

    kind: str
    subject: str
    details: dict[str, Any] = field(default_factory=dict)

    def sns_subject(self) -> str:
        """The subject as SNS accepts it: printable ASCII, at most 100 characters."""
        text = "".join(c if " " <= c <= "~" else "?" for c in " ".join(self.subject.split()))
        return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."

    def message(self, indent: int | None = None) -> str:
        """The JSON message body: kind, subject and details (money as exact strings)."""
        body = {"alert": self.kind, "subject": self.subject, **self.details}
        return json.dumps(body, default=str, indent=indent)


def evaluate(
    rules: AlertRules, events: Sequence[dict[str, Any]], invalid: int, source: str
) -> list[Alert]:
    """Every alert a batch raises, from its landed events and its quarantined count."""
    alerts = [_large_sales(rules, events, source), _refund_spike(rules, events, source)]
    alerts.append(_invalid_burst(rules, invalid, source))
    return [alert for alert in alerts if alert is not None]


def _large_sales(rules: AlertRules, events: Sequence[dict[str, Any]], source: str) -> Alert | None:
    """Sale events whose net amount is above the threshold (in the line's own currency)."""
    large = [
        (net_amount(event), event)
        for event in events
        if event["event_type"] == "sale" and net_amount(event) > rules.sale_amount
    ]
    if not large:
        return None
    large.sort(key=lambda pair: pair[0], reverse=True)
    top_amount, top = large[0]
    subject = (
        f"Large sale: {len(large)} above {rules.sale_amount}, "
        f"max {top_amount} {top['currency']} order {top['order_id']}"
    )
    listed = [
        {
            "event_id": event["event_id"],
            "order_id": event["order_id"],
            "line_number": event["line_number"],
            "store_id": event["store_id"],
            "net_amount": str(amount),
            "currency": event["currency"],
            "event_ts": event["event_ts"].isoformat(),
        }
        for amount, event in large[:LISTED_SALES]
    ]
    details = {"threshold": str(rules.sale_amount), "count": len(large), "sales": listed}
    return Alert("large_sale", subject, {"source": source, **details})


def _refund_spike(rules: AlertRules, events: Sequence[dict[str, Any]], source: str) -> Alert | None:
    """Returns above k% of the batch's sale events (any return in a batch of no sales)."""
    sales = sum(1 for event in events if event["event_type"] == "sale")
    returns = sum(1 for event in events if event["event_type"] == "return")
    if returns == 0 or returns * 100 <= rules.refund_spike_pct * sales:
        return None
    share = f"{Decimal(returns * 100) / sales:.1f}%" if sales else "no sales"
    subject = f"Refund spike: {returns} returns vs {sales} sales ({share}) in one batch"
    details = {"returns": returns, "sales": sales, "threshold_pct": str(rules.refund_spike_pct)}
    return Alert("refund_spike", subject, {"source": source, **details})


def _invalid_burst(rules: AlertRules, invalid: int, source: str) -> Alert | None:
    """At least N invalid events in one batch: a producer is probably broken."""
    if invalid < rules.invalid_burst_count:
        return None
    subject = f"Invalid event burst: {invalid} invalid events quarantined in one batch"
    details = {"invalid": invalid, "threshold": rules.invalid_burst_count}
    return Alert("invalid_burst", subject, {"source": source, **details})


class SnsPublisher:
    """Publishes alerts to one SNS topic (subject + JSON message + a kind attribute)."""

    def __init__(self, sns: Any, topic_arn: str) -> None:
        self._sns = sns
        self._topic_arn = topic_arn

    def send(self, alert: Alert) -> None:
        self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=alert.sns_subject(),
            Message=alert.message(),
            MessageAttributes={"alert": {"DataType": "String", "StringValue": alert.kind}},
        )
