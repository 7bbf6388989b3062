"""The merge decisions of silver (silver/merge.py), on a few hand-written rows each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from chispa import assert_df_equality
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sales_lakehouse.silver.common import ROW_HASH
from sales_lakehouse.silver.merge import (
    changed_rows,
    newer,
    newer_and_different,
    scd2_changed,
    touched_values,
    within_dates,
)

T1, T2 = datetime(2025, 2, 1, 8), datetime(2025, 2, 2, 8)


def _suffixed(suffix: str) -> Callable[[str], Column]:
    return lambda name: F.col(f"{name}{suffix}")


def test_newer_compares_the_order_columns_left_to_right(spark: SparkSession) -> None:
    rows = spark.createDataFrame(
        [
            # a_new, b_new, a_old, b_old, expected
            (2, 0, 1, 9, True),  # a decides
            (1, 9, 2, 0, False),
            (1, 2, 1, 1, True),  # a ties, b decides
            (1, 1, 1, 2, False),
            (1, 1, 1, 1, False),  # the same version is not newer
        ],
        "a_new int, b_new int, a_old int, b_old int, expected boolean",
    )
    condition: Column = newer(("a", "b"))(_suffixed("_new"), _suffixed("_old"))
    got = [row[0] for row in rows.select(condition == F.col("expected")).collect()]
    assert got == [True] * 5


def test_newer_needs_an_order() -> None:
    try:
        newer(())
    except ValueError as error:
        assert "at least one column" in str(error)
    else:
        raise AssertionError("an empty order was accepted")


def test_newer_and_different_and_scd2_changed(spark: SparkSession) -> None:
    schema = (
        "h_new string, h_old string, t_new timestamp, t_old timestamp, "
        "valid_to_new int, valid_to_old int, is_current_new boolean, is_current_old boolean, "
        "version_number_new int, version_number_old int"
    )
    rows = spark.createDataFrame(
        [
            ("x", "y", T2, T1, 1, 1, True, True, 1, 1),  # newer and different
            ("x", "x", T2, T1, 1, 1, True, True, 1, 1),  # newer, same values
            ("x", "y", T1, T2, 1, 1, True, True, 1, 1),  # different but older
            ("x", "x", T1, T1, 2, 1, True, True, 1, 1),  # validity moved (SCD2 only)
        ],
        schema,
    ).withColumnsRenamed({"h_new": f"{ROW_HASH}_new", "h_old": f"{ROW_HASH}_old"})
    new, old = _suffixed("_new"), _suffixed("_old")
    upsert = newer_and_different(("t",))(new, old)
    scd2 = scd2_changed(new, old)
    assert [tuple(r) for r in rows.select(upsert, scd2).collect()] == [
        (True, True),
        (False, False),
        (False, True),
        (False, True),
    ]


def test_changed_rows_keeps_new_keys_and_newer_different_versions(spark: SparkSession) -> None:
    schema = f"k string, v string, t timestamp, {ROW_HASH} string"
    stored = spark.createDataFrame(
        [("A", "a1", T1, "ha1"), ("B", "b1", T1, "hb1"), ("C", "c1", T2, "hc1")], schema
    )
    latest = spark.createDataFrame(
        [
            ("A", "a2", T2, "ha2"),  # newer and different: written
            ("B", "b1", T2, "hb1"),  # newer but the same values: a duplicate
            ("C", "c0", T1, "hc0"),  # older than the stored row: not written
            ("D", "d1", T1, "hd1"),  # a new key: written
        ],
        schema,
    )
    expected = spark.createDataFrame([("A", "a2", T2, "ha2"), ("D", "d1", T1, "hd1")], schema)
    assert_df_equality(changed_rows(latest, stored, ["k"], ("t",)), expected, ignore_row_order=True)


def test_touched_values_include_the_stored_value_of_a_moved_key(spark: SparkSession) -> None:
    """A corrected line moved from 5 to 7 January: both dates, so the MERGE finds its row."""
    schema = "k string, sale_date date"
    stored = spark.createDataFrame(
        [("L1", date(2025, 1, 5)), ("L2", date(2025, 1, 6)), ("L9", date(2025, 1, 1))], schema
    )
    staged = spark.createDataFrame([("L1", date(2025, 1, 7)), ("L3", date(2025, 1, 6))], schema)
    got = sorted(r[0] for r in touched_values(staged, stored, ["k"], "sale_date").collect())
    assert got == [date(2025, 1, 5), date(2025, 1, 6), date(2025, 1, 7)]


def test_within_dates_limits_to_the_values_and_nulls(spark: SparkSession) -> None:
    assert within_dates("d", []) is None
    rows = spark.createDataFrame(
        [(date(2025, 1, 5),), (date(2025, 1, 6),), (None,)],
        T.StructType([T.StructField("d", T.DateType())]),
    )
    only = within_dates("d", [date(2025, 1, 5)])
    with_null = within_dates("d", [date(2025, 1, 6), None])
    assert only is not None and with_null is not None
    old = _suffixed("")
    got = [tuple(r) for r in rows.select(only(old, old), with_null(old, old)).collect()]
    assert got == [(True, False), (False, True), (None, True)]
