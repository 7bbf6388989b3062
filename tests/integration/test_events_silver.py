"""Sale events reach silver.sales: a correction replaces its line, a return flags it, the
latest event_ts wins whatever the delivery order, and gold counts sold lines only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sales_lakehouse.contracts import load_contract
from sales_lakehouse.lake import Lake
from tests.integration.conftest import FirstRun
from tests.integration.helpers import (
    copy_lake,
    lake_of,
    landed_for_the_block,
    run_pipeline,
    run_sales_only,
    stats,
    write_landing_csv,
)

pytestmark = pytest.mark.integration

SALE_COLUMNS = load_contract("sales").column_names


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(event_id: str, event_type: str, at: datetime, line: Mapping[str, Any]) -> dict[str, Any]:
    """An event as the Lambda consumer lands it: the whole line plus the event fields."""
    values = {name: line[name] for name in SALE_COLUMNS if line.get(name) is not None}
    if isinstance(values.get("order_ts"), datetime):
        values["order_ts"] = _iso(values["order_ts"])
    for name in ("quantity", "line_number"):
        values[name] = int(values[name])
    for name in ("unit_price", "discount_amount"):
        if name in values:
            values[name] = str(values[name])
    return {
        "event_id": event_id,
        "event_type": event_type,
        "event_ts": _iso(at),
        "source": "pos",
        **values,
    }


def land(landing: Path, name: str, events: list[dict[str, Any]]) -> None:
    folder = landing / "sales_events" / "ingest_date=2026-01-01"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")


def net(quantity: int, unit_price: Decimal, discount: Decimal) -> Decimal:
    return quantity * unit_price - discount


def test_events_correct_return_and_add_lines_after_the_batch(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path
) -> None:
    with landed_for_the_block(first_run.landing) as landing:
        _correct_return_and_add(spark, landing, copy_lake(first_run.lake_dir, tmp_path / "lake"))


def _correct_return_and_add(spark: SparkSession, landing: Path, lake_dir: Path) -> None:
    lake = lake_of(spark, landing, lake_dir)
    silver_before = lake.read("silver", "sales")
    picked = silver_before.filter("quantity >= 2").orderBy("order_id", "line_number").limit(3)
    a, b, c = (row.asDict() for row in picked.collect())
    lines_in_silver = silver_before.count()
    fact_before = lake.read("gold", "fact_sales")
    total_before = fact_before.agg({"net_amount": "sum"}).first()[0]  # type: ignore[index]
    lines_before = fact_before.count()

    now = datetime.now(UTC).replace(tzinfo=None)
    corrected = {**a, "quantity": 7, "discount_amount": Decimal("0.00")}
    new_line = {**a, "order_id": "EV-NEW-1", "line_number": 1, "quantity": 3}
    stale = {**c, "quantity": 99}  # an event older than the batch that already holds C
    land(
        landing,
        "batch-1.json",
        [
            event("ev-correct-a", "correction", now, corrected),
            event("ev-return-b", "return", now, b),
            event("ev-new", "sale", now, new_line),
            event("ev-stale-c", "correction", now - timedelta(days=3650), stale),
            {**event("ev-bad", "refund", now, b), "quantity": -1},
        ],
    )
    # The same correction delivered again in another object (a redelivered batch).
    land(landing, "batch-1-again.json", [event("ev-correct-a", "correction", now, corrected)])

    summary = run_pipeline(spark, landing, lake_dir)

    events = stats(summary, "silver", "sales_events")
    assert (events.rows_in, events.accepted, events.quarantined, events.duplicates) == (6, 3, 1, 2)
    quarantine = lake.read("quarantine", "sales_events").collect()
    assert [sorted(row["rules"]) for row in quarantine] == [["event_type_allowed", "quantity_min"]]

    silver = {
        (row["order_id"], row["line_number"]): row.asDict()
        for row in lake.read("silver", "sales").collect()
    }
    assert len(silver) == lines_in_silver + 1
    key = ("order_id", "line_number")
    got_a = silver[tuple(a[k] for k in key)]
    assert (got_a["quantity"], got_a["line_status"], got_a["_event_id"]) == (
        7,
        "sold",
        "ev-correct-a",
    )
    assert got_a["net_amount"] == net(7, a["unit_price"], Decimal("0.00"))
    got_b = silver[tuple(b[k] for k in key)]
    assert (got_b["quantity"], got_b["line_status"]) == (b["quantity"], "returned")
    got_c = silver[tuple(c[k] for k in key)]
    assert (got_c["quantity"], got_c["line_status"], got_c["_event_id"]) == (
        c["quantity"],
        "sold",
        None,
    )
    assert silver[("EV-NEW-1", 1)]["line_status"] == "sold"

    # Gold: B's line is gone from the facts, A counts with its corrected values, the new
    # line is in; every other line as before.
    fact = lake.read("gold", "fact_sales")
    assert (
        fact.filter(f"order_id = '{b['order_id']}' AND line_number = {b['line_number']}").count()
        == 0
    )
    expected_total = (
        total_before
        - net(b["quantity"], b["unit_price"], b["discount_amount"])
        - net(a["quantity"], a["unit_price"], a["discount_amount"])
        + net(7, a["unit_price"], Decimal("0.00"))
        + net(3, a["unit_price"], a["discount_amount"])
    )
    assert fact.agg({"net_amount": "sum"}).first()[0] == expected_total  # type: ignore[index]
    assert fact.count() == lines_before  # one returned, one new
    daily = lake.read("gold", "daily_sales").agg({"net_amount": "sum"}).first()[0]  # type: ignore[index]
    assert daily == expected_total


# Three lines, each with a history of events; the last event by event_ts decides.
T0 = datetime(2026, 1, 1, 9, 0, 0)
BASE: dict[str, Any] = {
    "line_number": 1,
    "order_ts": "2026-01-01T08:55:00.000000Z",
    "store_id": "S001",
    "customer_id": "C1",
    "product_id": "P001",
    "quantity": 1,
    "unit_price": "5.00",
    "discount_amount": "0.00",
    "channel": "store",
    "currency": "USD",
}
NEWEST = [  # delivered first
    event(
        "k1-return", "return", T0 + timedelta(minutes=30), {**BASE, "order_id": "K1", "quantity": 4}
    ),
    event(
        "k2-fix-2",
        "correction",
        T0 + timedelta(minutes=30),
        {**BASE, "order_id": "K2", "unit_price": "9.99"},
    ),
    event("k3-sale", "sale", T0, {**BASE, "order_id": "K3"}),
]
OLDEST = [  # delivered later, in a later run
    event("k1-sale", "sale", T0, {**BASE, "order_id": "K1"}),
    event(
        "k1-fix",
        "correction",
        T0 + timedelta(minutes=10),
        {**BASE, "order_id": "K1", "quantity": 4},
    ),
    event("k2-sale", "sale", T0, {**BASE, "order_id": "K2"}),
    event(
        "k2-fix-1",
        "correction",
        T0 + timedelta(minutes=20),
        {**BASE, "order_id": "K2", "unit_price": "8.00"},
    ),
]
EXPECTED = {
    ("K1", 1): (4, Decimal("5.00"), "returned", "k1-return"),
    ("K2", 1): (1, Decimal("9.99"), "sold", "k2-fix-2"),
    ("K3", 1): (1, Decimal("5.00"), "sold", "k3-sale"),
}


def _silver_lines(spark: SparkSession, landing: Path, lake_dir: Path) -> dict[Any, tuple[Any, ...]]:
    rows = lake_of(spark, landing, lake_dir).read("silver", "sales").collect()
    return {
        (r["order_id"], r["line_number"]): (
            r["quantity"],
            r["unit_price"],
            r["line_status"],
            r["_event_id"],
        )
        for r in rows
    }


def test_out_of_order_events_give_the_same_silver_as_in_order(
    spark: SparkSession, tmp_path: Path
) -> None:
    in_order = tmp_path / "in-order"
    land(in_order / "landing", "all.json", OLDEST + NEWEST)
    run_sales_only(spark, in_order / "landing", in_order / "lake")

    reversed_ = tmp_path / "reversed"
    land(reversed_ / "landing", "newest.json", NEWEST)
    run_sales_only(spark, reversed_ / "landing", reversed_ / "lake")
    land(reversed_ / "landing", "oldest.json", OLDEST)
    run_sales_only(spark, reversed_ / "landing", reversed_ / "lake")

    assert _silver_lines(spark, in_order / "landing", in_order / "lake") == EXPECTED
    assert _silver_lines(spark, reversed_ / "landing", reversed_ / "lake") == EXPECTED


def _units_by_day(lake: Lake) -> dict[date, int]:
    rows = lake.read("gold", "daily_sales").groupBy("sale_date").agg(F.sum("units")).collect()
    return {row[0]: int(row[1]) for row in rows}


def _landing_row(line: Mapping[str, Any], order_ts: datetime) -> dict[str, str]:
    """A stored silver line as a landing CSV row, with another order_ts."""
    values = {name: line[name] for name in SALE_COLUMNS}
    values["order_ts"] = _iso(order_ts)
    return {name: "" if value is None else str(value) for name, value in values.items()}


def test_corrections_moving_lines_to_other_dates_keep_one_row_per_line(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path
) -> None:
    """A correction of order_ts moves a line to another sale date, i.e. another partition
    of silver.sales: each MERGE must still find the stored row in its old date. Line A is
    moved by a batch file and again by a later event in the same run (the events' MERGE
    finds it where the batch's MERGE just put it); line B is moved by an event alone."""
    with landed_for_the_block(first_run.landing) as landing:
        _move_lines(spark, landing, copy_lake(first_run.lake_dir, tmp_path / "lake"))


def _move_lines(spark: SparkSession, landing: Path, lake_dir: Path) -> None:
    lake = lake_of(spark, landing, lake_dir)
    silver_before = lake.read("silver", "sales")
    lines_before = silver_before.count()
    days = sorted(row[0] for row in silver_before.select("sale_date").distinct().collect())
    a_day, b_day, a_batch_day, a_event_day, b_event_day = (days[i] for i in (10, 20, 30, 40, 50))

    def first_line(day: date) -> dict[str, Any]:
        on_day = silver_before.filter(F.col("sale_date") == F.lit(day))
        return on_day.orderBy("order_id", "line_number").first().asDict()  # type: ignore[union-attr]

    def noon(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, 12)

    a, b = first_line(a_day), first_line(b_day)
    units_before = _units_by_day(lake)
    write_landing_csv(
        landing / "sales" / "2099-01-03_sales_move.csv",
        list(SALE_COLUMNS),
        [_landing_row(a, noon(a_batch_day))],
    )
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)  # after the batch
    land(
        landing,
        "moves.json",
        [
            event("ev-move-a", "correction", later, {**a, "order_ts": noon(a_event_day)}),
            event("ev-move-b", "correction", later, {**b, "order_ts": noon(b_event_day)}),
        ],
    )

    run_pipeline(spark, landing, lake_dir)

    silver = lake.read("silver", "sales")
    assert silver.count() == lines_before
    for line, day in ((a, a_event_day), (b, b_event_day)):
        key = (F.col("order_id") == line["order_id"]) & (
            F.col("line_number") == line["line_number"]
        )
        assert [r["sale_date"] for r in silver.filter(key).collect()] == [day]
        facts = lake.read("gold", "fact_sales").filter(key).collect()
        assert [r["sale_date"] for r in facts] == [day]
    expected = dict(units_before)
    for line, old, new in ((a, a_day, a_event_day), (b, b_day, b_event_day)):
        expected[old] -= line["quantity"]
        expected[new] += line["quantity"]
    assert _units_by_day(lake) == expected
