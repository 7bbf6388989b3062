"""OPTIMIZE / VACUUM keep every row and never shorten retention by accident."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.lake.maintenance import file_count, last_operation_time
from sales_lakehouse.pipeline.maintenance import maintain
from sales_lakehouse.runtime.cli import main
from tests.integration.conftest import FirstRun
from tests.integration.helpers import copy_lake, lake_of, quiet, row_multiset

pytestmark = pytest.mark.integration

# meta.watermarks gets one small file per stage commit; silver.sales is clustered by
# sale_date, so maintenance Z-orders it (its rows must stay exactly the same).
TABLES = [("meta", "watermarks"), ("silver", "sales")]
# An unclustered table already in one file: OPTIMIZE has nothing to do (no commit).
INTERVAL_TABLES = [("meta", "watermarks"), ("gold", "promotion_performance")]


def test_maintain_compacts_and_keeps_every_row(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path
) -> None:
    lake = lake_of(spark, first_run.landing, copy_lake(first_run.lake_dir, tmp_path / "lake"))
    before = {table: row_multiset(lake.read(*table)) for table in TABLES}
    files = {table: file_count(lake, *table) for table in TABLES}
    assert files[("meta", "watermarks")] > 1  # one append per stage: something to compact

    results = maintain(lake, tables=TABLES, progress=quiet)

    assert [(r.layer, r.name) for r in results] == TABLES
    for result in results:
        table = (result.layer, result.name)
        assert result.files_before == files[table]
        assert result.files_after == file_count(lake, *table) <= files[table]
        assert row_multiset(lake.read(*table)) == before[table]
    assert file_count(lake, "meta", "watermarks") == 1


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Python's local time zone 13 h off UTC (the JVM's is untouched).

    Spark hands collected timestamps to Python as naive local times: a history time read
    that way and taken for UTC would be 13 h off.
    """
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_min_interval_skips_recently_maintained_tables(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path, far_from_utc: None
) -> None:
    lake = lake_of(spark, first_run.landing, copy_lake(first_run.lake_dir, tmp_path / "lake"))
    started = datetime.now(UTC)

    # Never maintained: the interval changes nothing.
    first = maintain(lake, tables=INTERVAL_TABLES, min_interval_hours=168, progress=quiet)
    assert [(r.skipped, r.vacuumed, r.last_maintained) for r in first] == [(False, True, None)] * 2
    files = {table: file_count(lake, *table) for table in INTERVAL_TABLES}
    versions = {table: lake.version(*table) for table in INTERVAL_TABLES}
    assert files[("meta", "watermarks")] == 1
    # promotion_performance is one file already: its OPTIMIZE committed nothing, so only
    # its VACUUM END marks it as maintained.
    assert last_operation_time(lake, "gold", "promotion_performance", ["OPTIMIZE"]) is None

    messages: list[str] = []
    second = maintain(
        lake, tables=INTERVAL_TABLES, min_interval_hours=168, progress=messages.append
    )
    finished = datetime.now(UTC)

    assert [r.skipped for r in second] == [True, True]
    assert [(r.files_before, r.files_after, r.vacuumed, r.metrics) for r in second] == [
        (files[table], files[table], False, {}) for table in INTERVAL_TABLES
    ]
    for result in second:
        assert result.last_maintained is not None
        assert result.last_maintained.utcoffset() == timedelta(0)
        assert started <= result.last_maintained <= finished
    assert {
        table: lake.version(*table) for table in INTERVAL_TABLES
    } == versions  # nothing committed
    assert {table: file_count(lake, *table) for table in INTERVAL_TABLES} == files
    assert len(messages) == 2
    assert re.fullmatch(r"maintain meta\.watermarks: skipped, maintained 0\.\d h ago", messages[0])
    assert re.fullmatch(
        r"maintain gold\.promotion_performance: skipped, maintained 0\.\d h ago", messages[1]
    )

    # 200 h later the last maintenance is older than the interval. Compaction only keeps
    # the Spark work small (the decision does not depend on VACUUM).
    later = finished + timedelta(hours=200)
    third = maintain(
        lake,
        tables=INTERVAL_TABLES,
        min_interval_hours=168,
        now=later,
        vacuum=False,
        progress=quiet,
    )
    assert [r.skipped for r in third] == [False, False]
    assert all("numFilesAdded" in r.metrics for r in third)
    assert [r.last_maintained for r in third] == [r.last_maintained for r in second]

    # No interval: maintained although maintained minutes ago.
    fourth = maintain(lake, tables=INTERVAL_TABLES, vacuum=False, progress=quiet)
    assert [(r.skipped, r.last_maintained) for r in fourth] == [(False, None), (False, None)]
    assert all("numFilesAdded" in r.metrics for r in fourth)


def test_maintain_refuses_a_short_retention(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["maintain", "--lake", str(tmp_path), "--vacuum-hours", "1"])
    assert code == 2
    assert "168" in capsys.readouterr().err


def test_maintain_refuses_a_negative_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["maintain", "--lake", str(tmp_path), "--min-interval-hours", "-1"])
    assert code == 2
    assert "negative" in capsys.readouterr().err
