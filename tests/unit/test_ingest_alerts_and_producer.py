"""Alert rules and the producer's batching, retries and pacing, without any AWS service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from sales_lakehouse.ingest.alerts import Alert, AlertRules, evaluate
from sales_lakehouse.ingest.stream_put import Message, Pacing, Rejected, send_with_retries
from sales_lakehouse_tools.producer import produce
from sales_lakehouse_tools.sale_events import messages

RULES = AlertRules(sale_amount=Decimal(100), refund_spike_pct=Decimal(50), invalid_burst_count=2)
START = datetime(2025, 3, 1, tzinfo=UTC)


def ev(event_type: str = "sale", quantity: int = 1, price: str = "10.00") -> dict[str, Any]:
    return {
        "event_id": f"{event_type}-{quantity}-{price}",
        "event_type": event_type,
        "order_id": "O-1",
        "line_number": 1,
        "store_id": "S001",
        "quantity": quantity,
        "unit_price": Decimal(price),
        "discount_amount": Decimal("0.00"),
        "currency": "EUR",
        "event_ts": START,
    }


def test_sns_subject_is_ascii_and_at_most_100_characters() -> None:
    alert = Alert("large_sale", "Große Verkäufe:\n" + "x" * 200)

    subject = alert.sns_subject()

    assert len(subject) == 100
    assert subject.startswith("Gro?e Verk?ufe: xxx")
    assert subject.endswith("...")
    assert Alert("k", "short").sns_subject() == "short"


def test_refund_spike_counts_returns_against_sales() -> None:
    assert evaluate(RULES, [ev(), ev(), ev("return")], 0, "sqs") == []  # 50%: not above
    (alert,) = evaluate(RULES, [ev(), ev("return"), ev("return", 2)], 0, "sqs")
    assert alert.subject == "Refund spike: 2 returns vs 1 sales (200.0%) in one batch"
    (alert,) = evaluate(RULES, [ev("return")], 0, "kinesis")  # returns and no sale at all
    assert alert.subject == "Refund spike: 1 returns vs 0 sales (no sales) in one batch"


def test_large_sale_uses_net_amount_and_lists_the_largest_first() -> None:
    events = [
        ev(quantity=10, price="10.00"),
        ev(quantity=11, price="10.00"),
        ev(quantity=3, price="40.00"),
    ]
    events[0]["discount_amount"] = Decimal("0.01")  # 99.99: not above 100

    (alert,) = evaluate(RULES, events, 0, "sqs")

    assert alert.subject == "Large sale: 2 above 100, max 120.00 EUR order O-1"
    assert [sale["net_amount"] for sale in alert.details["sales"]] == ["120.00", "110.00"]


def test_invalid_burst_threshold_is_inclusive() -> None:
    assert evaluate(RULES, [], 1, "sqs") == []
    (alert,) = evaluate(RULES, [], 2, "sqs")
    assert alert.kind == "invalid_burst"


class FlakyTarget:
    """Rejects chosen bodies a set number of times; records every call."""

    batch_size = 3

    def __init__(self, retry: dict[str, int], permanent: set[str] | None = None) -> None:
        self.retry = retry
        self.permanent = permanent or set()
        self.calls: list[list[str]] = []

    def send(self, batch: Sequence[Message]) -> Rejected:
        self.calls.append([m.body for m in batch])
        rejected = Rejected()
        for message in batch:
            if message.body in self.permanent:
                rejected.permanent.append(message)
            elif self.retry.get(message.body, 0) > 0:
                self.retry[message.body] -= 1
                rejected.retry.append(message)
        return rejected


def msg(body: str) -> Message:
    return Message(body, body, "good")


def test_only_rejected_entries_are_sent_again_with_backoff() -> None:
    target = FlakyTarget(retry={"b": 2})
    slept: list[float] = []

    failed = send_with_retries(target, [msg("a"), msg("b"), msg("c")], Pacing(sleep=slept.append))

    assert failed == []
    assert target.calls == [["a", "b", "c"], ["b"], ["b"]]
    assert slept == [0.1, 0.2]


def test_permanent_rejects_are_not_retried_and_retries_give_up() -> None:
    target = FlakyTarget(retry={"b": 99}, permanent={"c"})
    slept: list[float] = []

    failed = send_with_retries(
        target, [msg("a"), msg("b"), msg("c")], Pacing(attempts=3, sleep=slept.append)
    )

    assert [m.body for m in failed] == ["c", "b"]
    assert target.calls == [["a", "b", "c"], ["b"], ["b"]]
    assert slept == [0.1, 0.2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_rate_limit_paces_the_batches() -> None:
    target = FlakyTarget(retry={})
    clock = FakeClock()
    seen: list[int] = []

    summary = produce(
        target,
        7,
        seed=1,
        start=START,
        pacing=Pacing(rate=2, sleep=clock.sleep, clock=lambda: clock.now),
        progress=lambda done: seen.append(done.sent),
    )

    # At 2 per second, batches of 2, each sent once it fits: 7 messages take 3.5 s.
    assert [len(call) for call in target.calls] == [2, 2, 2, 1]
    assert clock.sleeps == [1.0, 1.0, 1.0, 0.5]
    assert seen == [2, 4, 6, 7]
    assert (summary.sent, summary.failed, summary.seconds) == (7, 0, 3.5)


def test_generation_is_deterministic_and_shares_are_checked() -> None:
    first = list(messages(50, 9, START, bad_share=0.2, duplicate_share=0.2))

    assert first == list(messages(50, 9, START, bad_share=0.2, duplicate_share=0.2))
    assert first != list(messages(50, 10, START, bad_share=0.2, duplicate_share=0.2))
    assert {m.kind for m in first} == {"good", "bad", "duplicate"}
    goods = {m.body for m in first if m.kind == "good"}
    assert all(m.body in goods for m in first if m.kind == "duplicate")
    with pytest.raises(ValueError, match="add up to 1 at most"):
        list(messages(1, 1, START, bad_share=0.7, duplicate_share=0.5))
