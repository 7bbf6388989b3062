from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sales_lakehouse.contracts import load_contract
from sales_lakehouse.silver.common import (
    ROW_HASH,
    accepted_rows,
    count_versions,
    latest_per_key,
    rejected_rows,
    to_quarantine,
    validate,
)
from sales_lakehouse.silver.products import END_OF_TIME, build_product_versions
from sales_lakehouse.silver.promotions import to_silver_promotions
from sales_lakehouse.silver.sales import SALES_ORDER, batch_lines, event_lines, to_silver_sales
from tests.builders import INGESTED, bronze, sale

SALES = load_contract("sales")


RULE_CASES: list[tuple[dict[str, object], list[str]]] = [
    ({}, []),
    ({"customer_id": None, "promotion_id": None, "channel": None, "currency": None}, []),
    ({"store_id": None}, ["store_id_required"]),
    ({"store_id": "   "}, ["store_id_required"]),
    ({"quantity": "-3"}, ["quantity_min"]),
    ({"quantity": "0"}, ["quantity_min"]),
    ({"quantity": "12.5"}, ["quantity_type"]),
    ({"quantity": "abc"}, ["quantity_type"]),
    ({"unit_price": "1e3"}, ["unit_price_type"]),
    ({"unit_price": "10.555"}, ["unit_price_type"]),
    ({"unit_price": "-1.00"}, ["unit_price_min"]),
    ({"order_ts": "2025-02-30T10:00:00"}, ["order_ts_type"]),
    ({"order_ts": "31/01/2025 10:00"}, ["order_ts_type"]),
    ({"order_ts": "2025"}, ["order_ts_type"]),
    ({"currency": "XYZ"}, ["currency_allowed"]),
    ({"channel": "fax"}, ["channel_allowed"]),
    ({"order_id": "bad id!"}, ["order_id_pattern"]),
    ({"discount_amount": "21.01"}, ["discount_within_gross"]),
    ({"discount_amount": "21.00"}, []),
    ({"discount_amount": "-1.00"}, ["discount_amount_min"]),
    ({"quantity": "-1", "currency": "XYZ"}, ["quantity_min", "currency_allowed"]),
    ({"quantity": "-1", "discount_amount": "5.00"}, ["quantity_min"]),
    ({"_is_malformed": True, "_raw_line": "O1,1"}, ["malformed_line"]),
]


def test_sales_rules_report_every_failure(spark: SparkSession) -> None:
    # All cases in one DataFrame (one Spark job); case i is line number i + 1.
    rows = [
        sale(**{**changes, "line_number": str(i + 1)}) for i, (changes, _) in enumerate(RULE_CASES)
    ]
    validated = validate(bronze(spark, "sales", rows), SALES, {"currency": "USD"})
    got = {r["line_number"]: [f["rule"] for f in r["_failures"]] for r in validated.collect()}
    assert got == {i + 1: rules for i, (_, rules) in enumerate(RULE_CASES)}


def test_typed_values_and_defaults(spark: SparkSession) -> None:
    rows = [
        sale(
            order_id="A", order_ts="2025-01-05T23:30:00-02:00", discount_amount=None, currency=None
        ),
        sale(order_id="B", order_ts="2025-01-05T10:00:00", unit_price="3"),
    ]
    validated = validate(bronze(spark, "sales", rows), SALES, {"currency": "EUR"})
    silver = to_silver_sales(batch_lines(accepted_rows(validated), SALES), SALES)
    got = {r["order_id"]: r for r in silver.collect()}
    assert {r["line_status"] for r in got.values()} == {"sold"}
    assert got["A"]["_changed_at"] == INGESTED and got["A"]["_event_id"] is None
    # An offset is honoured; the sale date is the UTC day.
    assert got["A"]["order_ts"] == datetime(2025, 1, 6, 1, 30)
    assert got["A"]["sale_date"].isoformat() == "2025-01-06"
    assert got["A"]["discount_amount"] == Decimal("0.00")
    assert got["A"]["currency"] == "EUR"
    assert got["A"]["gross_amount"] == Decimal("21.00")
    assert got["A"]["net_amount"] == Decimal("21.00")
    assert got["B"]["order_ts"] == datetime(2025, 1, 5, 10, 0)
    assert got["B"]["gross_amount"] == Decimal("6.00")
    assert got["B"]["net_amount"] == Decimal("5.00")


