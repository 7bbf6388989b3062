"""Later runs over the generated landing set: a replay changes nothing, a small second
batch of re-sends changes silver and only the gold rows of the sale dates it touches."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from bench.reference import DAILY_GRAIN, DAILY_MEASURES, Reference
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sales_lakehouse.contracts import DATASETS, load_contract
from sales_lakehouse.gold.performance import build_promotion_performance
from sales_lakehouse.lake import Lake
from sales_lakehouse.lake.maintenance import file_count, optimize
from tests.integration.conftest import FirstRun
from tests.integration.helpers import (
    TABLES,
    copy_lake,
    lake_of,
    multiset_difference,
    read_landing_csv,
    row_multiset,
    run_pipeline,
    stats,
    write_landing_csv,
)
from tests.integration.oracle import oracle_of

pytestmark = pytest.mark.integration

FIX_FILE = "sales/2099-01-01_sales_fix.csv"
NEW_ORDER = "FIX-0000001"


def test_second_run_is_a_no_op(spark: SparkSession, first_run: FirstRun, tmp_path: Path) -> None:
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    lake = lake_of(spark, first_run.landing, lake_dir)
    before = {table: row_multiset(lake.read(*table)) for table in TABLES}

    summary = run_pipeline(spark, first_run.landing, lake_dir)

    for dataset in DATASETS:
        bronze = stats(summary, "bronze", dataset)
        assert (bronze.files, bronze.rows_in, bronze.rejected_files) == (0, 0, [])
        silver = stats(summary, "silver", dataset)
        assert (silver.rows_in, silver.accepted, silver.quarantined, silver.duplicates) == (
            0,
            0,
            0,
            0,
        )
    for table in TABLES:
        after = row_multiset(lake.read(*table))
        difference = multiset_difference(before[table], after)
        assert not difference, (
            f"{'.'.join(table)} changed (left before, right after):\n{difference}"
        )


@contextmanager
def _landed(path: Path, rows: list[dict[str, str]]) -> Iterator[Path]:
    """Land a sales file in the shared landing folder for the duration of the block."""
    write_landing_csv(path, load_contract("sales").column_names, rows)
    try:
        yield path
    finally:
        path.unlink()


def _clean_lines_by_date(
    run: FirstRun, oracle: Reference
) -> dict[date, list[tuple[str, int, str]]]:
    """(order_id, line_number, file name) of lines no defect or copy touches, per sale date."""
    reported = {
        (str(key[0]), int(key[1]))
        for entry in run.report.defects["sales"].values()
        for key in entry.keys
    }
    by_date: dict[date, list[tuple[str, int, str]]] = defaultdict(list)
    for order_id, line, sale_date, file_name in oracle.rows(
        "SELECT order_id, line_number, sale_date, file_name FROM silver_sales "
        "ORDER BY sale_date, order_id, line_number"
    ):
        if (order_id, line) not in reported:
            by_date[sale_date].append((order_id, line, file_name))
    return by_date


def _landed_row(run: FirstRun, order_id: str, line: int, file_name: str) -> dict[str, str]:
    """The line exactly as landed (read with the csv module), contract columns only."""
    columns = load_contract("sales").column_names
    for row in read_landing_csv(run.landing / "sales" / file_name):
        if row["order_id"] == order_id and row["line_number"] == str(line):
            return {name: row[name] for name in columns}
    raise AssertionError(f"{order_id}/{line} not found in {file_name}")


def _by_date(rows: Counter[tuple[Any, ...]], position: int) -> dict[date, Counter[tuple[Any, ...]]]:
    grouped: dict[date, Counter[tuple[Any, ...]]] = defaultdict(Counter)
    for row, count in rows.items():
        grouped[row[position]][row] += count
    return grouped


def test_second_batch_with_resends_updates_only_affected_dates(
    spark: SparkSession, first_run: FirstRun, oracle: Reference, tmp_path: Path
) -> None:
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    lake = lake_of(spark, first_run.landing, lake_dir)
    daily_columns = (*DAILY_GRAIN, *DAILY_MEASURES)
    daily_before = row_multiset(lake.read("gold", "daily_sales").select(*daily_columns))
    fact_before = row_multiset(lake.read("gold", "fact_sales"))
    silver_before = lake.read("silver", "sales").count()

    clean = _clean_lines_by_date(first_run, oracle)
    dates = sorted(day for day, lines in clean.items() if len(lines) >= 2)
    resent_day, other_resent_day, new_line_day, duplicate_day = (
        dates[40],
        dates[41],
        dates[60],
        dates[80],
    )
    resent = [*clean[resent_day][:2], clean[other_resent_day][0]]
    corrected = []
    for order_id, line, file_name in resent:
        row = _landed_row(first_run, order_id, line, file_name)
        corrected.append({**row, "quantity": str(int(row["quantity"]) + 1)})
    duplicate = _landed_row(first_run, *clean[duplicate_day][0])
    new_line = {
        **_landed_row(first_run, *clean[new_line_day][0]),
        "order_id": NEW_ORDER,
        "line_number": "1",
    }
    touched = {resent_day, other_resent_day, new_line_day}

    with _landed(first_run.landing / FIX_FILE, [*corrected, duplicate, new_line]):
        summary = run_pipeline(spark, first_run.landing, lake_dir)
        after = oracle_of(first_run.landing)
        expected_daily = Counter(after.daily())
        expected_fact_rows = after.scalar(
            "SELECT count(*) FROM fact_sales WHERE sale_date IN (?, ?, ?)", sorted(touched)
        )
        after.close()

    bronze = stats(summary, "bronze", "sales")
    assert (bronze.files, bronze.rows_in) == (1, 5)
    silver_stats = stats(summary, "silver", "sales")
    assert (
        silver_stats.rows_in,
        silver_stats.accepted,
        silver_stats.duplicates,
        silver_stats.quarantined,
    ) == (5, 4, 1, 0)

    silver = lake.read("silver", "sales")
    assert silver.count() == silver_before + 1
    values = {
        (row["order_id"], row["line_number"]): row
        for row in silver.select("order_id", "line_number", "quantity", "_source_file").collect()
    }
    for row in [*corrected, new_line]:
        stored = values[(row["order_id"], int(row["line_number"]))]
        assert stored["quantity"] == int(row["quantity"])
        assert stored["_source_file"].endswith(FIX_FILE)
    duplicate_key = (duplicate["order_id"], int(duplicate["line_number"]))
    assert not values[duplicate_key]["_source_file"].endswith(FIX_FILE)

    # Gold: the touched dates match the oracle, every other date is exactly as before.
    daily_after = row_multiset(lake.read("gold", "daily_sales").select(*daily_columns))
    before_by_day, after_by_day = _by_date(daily_before, 0), _by_date(daily_after, 0)
    expected_by_day = _by_date(expected_daily, 0)
    for day in touched:
        assert expected_by_day[day] != before_by_day[day], f"{day}: the batch changes nothing"
        difference = multiset_difference(after_by_day[day], expected_by_day[day])
        assert not difference, f"daily_sales {day} (left) vs oracle (right):\n{difference}"
    for day in set(before_by_day) | set(after_by_day):
        if day not in touched:
            assert after_by_day[day] == before_by_day[day], f"daily_sales {day} changed"
    difference = multiset_difference(daily_after, expected_daily)
    assert not difference, f"gold.daily_sales (left) vs oracle (right):\n{difference}"

    fact_after = row_multiset(lake.read("gold", "fact_sales"))
    position = lake.read("gold", "fact_sales").columns.index("sale_date")
    fact_before_by_day, fact_after_by_day = (
        _by_date(fact_before, position),
        _by_date(fact_after, position),
    )
    for day in set(fact_before_by_day) | set(fact_after_by_day):
        if day not in touched:
            assert fact_after_by_day[day] == fact_before_by_day[day], f"fact_sales {day} changed"
    # Only the touched dates were rebuilt: the fact rows written are theirs.
    assert summary.gold_rows["fact_sales"] == expected_fact_rows


MOVE_FILE = "sales/2099-01-02_sales_move.csv"


def test_correction_moving_a_line_to_another_date(
    spark: SparkSession, first_run: FirstRun, oracle: Reference, tmp_path: Path
) -> None:
    """A re-sent line whose order_ts moves it to another day: silver.sales (clustered by
    sale_date, its MERGE pruned to the dates involved) still holds one row for the line,
    now on the new day, and gold's old and new dates both match the oracle."""
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    lake = lake_of(spark, first_run.landing, lake_dir)
    # Small files of short date ranges, as a large table has (the test lake is one file):
    # maintenance's Z-order by sale_date with a small file size, no data change.
    optimize(lake, "silver", "sales", zorder_by=("sale_date",), max_file_bytes=32 * 1024)
    assert file_count(lake, "silver", "sales") >= 4
    silver_before = lake.read("silver", "sales")
    lines_before = silver_before.count()
    version_before = lake.version("silver", "sales")
    clean = _clean_lines_by_date(first_run, oracle)
    dates = sorted(day for day, lines in clean.items() if len(lines) >= 2)
    old_day, new_day = dates[30], dates[90]
    order_id, line, file_name = clean[old_day][0]
    moved = {**_landed_row(first_run, order_id, line, file_name)}
    moved["order_ts"] = f"{new_day.isoformat()}T12:00:00Z"
    key = f"order_id = '{order_id}' AND line_number = {line}"
    with_file = silver_before.withColumn("file", F.col("_metadata.file_path"))
    old_file = with_file.filter(key).select("file").first()[0]
    old_file_lines = with_file.filter(F.col("file") == old_file).count()
    assert old_file_lines < lines_before / 2

    with _landed(first_run.landing / MOVE_FILE, [moved]):
        run_pipeline(spark, first_run.landing, lake_dir)
        after = oracle_of(first_run.landing)
        expected_daily = Counter(after.daily([old_day, new_day]))
        after.close()

    assert lake.read("silver", "sales").count() == lines_before
    stored = lake.read("silver", "sales").filter(key).select("sale_date").collect()
    assert [row["sale_date"] for row in stored] == [new_day]
    facts = lake.read("gold", "fact_sales").filter(key).select("sale_date").collect()
    assert [row["sale_date"] for row in facts] == [new_day]
    daily_columns = (*DAILY_GRAIN, *DAILY_MEASURES)
    daily = lake.read("gold", "daily_sales").filter(
        f"sale_date IN (DATE'{old_day.isoformat()}', DATE'{new_day.isoformat()}')"
    )
    difference = multiset_difference(row_multiset(daily.select(*daily_columns)), expected_daily)
    assert not difference, f"gold.daily_sales (left) vs oracle (right):\n{difference}"

    # The MERGE rewrote the file holding the old version only, not the whole table.
    assert lake.version("silver", "sales") == version_before + 1
    metrics = lake.commit_metrics("silver", "sales", since=version_before)
    assert int(metrics["numTargetRowsUpdated"]) == 1
    assert int(metrics["numTargetFilesRemoved"]) == 1
    assert int(metrics["numTargetRowsCopied"]) == old_file_lines - 1


