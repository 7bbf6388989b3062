"""Bronze takes each completed extract of the order database once, as landed."""

from __future__ import annotations

import shutil
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sales_lakehouse.config import Settings
from sales_lakehouse.lake import Lake
from sales_lakehouse.oltp.dsn import Dsn
from sales_lakehouse.oltp.fill import fill
from sales_lakehouse.pipeline import run
from sales_lakehouse.pipeline.extract import extract_oltp
from tests.oltp.conftest import execute, query
from tests.oltp.test_extract import landed, landed_folders


def _lake(spark: SparkSession, tmp_path: Path) -> Lake:
    (tmp_path / "landing").mkdir(exist_ok=True)
    return Lake(spark, Settings(landing=str(tmp_path / "landing"), lake=str(tmp_path / "lake")))


def _bronze(spark: SparkSession, tmp_path: Path) -> list[str]:
    lines: list[str] = []
    lake = _lake(spark, tmp_path)
    run(spark, lake.settings, stage="bronze", progress=lines.append)
    return lines


def test_bronze_holds_every_extracted_row_once_as_text_with_its_change_columns(
    spark: SparkSession, dsn: Dsn, tmp_path: Path
) -> None:
    fill(dsn, orders=40, seed=21)
    execute(dsn, "ALTER TABLE orders ADD COLUMN gift_wrap BOOLEAN NOT NULL DEFAULT TRUE")
    settings = _lake(spark, tmp_path).settings
    extract_oltp(spark, settings, dsn, progress=lambda _line: None)
    _bronze(spark, tmp_path)
    lake = _lake(spark, tmp_path)

    lines = lake.read("bronze", "oltp_order_lines")
    assert lines.count() == len(landed(tmp_path / "landing", "order_lines"))
    # Money and times as text, exactly as the database holds them (the oracle: PyMySQL).
    expected = {
        (
            order_id,
            line,
            f"{price}",
            updated.strftime("%Y-%m-%d %H:%M:%S.%f").rstrip("0").rstrip("."),
        )
        for order_id, line, price, updated in query(
            dsn, "SELECT order_id, line_number, unit_price, updated_at FROM order_lines"
        )
    }
    found = {
        (r["order_id"], int(r["line_number"]), r["unit_price"], r["updated_at"])
        for r in lines.collect()
    }
    assert found == expected
    assert {r["_op"] for r in lines.select("_op").collect()} == {"I"}
    # The column the contract does not name is kept in _extra, not dropped.
    orders = lake.read("bronze", "oltp_orders")
    assert orders.filter(F.col("_extra")["gift_wrap"] == "true").count() == 40

    # A second run takes nothing again.
    second = _bronze(spark, tmp_path)
    assert "bronze oltp_order_lines: 0 rows from 0 files of 0 extracts" in second
    assert lake.read("bronze", "oltp_order_lines").count() == lines.count()


def test_an_extract_folder_without_its_success_marker_waits(
    spark: SparkSession, dsn: Dsn, tmp_path: Path
) -> None:
    fill(dsn, orders=10, seed=22)
    settings = _lake(spark, tmp_path).settings
    extract_oltp(spark, settings, dsn, tables=["orders"], progress=lambda _line: None)
    (folder,) = landed_folders(tmp_path / "landing", "orders")
    # As an extract killed before its commit leaves it: files, but no _SUCCESS.
    unfinished = folder.with_name("extract_id=20990101T000000Z-unfinished")
    shutil.copytree(folder, unfinished)
    (unfinished / "_SUCCESS").unlink()

    first = _bronze(spark, tmp_path)
    assert any("has no _SUCCESS yet" in line for line in first)
    assert _lake(spark, tmp_path).read("bronze", "oltp_orders").count() == 10

    (unfinished / "_SUCCESS").touch()
    _bronze(spark, tmp_path)
    assert _lake(spark, tmp_path).read("bronze", "oltp_orders").count() == 20
