"""OPTIMIZE / VACUUM keep every row and never shorten retention by accident."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.cli import main
from sales_lakehouse.pipeline.maintenance import maintain
from tests.integration.conftest import FirstRun
from tests.integration.helpers import copy_lake, lake_of, quiet, row_multiset

pytestmark = pytest.mark.integration

# meta.watermarks gets one small file per stage commit; silver.sales is one file here
# (one shuffle partition in tests), so compaction must leave it as it is.
TABLES = [("meta", "watermarks"), ("silver", "sales")]


def test_maintain_compacts_and_keeps_every_row(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path
) -> None:
    lake = lake_of(spark, first_run.landing, copy_lake(first_run.lake_dir, tmp_path / "lake"))
    before = {table: row_multiset(lake.read(*table)) for table in TABLES}
    files = {table: lake.file_count(*table) for table in TABLES}
    assert files[("meta", "watermarks")] > 1  # one append per stage: something to compact

    results = maintain(lake, tables=TABLES, progress=quiet)

    assert [(r.layer, r.name) for r in results] == TABLES
    for result in results:
        table = (result.layer, result.name)
        assert result.files_before == files[table]
        assert result.files_after == lake.file_count(*table) <= files[table]
        assert row_multiset(lake.read(*table)) == before[table]
    assert lake.file_count("meta", "watermarks") == 1


def test_maintain_refuses_a_short_retention(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["maintain", "--lake", str(tmp_path), "--vacuum-hours", "1"])
    assert code == 2
    assert "168" in capsys.readouterr().err