def test_quarantine_keeps_the_landed_values_and_all_reasons(spark: SparkSession) -> None:
    row = sale(quantity="-2", currency="XYZ")
    validated = validate(bronze(spark, "sales", [row]), SALES)
    quarantined = to_quarantine(rejected_rows(validated), SALES, INGESTED).first()
    assert quarantined["quantity"] == "-2"
    assert quarantined["currency"] == "XYZ"
    assert quarantined["rules"] == ["quantity_min", "currency_allowed"]
    assert quarantined["reason"] == (
        "quantity -2 is below 1; currency 'XYZ' is not one of USD, EUR, GBP, CAD"
    )


def test_the_landed_values_stay_on_broken_rows_only(spark: SparkSession) -> None:
    rows = [
        sale(line_number="1", _raw_line="raw one"),
        sale(line_number="2", quantity="-2", _raw_line="raw two"),
    ]
    validated = validate(bronze(spark, "sales", rows), SALES)
    landed = ["__raw_line_number", "__raw_quantity", "_extra", "_raw_line"]
    got = {r["line_number"]: r for r in validated.select("line_number", *landed).collect()}
    assert [got[1][name] for name in landed] == [None, None, None, None]
    assert got[2]["__raw_line_number"] == "2"
    assert got[2]["__raw_quantity"] == "-2"
    assert got[2]["_raw_line"] == "raw two"
    assert "_raw_line" not in accepted_rows(validated).columns


def test_warn_rules_do_not_quarantine(spark: SparkSession) -> None:
    contract = load_contract("products")
    row = {
        "product_id": "P1",
        "sku": "S",
        "product_name": "N",
        "category": "C",
        "brand": "B",
        "unit_cost": "10.00",
        "list_price": "9.00",
        "updated_at": "2025-01-01T00:00:00Z",
    }
    validated = validate(bronze(spark, "products", [row]), contract)
    assert accepted_rows(validated).count() == 1
    assert rejected_rows(validated).count() == 0
    assert [f["rule"] for f in validated.first()["_failures"]] == ["list_price_covers_cost"]


@pytest.mark.parametrize("repeated", [None, 2], ids=["every-row-ranked", "repeated-keys-only"])
def test_latest_per_key_prefers_later_ingest_then_later_file(
    spark: SparkSession, repeated: int | None
) -> None:
    later = datetime(2025, 3, 1)
    rows = [
        sale(quantity="1", _source_file="file:/l/2025-01-01_sales.csv"),
        sale(quantity="2", _source_file="file:/l/2025-02-01_sales.csv"),
        sale(quantity="3", _source_file="file:/l/2025-01-15_sales.csv", _ingested_at=later),
        sale(line_number="2", quantity="4"),
        sale(line_number="2", quantity="4"),
        sale(line_number="3", quantity="7"),
    ]
    validated = validate(bronze(spark, "sales", rows), SALES)
    latest, superseded = latest_per_key(validated, list(SALES.business_key), repeated=repeated)
    got = sorted((r["line_number"], r["quantity"]) for r in latest.collect())
    assert got == [(1, 3), (2, 4), (3, 7)]
    assert superseded.count() == 3
    assert latest.columns == superseded.columns == validated.columns
    assert count_versions(validated, list(SALES.business_key)) == (3, 3, 2)


def _version(
    product_id: str, updated_at: str, cost: str, ingested: datetime = INGESTED
) -> dict[str, object]:
    return {
        "product_id": product_id,
        "sku": "S",
        "product_name": "N",
        "category": "Laptops",
        "brand": "B",
        "unit_cost": cost,
        "list_price": "999.00",
        "updated_at": updated_at,
        "_ingested_at": ingested,
    }


