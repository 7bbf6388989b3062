"""The sale-event model derived from the contract, and record validation."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from sales_lakehouse.contracts import Column, Contract, RowRule, load_contract
from sales_lakehouse.ingest.model import ROW_RULES, SaleEvent, build_event_model, net_amount
from sales_lakehouse.ingest.records import validate_event


def event(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "order_id": "O-1",
        "line_number": 1,
        "order_ts": "2025-03-01T09:15:00",
        "store_id": "S001",
        "product_id": "P00007",
        "quantity": 3,
        "unit_price": "10.5",
        "event_id": "e-1",
        "event_type": "sale",
        "event_ts": "2025-03-01T10:15:00+01:00",
        "source": "pos",
    }
    values.update(changes)
    return values


def errors(**changes: Any) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as raised:
        SaleEvent.model_validate(event(**changes))
    return [(".".join(map(str, e["loc"])), e["type"]) for e in raised.value.errors()]


def test_fields_follow_the_contract() -> None:
    contract = load_contract("sales_events")
    fields = SaleEvent.model_fields

    assert list(fields) == contract.column_names
    assert [
        name for name, info in fields.items() if info.is_required()
    ] == contract.required_columns


def test_the_contract_still_declares_the_rule_the_model_implements() -> None:
    (rule,) = load_contract("sales_events").rules

    assert rule.name == "discount_within_gross"
    assert rule.expr == "discount_amount <= quantity * unit_price"
    assert set(ROW_RULES) == {"discount_within_gross"}


def test_discount_within_gross_rule() -> None:
    # 3 x 10.50 = 31.50: equal passes, one cent more fails.
    assert SaleEvent.model_validate(event(discount_amount="31.50"))
    with pytest.raises(ValidationError, match="discount_amount is above quantity x unit_price"):
        SaleEvent.model_validate(event(discount_amount="31.51"))


def test_a_rule_without_a_python_twin_stops_the_build() -> None:
    contract = Contract(
        dataset="x",
        description="x",
        business_key=("id",),
        event_time="id",
        columns=(Column(name="id", type="int", required=True, description="id"),),
        rules=(RowRule(name="new_rule", description="d", expr="id > 0", reason="r"),),
    )

    with pytest.raises(NotImplementedError, match="new_rule"):
        build_event_model(contract)


def test_types_defaults_and_utc() -> None:
    parsed = dict(SaleEvent.model_validate(event(customer_id="", channel=None)))

    assert parsed["order_ts"] == datetime(2025, 3, 1, 9, 15, tzinfo=UTC)  # no offset: UTC
    assert parsed["event_ts"] == datetime(2025, 3, 1, 9, 15, tzinfo=UTC)  # +01:00 converted
    assert parsed["unit_price"] == Decimal("10.50")
    assert str(parsed["unit_price"]) == "10.50"
    assert parsed["discount_amount"] == Decimal("0.00")  # contract default '0'
    assert parsed["currency"] == "USD"  # contract default
    assert parsed["customer_id"] is None  # blank means not given
    assert parsed["channel"] is None
    assert net_amount(parsed) == Decimal("31.50")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"quantity": 0}, [("quantity", "greater_than_equal")]),
        ({"quantity": 10001}, [("quantity", "less_than_equal")]),
        ({"quantity": "3"}, [("quantity", "int_type")]),
        ({"quantity": True}, [("quantity", "int_type")]),
        ({"unit_price": "-0.01"}, [("unit_price", "greater_than_equal")]),
        ({"unit_price": "1.001"}, [("unit_price", "decimal_max_places")]),
        (
            {"unit_price": "12345678901.00"},
            [("unit_price", "decimal_whole_digits")],
        ),  # 12,2: 10 whole
        ({"order_id": "has space"}, [("order_id", "string_pattern_mismatch")]),
        ({"event_id": ""}, [("event_id", "string_too_short")]),
        ({"event_type": "refund"}, [("event_type", "value_error")]),
        ({"currency": "JPY"}, [("currency", "value_error")]),
        ({"event_ts": "yesterday"}, [("event_ts", "datetime_from_date_parsing")]),
        ({"surprise": 1}, [("surprise", "extra_forbidden")]),
        ({"source": None}, [("source", "string_type")]),
    ],
)
def test_contract_constraints(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert errors(**changes) == expected


def test_missing_required_fields_are_named() -> None:
    values = event()
    del values["event_id"], values["store_id"]

    with pytest.raises(ValidationError) as raised:
        SaleEvent.model_validate(values)

    assert {e["loc"][0] for e in raised.value.errors()} == {"event_id", "store_id"}


def test_validate_event_reads_json_numbers_as_exact_decimals() -> None:
    parsed, error = validate_event(json.dumps(event(unit_price=0.1)).replace('"10.5"', "0.1"))

    assert error is None
    assert parsed is not None
    assert parsed["unit_price"] == Decimal("0.10")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("[]", "invalid event: expected a JSON object, got list"),
        ("", "invalid JSON: Expecting value: line 1 column 1 (char 0)"),
        ('{"a": ', "invalid JSON: Expecting value: line 1 column 7 (char 6)"),
    ],
)
def test_validate_event_errors(raw: str, expected: str) -> None:
    assert validate_event(raw) == (None, expected)


def test_validate_event_lists_every_problem() -> None:
    raw = json.dumps(event(quantity=0, currency="JPY"))

    assert validate_event(raw) == (
        None,
        "invalid event: quantity: Input should be greater than or equal to 1; "
        "currency: Value error, must be one of USD, EUR, GBP, CAD",
    )


def test_dates_in_the_past_are_fine() -> None:
    parsed = dict(SaleEvent.model_validate(event(order_ts="1999-12-31T23:59:59Z")))
    assert parsed["order_ts"].date() == date(1999, 12, 31)
