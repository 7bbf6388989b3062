"""``run`` decides "nothing new" without Spark exactly when the Spark run would find nothing.

The decision (``pipeline/nothing_new.py``) must never skip work: a new file, a bronze
table ahead of silver's watermark, silver ahead of gold's, a released held file, a landed
event file or a rejected file each send the run to Spark. And where it does decide, it
prints what the Spark run prints and writes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.contracts import load_contract
from sales_lakehouse.lake import peek
from sales_lakehouse.lake.held_files import MERGED, RELEASED, HeldFile
from sales_lakehouse.pipeline import run
from sales_lakehouse.pipeline.maintenance import maintain
from sales_lakehouse.pipeline.nothing_new import nothing_new
from tests.integration.conftest import FirstRun
from tests.integration.helpers import (
    copy_lake,
    lake_of,
    quiet,
    read_landing_csv,
    write_landing_csv,
)

pytestmark = pytest.mark.integration


def _versions(lake_dir: Path) -> dict[str, int]:
    """Every Delta table of the lake and its version, read from the logs."""
    return {
        str(log.parent.relative_to(lake_dir)): peek.log_version(str(log.parent))
        for log in sorted(lake_dir.glob("**/_delta_log"))
    }


def _decides(settings: Settings, stage: str = "all") -> bool:
    return nothing_new(settings, stage, quiet) is not None


def test_nothing_new_prints_what_the_spark_run_prints_and_writes_nothing(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path
) -> None:
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    settings = Settings(landing=str(first_run.landing), lake=str(lake_dir))
    before = _versions(lake_dir)
    assert len(before) >= 13  # bronze, silver, quarantine, gold and meta tables

    told: list[str] = []
    quick = nothing_new(settings, progress=told.append)
    assert quick is not None
    assert _versions(lake_dir) == before
    assert not (lake_dir / "_lock.json").exists()

    ran: list[str] = []
    full = run(
        spark, Settings(landing=str(first_run.landing), lake=str(lake_dir)), progress=ran.append
    )
    assert told == [line for line in ran if not line.startswith("\u2026")]  # no heartbeats
    assert quick.lines()[1:] == full.lines()[1:]  # all but the run id
    assert quick.lines()[0] == f"run {settings.run_id}"
    assert "gold: no silver changes since the last run" in told
    assert _versions(lake_dir) == before


def test_each_stage_behind_its_source_sends_the_run_to_spark(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path
) -> None:
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")

    def settings() -> Settings:  # a new run id for every run, as a new CLI call
        return Settings(landing=str(first_run.landing), lake=str(lake_dir))

    assert _decides(settings())
    sample = read_landing_csv(sorted((first_run.landing / "sales").glob("*.csv"))[0])[:20]
    rows = [{**row, "order_id": f"NEW-{i:05d}"} for i, row in enumerate(sample)]
    # A space in the name: bronze records it escaped (%20), and so must the decision.
    new_file = first_run.landing / "sales" / "2099-02-01 late day.csv"
    write_landing_csv(new_file, load_contract("sales").column_names, rows)
    try:
        assert not _decides(settings())
        assert _decides(settings(), "silver")  # silver alone has nothing new yet
        run(spark, settings(), stage="bronze", progress=quiet)
        assert _decides(settings(), "bronze")  # the file is in bronze now
        assert not _decides(settings())  # silver's watermark is behind bronze
        assert not _decides(settings(), "silver")
        run(spark, settings(), stage="silver", progress=quiet)
        assert _decides(settings(), "silver")
        assert not _decides(settings(), "gold")  # gold's watermark is behind silver
        assert not _decides(settings())
        run(spark, settings(), stage="gold", progress=quiet)
        assert _decides(settings())
    finally:
        new_file.unlink()

    lake = lake_of(spark, first_run.landing, lake_dir)
    source = "file:" + str(new_file).replace(" ", "%20")
    lake.held.record([HeldFile("sales", source, RELEASED, "test")])
    assert not _decides(settings())  # a released file goes into the next silver batch
    lake.held.record([HeldFile("sales", source, MERGED, "test")])
    assert _decides(settings())


def test_a_rejected_or_event_file_in_the_landing_sends_the_run_to_spark(
    first_run: FirstRun, tmp_path: Path
) -> None:
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    settings = Settings(landing=str(first_run.landing), lake=str(lake_dir))
    assert _decides(settings)
    # Rejected for its header on every run (the run must say so again, and exit 1).
    bad = first_run.landing / "products" / "2099-02-01_products_bad.csv"
    bad.write_text("nonsense,header\n1,2\n", encoding="utf-8")
    try:
        assert not _decides(settings)
    finally:
        bad.unlink()
    events = first_run.landing / "sales_events" / "2099" / "02" / "01" / "batch-1"
    events.parent.mkdir(parents=True)
    events.write_text('{"event_id": "x"}\n', encoding="utf-8")
    try:
        assert not _decides(settings)  # the stream's checkpoint decides which are new
    finally:
        events.unlink()
        for folder in (events.parent, *events.parent.parents):
            if folder == first_run.landing:
                break
            folder.rmdir()
    assert _decides(settings)


def test_the_cli_answers_a_run_with_nothing_new_without_java(
    first_run: FirstRun, tmp_path: Path
) -> None:
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    cli = Path(sys.executable).with_name("sales-lakehouse")
    # Any Spark session would stop at the Java check with this environment.
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-java")}
    args = [str(cli), "run", "--landing", str(first_run.landing), "--lake", str(lake_dir)]
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "gold: no silver changes since the last run" in done.stdout
    assert "silver sales: nothing new in bronze" in done.stdout
    assert not (lake_dir / "_lock.json").exists()

    # With work to do the same command needs Spark, and says what is missing.
    (tmp_path / "lake" / "meta" / "watermarks").rename(tmp_path / "watermarks-gone")
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "Java" in done.stderr


def test_maintenance_commits_leave_a_run_with_nothing_new_without_spark(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path
) -> None:
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    lake = lake_of(spark, first_run.landing, lake_dir)
    silver = str(lake_dir / "silver" / "sales")
    optimized = peek.log_version(silver)
    maintain(lake, tables=[("silver", "sales")], progress=quiet)
    assert peek.log_version(silver) > optimized  # silver moved past gold's watermark
    settings = Settings(landing=str(first_run.landing), lake=str(lake_dir))
    before = _versions(lake_dir)

    assert _decides(settings)
    ran: list[str] = []
    run(spark, Settings(landing=str(first_run.landing), lake=str(lake_dir)), progress=ran.append)
    assert "gold: no silver changes since the last run" in ran  # and nothing rebuilt
    assert _versions(lake_dir) == before
