"""Dataset-level checks on 3-6 inline rows each, expected values written by hand."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from sales_lakehouse.contracts import Contract, DatasetCheck, load_contract
from sales_lakehouse.quality.checks import (
    RunCounts,
    check_freshness,
    check_quarantine_fraction,
    check_referential,
    check_row_count,
    check_unique,
)
from sales_lakehouse.quality.engine import CheckInputs, evaluate_checks
from sales_lakehouse.quality.reconcile import reconcile_bronze_silver, reconcile_silver_gold
from sales_lakehouse.quality.results import EvalContext

CTX = EvalContext("r1", "silver", datetime(2025, 1, 7, 0, 0), datetime(2025, 1, 6, 10, 0))
KEYS = ["order_id", "line_number"]


def check(**fields: Any) -> DatasetCheck:
    return DatasetCheck.model_validate({"name": "c", "description": "d", **fields})


def test_unique_counts_every_row_of_a_repeated_key(spark: SparkSession) -> None:
    df = spark.createDataFrame(
        [("O1", 1), ("O1", 1), ("O2", 1), ("O2", 2), ("O3", None), ("O3", None)],
        "order_id string, line_number int",
    )
    result = check_unique(df, check(type="unique", action="fail"), CTX, "sales", KEYS)
    assert (result.rows_checked, result.rows_failed, result.passed) == (6, 4, False)
    assert result.sample_keys == ("O1/1", "O3/null")
    assert result.blocks
    tolerant = check_unique(df, check(type="unique", max_fraction=0.7), CTX, "sales", KEYS)
    assert tolerant.passed


def test_unique_on_an_empty_table_passes(spark: SparkSession) -> None:
    df = spark.createDataFrame([], "order_id string, line_number int")
    result = check_unique(df, check(type="unique"), CTX, "sales", KEYS)
    assert (result.rows_checked, result.rows_failed, result.passed) == (0, 0, True)


def test_referential_counts_orphans_and_ignores_nulls(spark: SparkSession) -> None:
    sales = spark.createDataFrame(
        [("O1", 1, "P1"), ("O2", 1, "P9"), ("O3", 1, None), ("O4", 2, "P9"), ("O5", 1, "P2")],
        "order_id string, line_number int, product_id string",
    )
    products = spark.createDataFrame([("P1",), ("P2",), ("P2",)], "product_id string")
    rule = check(type="referential", column="product_id", references="products.product_id")
    result = check_referential(sales, products, check=rule, ctx=CTX, dataset="sales", keys=KEYS)
    assert (result.rows_checked, result.rows_failed, result.passed) == (4, 2, False)
    assert result.sample_keys == ("O2/1", "O4/2")
    assert result.observed == "2 orphan rows, 1 unknown product_id values"
    assert result.action == "warn" and not result.blocks


def test_referential_without_its_reference_is_skipped(spark: SparkSession) -> None:
    sales = spark.createDataFrame([("O1", 1, "P1")], "order_id string, line_number int, p string")
    rule = check(type="referential", column="p", references="products.product_id")
    result = check_referential(sales, None, check=rule, ctx=CTX, dataset="sales", keys=KEYS)
    assert result.skipped and result.passed


@pytest.mark.parametrize(("max_age", "passed"), [("1d", True), ("24h", True), ("12h", False)])
def test_freshness_against_the_as_of_time(spark: SparkSession, max_age: str, passed: bool) -> None:
    df = spark.createDataFrame(
        [(datetime(2025, 1, 5, 10, 0),), (datetime(2025, 1, 3, 0, 0),), (None,)],
        "order_ts timestamp",
    )
    rule = check(type="freshness", max_age=max_age)
    result = check_freshness(df, rule, CTX, "sales", "order_ts")
    assert result.passed is passed
    assert result.observed == "newest order_ts 2025-01-05 10:00:00 (24.0 h old)"


def test_freshness_of_an_empty_table_fails(spark: SparkSession) -> None:
    df = spark.createDataFrame([], "start_date date")
    result = check_freshness(df, check(type="freshness", max_age="2d"), CTX, "p", "start_date")
    assert not result.passed
    assert result.observed == "no rows"


def test_row_count_bounds_and_anomaly() -> None:
    rule = check(type="row_count", min_rows=1, anomaly_k=3, min_history=5)
    history = [100, 102, 98, 101, 99]  # mean 100, population std dev sqrt(2) = 1.414
    assert check_row_count(104, history, rule, CTX, "sales").passed
    outlier = check_row_count(105, history, rule, CTX, "sales")
    assert not outlier.passed
    assert outlier.message == "105 rows is outside 96..104"
    assert not check_row_count(0, history, rule, CTX, "sales").passed


def test_row_count_anomaly_is_skipped_without_enough_history() -> None:
    rule = check(type="row_count", anomaly_k=3, min_history=5)
    result = check_row_count(10_000, [100, 100, 100], rule, CTX, "sales")
    assert result.passed and result.skipped
    assert "3 previous runs, 5 needed" in result.message
    bounded = check_row_count(
        10_000, [100], check(type="row_count", max_rows=500, anomaly_k=2), CTX, "s"
    )
    assert not bounded.passed and not bounded.skipped


def test_row_count_with_a_steady_history_uses_a_spread_of_one_row() -> None:
    rule = check(type="row_count", anomaly_k=2, min_history=3)
    assert check_row_count(52, [50, 50, 50], rule, CTX, "s").passed
    assert not check_row_count(53, [50, 50, 50], rule, CTX, "s").passed


def test_quarantine_fraction() -> None:
    rule = check(type="quarantine_fraction", max_fraction=0.05, min_batch_rows=100, action="fail")
    assert check_quarantine_fraction(RunCounts(200, 10), rule, CTX, "sales").passed
    over = check_quarantine_fraction(RunCounts(200, 11), rule, CTX, "sales")
    assert (over.passed, over.blocks, over.rows_failed) == (False, True, 11)
    assert over.observed == "5.50% quarantined (11 of 200)"
    small = check_quarantine_fraction(RunCounts(10, 9), rule, CTX, "sales")
    assert small.skipped and small.passed


def test_bronze_silver_reconciliation() -> None:
    rule = check(type="reconciliation", compare="bronze_silver", action="fail")
    assert reconcile_bronze_silver(RunCounts(10, 2, 7, 1), rule, CTX, "sales").passed
    lost = reconcile_bronze_silver(RunCounts(10, 2, 6, 1), rule, CTX, "sales")
    assert (lost.passed, lost.rows_failed) == (False, 1)
    assert reconcile_bronze_silver(RunCounts(10, 2), rule, CTX, "sales").skipped


def test_silver_gold_reconciliation_finds_the_differing_date(spark: SparkSession) -> None:
    d1, d2, d3 = date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)
    lines = "sale_date date, net_amount decimal(18,2)"
    silver = spark.createDataFrame(
        [(d1, Decimal("10.00")), (d1, Decimal("0.01")), (d2, Decimal("5.00")), (d3, None)], lines
    )
    fact = spark.createDataFrame(
        [(d1, Decimal("10.00")), (d1, Decimal("0.01")), (d2, Decimal("5.00")), (d3, None)], lines
    )
    daily = spark.createDataFrame(
        [(d1, Decimal("10.01"), 2), (d2, Decimal("5.01"), 1)],
        "sale_date date, net_amount decimal(18,2), line_count long",
    )
    rule = check(type="reconciliation", compare="silver_gold")
    every = reconcile_silver_gold(silver, fact, daily, check=rule, ctx=CTX, dates=None)
    assert (every.rows_checked, every.rows_failed, every.passed) == (3, 2, False)
    assert every.sample_keys == ("2025-01-02", "2025-01-03")
    first = reconcile_silver_gold(silver, fact, daily, check=rule, ctx=CTX, dates=[d1])
    assert (first.rows_checked, first.rows_failed, first.passed) == (1, 0, True)
    assert reconcile_silver_gold(silver, fact, daily, check=rule, ctx=CTX, dates=[]).skipped


def _sales_table_checks() -> tuple[Contract, list[DatasetCheck]]:
    contract = load_contract("sales")
    table_types = ("unique", "referential", "freshness")
    return contract, [c for c in contract.checks if c.type in table_types]


def _sales_rows(spark: SparkSession, rows: list[tuple[Any, ...]]) -> DataFrame:
    schema = "order_id string, line_number int, product_id string, promotion_id string, "
    return spark.createDataFrame(rows, schema + "order_ts timestamp")


def test_the_table_checks_of_a_batch_in_one_pass_keep_their_order_and_verdicts(
    spark: SparkSession,
) -> None:
    contract, checks = _sales_table_checks()
    table = _sales_rows(
        spark,
        [
            ("O1", 1, "P1", None, datetime(2025, 1, 6, 6, 0)),
            ("O1", 1, "P9", "X1", datetime(2025, 1, 5, 0, 0)),
            ("O2", 1, "P8", "M1", datetime(2025, 1, 4, 0, 0)),
            ("O3", 2, "P1", "X1", None),
        ],
    )
    products = spark.createDataFrame([("P1",), ("P2",)], "product_id string")
    promotions = spark.createDataFrame([("M1",)], "promotion_id string")
    inputs = CheckInputs(table=table, references={"products": products, "promotions": promotions})

    results = evaluate_checks(contract, inputs, CTX, checks)

    assert [r.rule for r in results] == [
        "sales_key_unique",
        "sales_product_known",
        "sales_promotion_known",
        "sales_fresh",
    ]
    unique, product, promotion, fresh = results
    assert (unique.rows_checked, unique.rows_failed, unique.sample_keys) == (4, 2, ("O1/1",))
    assert (product.rows_checked, product.rows_failed) == (4, 2)
    assert product.sample_keys == ("O1/1", "O2/1")
    assert product.observed == "2 orphan rows, 2 unknown product_id values"
    assert (promotion.rows_checked, promotion.rows_failed) == (3, 2)
    assert promotion.sample_keys == ("O1/1", "O3/2")
    assert promotion.observed == "2 orphan rows, 1 unknown promotion_id values"
    assert fresh.observed == "newest order_ts 2025-01-06 06:00:00 (4.0 h old)"
    assert (fresh.rows_checked, fresh.passed) == (4, True)


def test_table_checks_without_a_reference_or_on_an_increment_are_judged_apart(
    spark: SparkSession,
) -> None:
    contract, checks = _sales_table_checks()
    touched = _sales_rows(spark, [("O1", 1, "P9", None, datetime(2025, 1, 2, 0, 0))])
    whole = _sales_rows(
        spark,
        [
            ("O1", 1, "P9", None, datetime(2025, 1, 2, 0, 0)),
            ("O0", 1, "P1", None, datetime(2025, 1, 6, 9, 0)),
        ],
    )
    products = spark.createDataFrame([("P1",)], "product_id string")
    inputs = CheckInputs(table=touched, whole=whole, references={"products": products})

    unique, product, promotion, fresh = evaluate_checks(contract, inputs, CTX, checks)

    assert (unique.rows_checked, unique.rows_failed) == (1, 0)
    assert (product.rows_checked, product.rows_failed, product.sample_keys) == (1, 1, ("O1/1",))
    assert promotion.skipped and promotion.passed
    assert promotion.message == "reference promotions.promotion_id is not available"
    # Freshness judges the whole table, not the increment's touched rows.
    assert fresh.observed == "newest order_ts 2025-01-06 09:00:00 (1.0 h old)"
    assert fresh.rows_checked == 2
