"""Deterministic sale events for the producer: good ones, broken ones, and duplicates.

Same seed and start, same messages, in the same order. Most events are sales; returns
and corrections reuse the business key of a sale sent before, as real ones would. A bad
message is either not JSON or breaks the contract in one way the consumer must catch.
Kept apart from :mod:`sales_lakehouse_tools.generate` (the batch CSV generator): it builds
events in the consumer's contract (:mod:`sales_lakehouse.ingest.model`).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sales_lakehouse.ingest.model import CONTRACT
from sales_lakehouse.ingest.stream_put import Message

STORES = ("S001", "S002", "S003", "S005", "S008", "S010", "S011", "S012", "W001")
SOURCES = {"store": "pos", "web": "web", "mobile": "mobile-app", "marketplace": "marketplace"}
CURRENCIES = {"S010": "EUR", "S011": "GBP", "S012": "CAD"}
PRICES = ("4.99", "12.50", "19.99", "49.00", "89.90", "149.00", "399.00", "799.99", "1299.00")


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


class EventFactory:
    """Builds valid events from one random stream; keeps the sales it made for returns."""

    def __init__(self, rng: random.Random, start: datetime) -> None:
        self._rng = rng
        self._clock = start.astimezone(UTC).replace(microsecond=0)
        self._orders = 0
        self._sales: list[dict[str, Any]] = []

    def next_event(self) -> dict[str, Any]:
        """A sale (about 88%), a return (8%) or a correction (4%) of an earlier sale."""
        self._clock += timedelta(seconds=self._rng.randint(1, 20))
        roll = self._rng.random()
        if self._sales and roll < 0.08:
            return self._follow_up(self._rng.choice(self._sales), "return")
        if self._sales and roll < 0.12:
            return self._follow_up(self._rng.choice(self._sales), "correction")
        sale = self.draft_sale()
        self._sales.append(sale)
        return sale

    def _event_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def draft_sale(self) -> dict[str, Any]:
        """A new sale that later returns and corrections will not refer to."""
        self._orders += 1
        store = self._rng.choice(STORES)
        channel = "store" if store.startswith("S") else self._rng.choice(("web", "mobile"))
        bulk = self._rng.random() < 0.02  # a few B2B orders, large enough to alert on
        quantity = self._rng.randint(10, 40) if bulk else self._rng.choice((1, 1, 1, 2, 3))
        price = Decimal(self._rng.choice(PRICES[-3:] if bulk else PRICES))
        discount = price * quantity * Decimal("0.10") if self._rng.random() < 0.25 else Decimal(0)
        return _in_contract_order(
            {
                "order_id": f"EV{self._orders:08d}",
                "line_number": 1,
                "order_ts": self._clock.isoformat(),
                "store_id": store,
                "customer_id": f"C{self._rng.randint(1, 5000):06d}"
                if self._rng.random() < 0.6
                else None,
                "product_id": f"P{self._rng.randint(1, 400):05d}",
                "quantity": quantity,
                "unit_price": _money(price),
                "discount_amount": _money(discount),
                "promotion_id": None,
                "channel": channel,
                "currency": CURRENCIES.get(store, "USD"),
                "event_id": self._event_id(),
                "event_type": "sale",
                "event_ts": self._clock.isoformat(),
                "source": SOURCES[channel],
            }
        )

    def _follow_up(self, sale: dict[str, Any], event_type: str) -> dict[str, Any]:
        """A return or correction of ``sale``: same line, new event id and time."""
        event = {**sale, "event_id": self._event_id(), "event_type": event_type}
        event["event_ts"] = self._clock.isoformat()
        if event_type == "correction":
            event["discount_amount"] = "0.00"
        return event


def _in_contract_order(values: dict[str, Any]) -> dict[str, Any]:
    """The event's fields in contract column order; fails if generator and contract differ."""
    if set(values) != set(CONTRACT.column_names):
        drift = sorted(set(values) ^ set(CONTRACT.column_names))
        raise RuntimeError(f"event generator and contract disagree on columns: {drift}")
    return {name: values[name] for name in CONTRACT.column_names}


# Each turns a valid event into a message the consumer must quarantine.
def _not_json(event: dict[str, Any]) -> str:
    return json.dumps(event)[:-7]


def _zero_quantity(event: dict[str, Any]) -> str:
    return json.dumps({**event, "quantity": 0})


def _unknown_currency(event: dict[str, Any]) -> str:
    return json.dumps({**event, "currency": "XYZ"})


def _discount_above_gross(event: dict[str, Any]) -> str:
    gross = Decimal(event["unit_price"]) * event["quantity"]
    return json.dumps({**event, "discount_amount": _money(gross + 1)})


def _no_event_id(event: dict[str, Any]) -> str:
    return json.dumps({key: value for key, value in event.items() if key != "event_id"})


BREAKERS: tuple[Callable[[dict[str, Any]], str], ...] = (
    _not_json,
    _zero_quantity,
    _unknown_currency,
    _discount_above_gross,
    _no_event_id,
)


def messages(
    count: int, seed: int, start: datetime, bad_share: float = 0.0, duplicate_share: float = 0.0
) -> Iterator[Message]:
    """``count`` messages: about ``bad_share`` broken, ``duplicate_share`` resent, rest new.

    A duplicate resends the exact body of a good message sent before (same event id),
    as a producer retry would.
    """
    if not 0 <= bad_share <= 1 or not 0 <= duplicate_share <= 1 or bad_share + duplicate_share > 1:
        raise ValueError("bad and duplicate shares must be between 0 and 1 and add up to 1 at most")
    rng = random.Random(seed)
    factory = EventFactory(random.Random(rng.getrandbits(64)), start)
    sent: list[Message] = []
    for _ in range(count):
        roll = rng.random()
        if roll < bad_share:
            event = factory.draft_sale()
            yield Message(rng.choice(BREAKERS)(event), event["order_id"], "bad")
        elif roll < bad_share + duplicate_share and sent:
            original = rng.choice(sent)
            yield Message(original.body, original.partition_key, "duplicate")
        else:
            event = factory.next_event()
            message = Message(json.dumps(event), event["order_id"], "good")
            sent.append(message)
            yield message
