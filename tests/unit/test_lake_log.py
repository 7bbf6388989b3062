"""The lake's tables found in its folders, versions and commit metrics read from the log.

Expected values come from Delta itself (``DESCRIBE HISTORY``) or from the rows written,
never from the functions under test.
"""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.lake import Lake, peek
from sales_lakehouse.lake.delta_log import data_changed, latest_version, operation_metrics
from sales_lakehouse.lake.registry import TableRegistry


def _history(spark: SparkSession, path: str) -> list[tuple[int, dict[str, str]]]:
    rows = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()
    return sorted((int(row["version"]), dict(row["operationMetrics"] or {})) for row in rows)


def test_versions_and_metrics_match_delta_history(spark: SparkSession, settings: Settings) -> None:
    lake = Lake(spark, settings)
    path = lake.path("gold", "numbers")
    assert latest_version(spark, path) == -1 and not lake.exists("gold", "numbers")

    lake.overwrite(spark.range(7).withColumnRenamed("id", "n"), "gold", "numbers")
    written = lake.append(
        spark.range(3).withColumnRenamed("id", "n"), "gold", "numbers", txn=("t", 1)
    )
    replayed = lake.append(
        spark.range(3).withColumnRenamed("id", "n"), "gold", "numbers", txn=("t", 1)
    )

    history = _history(spark, path)
    assert [version for version, _ in history] == [0, 1]  # the replay made no commit
    assert latest_version(spark, path) == lake.version("gold", "numbers") == 1
    assert lake.exists("gold", "numbers")
    for version, metrics in history:
        assert operation_metrics(spark, path, version) == {k: int(v) for k, v in metrics.items()}
    assert (written, replayed) == (3, 0)
    assert lake.commit_metrics("gold", "numbers", since=0)["numOutputRows"] == 3
    assert lake.commit_metrics("gold", "numbers", since=1) == {}


def test_tables_are_found_in_the_lake_folders_and_named_for_sql(
    spark: SparkSession, settings: Settings, tmp_path: Path
) -> None:
    lake = Lake(spark, settings)
    lake.overwrite(spark.range(2).withColumnRenamed("id", "n"), "silver", "twos")
    lake.overwrite(spark.range(5).withColumnRenamed("id", "n"), "gold", "fives")
    (Path(settings.lake) / "gold" / "not_a_table").mkdir()
    (Path(settings.lake) / "gold" / "empty_log" / "_delta_log").mkdir(parents=True)
    (Path(settings.lake) / "scratch" / "x" / "_delta_log").mkdir(parents=True)  # not a layer

    assert lake.registry.table_names() == [("gold", "fives"), ("silver", "twos")]

    # A copy of the lake is complete where it is: its names point at the copy.
    copy = Settings(landing=settings.landing, lake=str(tmp_path / "copy"))
    shutil.copytree(settings.lake, copy.lake)
    shutil.rmtree(settings.lake)
    found = TableRegistry(spark, copy).register_all()
    assert found == [("gold", "fives"), ("silver", "twos")]
    assert spark.sql("select count(*) from gold.fives").first()[0] == 5
    assert spark.sql("select sum(n) from silver.twos").first()[0] == 1


def test_only_commits_that_change_rows_count_as_data_changes(
    spark: SparkSession, settings: Settings
) -> None:
    lake = Lake(spark, settings)
    path = lake.path("silver", "numbers")
    lake.overwrite(spark.range(4).withColumnRenamed("id", "n"), "silver", "numbers")  # v0
    spark.range(2).withColumnRenamed("id", "n").write.format("delta").mode("append").save(path)
    # v1 appended; v2: OPTIMIZE compacts the files into one, v3 changes a property.
    spark.sql(f"OPTIMIZE delta.`{path}`")
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('note' = 'x')")
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()
    operations = [row["operation"] for row in history]
    assert operations == ["SET TBLPROPERTIES", "OPTIMIZE", "WRITE", "WRITE"]  # newest first

    for changed in (partial(data_changed, spark), peek.data_changed):
        assert changed(path, 0, 1)  # an append
        assert not changed(path, 1, 2)  # OPTIMIZE: the same rows in other files
        assert not changed(path, 2, 2)  # no commit at all
        assert changed(path, 1, 3)  # a metadata change counts
    (Path(path) / "_delta_log" / f"{2:020d}.json").unlink()
    assert data_changed(spark, path, 1, 2) and peek.data_changed(path, 1, 2)  # gone: a change
