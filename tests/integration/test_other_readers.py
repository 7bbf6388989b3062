"""Every table a run writes opens, whole, in another Delta reader (delta-rs).

Spark's legacy INT96 timestamps are read as nanoseconds by other readers, and
``silver.products``' open-ended ``valid_to`` (9999-12-31) does not fit: delta-rs then
refuses the whole table. The session writes TIMESTAMP_MICROS, and ``--full-refresh``
rewrites a table written the old way.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.pipeline import run
from sales_lakehouse.runtime.session import session_conf
from tests.integration.conftest import FirstRun
from tests.integration.helpers import TABLES, copy_lake, lake_of, quiet

pytestmark = pytest.mark.integration

OPEN_END = date(9999, 12, 31)


def _tables_in(lake: Path) -> list[tuple[str, str]]:
    return sorted((log.parent.parent.name, log.parent.name) for log in lake.glob("*/*/_delta_log"))


def _read_whole(lake: Path, layer: str, name: str) -> int:
    """Read every column of every row with delta-rs; the row count."""
    return DeltaTable(str(lake / layer / name)).to_pyarrow_table().num_rows


def test_every_table_of_a_run_reads_whole_in_delta_rs(
    spark: SparkSession, first_run: FirstRun
) -> None:
    tables = _tables_in(first_run.lake_dir)
    assert set(TABLES) <= set(tables)
    assert ("meta", "watermarks") in tables and ("quality", "dq_results") in tables
    for layer, name in tables:
        expected = first_run.lake.read(layer, name).count()
        assert _read_whole(first_run.lake_dir, layer, name) == expected, f"{layer}.{name}"
    products = DeltaTable(str(first_run.lake_dir / "silver" / "products")).to_pyarrow_table()
    valid_to = products.column("valid_to").to_pylist()
    assert max(valid_to).date() == OPEN_END  # the current versions' open end survives


def test_full_refresh_rewrites_a_table_written_with_int96(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path
) -> None:
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    lake = lake_of(spark, first_run.landing, lake_dir)
    products = lake.read("silver", "products").localCheckpoint()
    with session_conf(spark, {"spark.sql.parquet.outputTimestampType": "INT96"}):
        lake.overwrite(products, "silver", "products", change_feed=True)  # as before the fix
    with pytest.raises(Exception, match=r"(?i)overflow|would lose data|out of range"):
        _read_whole(lake_dir, "silver", "products")  # delta-rs cannot read it

    settings = Settings(landing=str(first_run.landing), lake=str(lake_dir))
    run(spark, settings, stage="silver", datasets=("products",), full_refresh=True, progress=quiet)

    expected = lake.read("silver", "products").count()
    assert expected == products.count()
    assert _read_whole(lake_dir, "silver", "products") == expected
