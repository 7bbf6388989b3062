"""The order database through the whole pipeline: silver and gold equal the database.

The oracle is the database itself (PyMySQL): each line with its order's header, and the
gold figures summed from the lines still sold. Nothing of it is computed by our code.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sales_lakehouse.config import Settings
from sales_lakehouse.lake import Lake
from sales_lakehouse.oltp.dsn import Dsn
from sales_lakehouse.oltp.fill import fill
from sales_lakehouse.pipeline import run
from sales_lakehouse.pipeline.extract import extract_oltp
from sales_lakehouse.pipeline.quality import run_quality
from tests.oltp.conftest import execute, query
from tests.oltp.test_extract import landed_folders

SILVER_COLUMNS = (
    "order_id", "line_number", "order_ts", "store_id", "customer_id", "product_id", "quantity",
    "unit_price", "discount_amount", "promotion_id", "channel", "currency", "line_status",
)  # fmt: skip
DATABASE_LINES = """
    SELECT l.order_id, l.line_number, o.order_ts, o.store_id, o.customer_id, l.product_id,
           l.quantity, l.unit_price, l.discount_amount, l.promotion_id, o.channel, o.currency,
           CASE WHEN l.deleted THEN 'deleted' WHEN o.status = 'cancelled' THEN 'cancelled'
                ELSE 'sold' END
    FROM order_lines l JOIN orders o ON o.order_id = l.order_id
"""
DATABASE_DAILY = """
    SELECT DATE(o.order_ts), o.store_id, l.product_id, o.currency, SUM(l.quantity),
           SUM(l.quantity * l.unit_price - l.discount_amount), COUNT(*)
    FROM order_lines l JOIN orders o ON o.order_id = l.order_id
    WHERE NOT l.deleted AND o.status <> 'cancelled'
    GROUP BY DATE(o.order_ts), o.store_id, l.product_id, o.currency
"""


def _silver(lake: Lake) -> set[tuple[Any, ...]]:
    rows = lake.read("silver", "sales").filter(F.col("order_id").startswith("DB-"))
    return {tuple(row) for row in rows.select(*SILVER_COLUMNS).collect()}


def _gold(lake: Lake) -> set[tuple[Any, ...]]:
    daily = lake.read("gold", "daily_sales").select(
        "sale_date", "store_id", "product_id", "currency", "units", "net_amount", "line_count"
    )
    return {tuple(row) for row in daily.collect()}


def _database_gold(dsn: Dsn, exclude: str = "") -> set[tuple[Any, ...]]:
    return {
        (day, store, product, currency, int(units), Decimal(net), int(lines))
        for day, store, product, currency, units, net, lines in query(dsn, DATABASE_DAILY)
        if currency != exclude
    }


def _round(spark: SparkSession, root: Path, dsn: Dsn) -> Lake:
    """Extract, then a pipeline run: each with its own settings (run id, start time)."""
    settings = Settings(landing=str(root / "landing"), lake=str(root / "lake"))
    extract_oltp(spark, settings, dsn, lookback=timedelta(seconds=1), progress=lambda _line: None)
    run(spark, settings, progress=lambda _line: None)
    return Lake(spark, settings)


def test_four_rounds_of_the_database_reach_silver_and_gold_as_the_database_holds_them(
    spark: SparkSession, dsn: Dsn, tmp_path: Path
) -> None:
    (tmp_path / "landing").mkdir()
    fill(dsn, orders=150, seed=31)
    # A column the contracts do not name, and an order in a currency the contract refuses.
    execute(
        dsn,
        "ALTER TABLE orders ADD COLUMN gift_wrap BOOLEAN NOT NULL DEFAULT TRUE",
        "UPDATE orders SET currency = 'JPY' WHERE order_id = 'DB-0000000007'",
    )
    (refused,) = query(dsn, "SELECT COUNT(*) FROM order_lines WHERE order_id = 'DB-0000000007'")[0]

    lake = _round(spark, tmp_path, dsn)
    assert _silver(lake) == set(query(dsn, DATABASE_LINES + " WHERE o.currency <> 'JPY'"))
    assert _gold(lake) == _database_gold(dsn, exclude="JPY")
    quarantined = lake.read("quarantine", "oltp_sales").collect()
    assert len(quarantined) == refused
    assert {row["order_id"] for row in quarantined} == {"DB-0000000007"}
    assert all("currency" in row["reason"] and "JPY" in row["reason"] for row in quarantined)
    # Corrected at the source (as a change: updated_at moves): it arrives with the next round.
    execute(
        dsn,
        "UPDATE orders SET currency = 'USD', updated_at = UTC_TIMESTAMP(6) "
        "WHERE order_id = 'DB-0000000007'",
    )
    # Bronze holds the rows as text, exactly as the database holds them; the new column
    # is kept in _extra.
    bronze = {
        (r["order_id"], int(r["line_number"]), r["unit_price"])
        for r in lake.read("bronze", "oltp_order_lines").collect()
    }
    assert bronze == {
        (order_id, line, f"{price}")
        for order_id, line, price in query(
            dsn, "SELECT order_id, line_number, unit_price FROM order_lines"
        )
    }
    orders = lake.read("bronze", "oltp_orders")
    assert orders.filter(F.col("_extra")["gift_wrap"] == "true").count() == 150

    # As an extract killed before its commit leaves a folder: files, but no _SUCCESS.
    (folder,) = landed_folders(tmp_path / "landing", "orders")
    unfinished = folder.with_name("extract_id=20990101T000000Z-unfinished")
    shutil.copytree(folder, unfinished)
    (unfinished / "_SUCCESS").unlink()

    for number in range(3):
        changes = fill(dsn, rate=60, duration=1.0, seed=40 + number)
        assert changes.cancellations + changes.deletions + changes.corrections > 0
        if number == 1:  # completed late: its rows are old versions, taken once
            (unfinished / "_SUCCESS").touch()
        lake = _round(spark, tmp_path, dsn)
        assert _silver(lake) == set(query(dsn, DATABASE_LINES)), number
        assert _gold(lake) == _database_gold(dsn), number
        sources = lake.read("bronze", "oltp_orders").filter(
            F.col("_source_file").contains("unfinished")
        )
        assert sources.count() == (0 if number == 0 else 150), number
    statuses = {row[-1] for row in _silver(lake)}
    assert statuses == {"sold", "cancelled", "deleted"}

    # The quality command judges the order database's lines too: all valid now, and the
    # quarantine counts the lines refused in the first round.
    settings = Settings(landing=str(tmp_path / "landing"), lake=str(tmp_path / "lake"))
    found = run_quality(spark, settings, progress=lambda _line: None)
    oltp = {r.rule: r for r in found.results if r.dataset == "oltp_sales"}
    assert oltp["currency_allowed"].rows_failed == 0
    assert oltp["currency_allowed"].rows_checked == len(query(dsn, DATABASE_LINES))
    assert oltp["oltp_sales_quarantine_share"].passed
    assert found.quarantine["oltp_sales"] == [("currency_allowed", refused)]