def test_product_versions_scd2_with_a_late_out_of_order_version(spark: SparkSession) -> None:
    contract = load_contract("products")
    first = validate(
        bronze(
            spark,
            "products",
            [
                _version("P1", "2025-01-01T00:00:00", "10.00"),
                _version("P1", "2025-03-01T00:00:00", "30.00"),
            ],
        ),
        contract,
    )
    stored = build_product_versions(first.limit(0), first, contract)
    late = validate(
        bronze(
            spark,
            "products",
            [_version("P1", "2025-02-01T00:00:00", "20.00", datetime(2025, 4, 1))],
        ),
        contract,
    )
    history = build_product_versions(stored, late, contract)
    got = history.select(
        "valid_from", "valid_to", "is_current", "version_number", F.col("unit_cost").cast("string")
    )
    expected = spark.createDataFrame(
        [
            (datetime(2025, 1, 1), datetime(2025, 2, 1), False, 1, "10.00"),
            (datetime(2025, 2, 1), datetime(2025, 3, 1), False, 2, "20.00"),
            (datetime(2025, 3, 1), END_OF_TIME, True, 3, "30.00"),
        ],
        "valid_from timestamp, valid_to timestamp, is_current boolean, version_number int, unit_cost string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_promotion_scope_and_date_rule(spark: SparkSession) -> None:
    contract = load_contract("promotions")
    base = {
        "promotion_name": "P",
        "promotion_type": "percent_off",
        "discount_pct": "10.00",
        "start_date": "2025-01-10",
        "end_date": "2025-01-16",
        "promo_cost": "100.00",
    }
    rows = [
        {**base, "promotion_id": "A", "product_id": "P1", "category": "Laptops"},
        {**base, "promotion_id": "B", "category": "Laptops"},
        {**base, "promotion_id": "C"},
        {**base, "promotion_id": "D", "end_date": "2025-01-09"},
    ]
    validated = validate(bronze(spark, "promotions", rows), contract)
    silver = to_silver_promotions(accepted_rows(validated), contract)
    got = {r["promotion_id"]: (r["scope"], r["promotion_days"]) for r in silver.collect()}
    assert got == {"A": ("product", 7), "B": ("category", 7), "C": ("all", 7)}
    rejected = [r["_failures"][0]["rule"] for r in rejected_rows(validated).collect()]
    assert rejected == ["end_not_before_start"]


def _event(event_id: str, event_type: str, event_ts: str, **changes: Any) -> dict[str, Any]:
    return sale(
        event_id=event_id, event_type=event_type, event_ts=event_ts, source="pos", **changes
    )


def test_events_become_sale_line_versions_ordered_by_event_time(spark: SparkSession) -> None:
    """Delivered newest first, in one file: the event with the latest event_ts still wins."""
    events = [
        _event("e3", "return", "2025-01-05T12:00:00Z", quantity="3"),
        _event("e2", "correction", "2025-01-05T11:00:00Z", quantity="3"),
        _event("e1", "sale", "2025-01-05T10:00:00Z"),
        _event("e9", "correction", "2025-01-06T09:00:00Z", order_id="O2", unit_price="7.25"),
    ]
    validated = validate(bronze(spark, "sales_events", events), load_contract("sales_events"))
    lines = event_lines(accepted_rows(validated), SALES)
    latest, superseded = latest_per_key(lines, list(SALES.business_key), SALES_ORDER)
    got = {r["order_id"]: r for r in to_silver_sales(latest, SALES).collect()}
    assert got["O1"]["line_status"] == "returned"
    assert got["O1"]["quantity"] == 3 and got["O1"]["_event_id"] == "e3"
    assert got["O1"]["_changed_at"] == datetime(2025, 1, 5, 12, 0)
    assert got["O2"]["line_status"] == "sold"
    assert got["O2"]["net_amount"] == Decimal("13.50")  # 2 x 7.25 - 1.00
    assert sorted(r["_event_id"] for r in superseded.collect()) == ["e1", "e2"]


def test_a_sale_event_equal_to_the_batch_line_is_the_same_version(spark: SparkSession) -> None:
    batch = batch_lines(accepted_rows(validate(bronze(spark, "sales", [sale()]), SALES)), SALES)
    events = bronze(spark, "sales_events", [_event("e1", "sale", "2025-01-05T10:00:00Z")])
    event = event_lines(accepted_rows(validate(events, load_contract("sales_events"))), SALES)
    returned = bronze(spark, "sales_events", [_event("e2", "return", "2025-01-05T10:00:00Z")])
    ret = event_lines(accepted_rows(validate(returned, load_contract("sales_events"))), SALES)
    hashes = [df.select(ROW_HASH).first()[0] for df in (batch, event, ret)]  # type: ignore[index]
    assert hashes[0] == hashes[1]
    assert hashes[2] != hashes[0]