PROMO_SALES = ("sales/2099-01-03_sales_promo.csv", "sales/2099-01-04_sales_promo.csv")
PROMO_FIX = "promotions/2099-01-03_promotions_fix.csv"


def _promotion_rows(rows: DataFrame) -> dict[str, dict[str, Any]]:
    return {row["promotion_id"]: row.asDict() for row in rows.collect()}


def _whole_rebuild(lake: Lake) -> dict[str, dict[str, Any]]:
    """promotion_performance built from the whole stored fact and silver promotions."""
    settings = lake.settings
    return _promotion_rows(
        build_promotion_performance(
            lake.read("gold", "fact_sales"),
            lake.read("silver", "promotions"),
            currency=settings.default_currency,
            baseline_days=settings.baseline_days,
        )
    )


def test_promotion_performance_follows_increments(
    spark: SparkSession, first_run: FirstRun, oracle: Reference, tmp_path: Path
) -> None:
    """An increment refreshes the promotions it can move, and only those, and the mart
    then equals a whole rebuild: a new line attributed to a promotion whose window is far
    from the line's date, a promotion whose cost and end date change, and (next run) the
    line re-sent without its promotion, which only the promotion attributed before the
    change can catch."""
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    lake = lake_of(spark, first_run.landing, lake_dir)
    before = _promotion_rows(lake.read("gold", "promotion_performance"))
    baseline = timedelta(days=lake.settings.baseline_days)
    clean = _clean_lines_by_date(first_run, oracle)
    day = sorted(day for day, lines in clean.items() if lines)[len(clean) // 2]
    windows = {
        row["promotion_id"]: (row["start_date"] - baseline, row["end_date"])
        for row in lake.read("silver", "promotions").collect()
    }
    far = sorted(key for key, (start, end) in windows.items() if not start <= day <= end)
    assert len(far) >= 2, "the test needs two promotions whose windows miss the line's date"
    attributed_to, changed = far[0], far[1]
    line = {**_landed_row(first_run, *clean[day][0]), "order_id": "PROMO-0000001"}
    line.update(line_number="1", currency=lake.settings.default_currency)
    promotion_file = next((first_run.landing / "promotions").glob("*.csv"))
    promotion = next(r for r in read_landing_csv(promotion_file) if r["promotion_id"] == changed)
    new_cost = Decimal(promotion["promo_cost"]) + Decimal("1000.00")
    new_end = date.fromisoformat(promotion["end_date"]) + timedelta(days=1)
    promotion.update(promo_cost=str(new_cost), end_date=new_end.isoformat())

    with (
        _landed(first_run.landing / PROMO_SALES[0], [{**line, "promotion_id": attributed_to}]),
        _landed_promotion(first_run.landing / PROMO_FIX, promotion),
    ):
        summary = run_pipeline(spark, first_run.landing, lake_dir)
        first = _promotion_rows(lake.read("gold", "promotion_performance"))
        assert first == _whole_rebuild(lake)
        assert first[attributed_to]["attributed_lines"] == (
            before[attributed_to]["attributed_lines"] + 1
        )
        assert (first[changed]["promo_cost"], first[changed]["end_date"]) == (new_cost, new_end)
        # Only the promotions the batch can move were rebuilt.
        assert 2 <= summary.gold_rows["promotion_performance"] < len(before)

        with _landed(first_run.landing / PROMO_SALES[1], [{**line, "promotion_id": ""}]):
            run_pipeline(spark, first_run.landing, lake_dir)
            second = _promotion_rows(lake.read("gold", "promotion_performance"))
            assert second == _whole_rebuild(lake)
    assert second[attributed_to] == before[attributed_to]


@contextmanager
def _landed_promotion(path: Path, row: dict[str, str]) -> Iterator[Path]:
    write_landing_csv(path, load_contract("promotions").column_names, [row])
    try:
        yield path
    finally:
        path.unlink()
