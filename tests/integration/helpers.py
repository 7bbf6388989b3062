"""Small helpers of the integration tests: lake copies, landing files, row comparison."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.lake import Lake
from sales_lakehouse.pipeline import DATA_TABLES, RunSummary, StageStats, run

# Every table a full run writes, as (layer, name).
TABLES = DATA_TABLES


def quiet(_message: str) -> None:
    """A progress sink that prints nothing."""


def run_pipeline(spark: SparkSession, landing: Path, lake: Path) -> RunSummary:
    """One pipeline run, as a new CLI invocation would do it (new Settings, new run id)."""
    return run(spark, Settings(landing=str(landing), lake=str(lake)), progress=quiet)


def run_sales_only(spark: SparkSession, landing: Path, lake: Path) -> RunSummary:
    """A run over the sales datasets only, as ``--datasets sales``: sale events with or
    without batch files (an empty ``sales/`` folder stands for no batch files)."""
    (landing / "sales").mkdir(parents=True, exist_ok=True)
    settings = Settings(landing=str(landing), lake=str(lake))
    return run(spark, settings, datasets=("sales",), progress=quiet)


def lake_of(spark: SparkSession, landing: Path, lake: Path) -> Lake:
    return Lake(spark, Settings(landing=str(landing), lake=str(lake)))


def copy_lake(source: Path, target: Path) -> Path:
    """A private copy of a lake (Delta logs hold relative paths, so copies are valid)."""
    shutil.copytree(source, target)
    return target


@contextmanager
def landed_for_the_block(landing: Path) -> Iterator[Path]:
    """The shared landing folder, for files a test lands in it: whatever the block adds
    (files and folders) is removed when it ends, so the folder is as generated again.

    Files land here rather than in a copy of the folder: bronze knows landed files by
    path, so a copy would be a new landing set whose every file is new to the lake.
    """
    before = set(landing.rglob("*"))
    try:
        yield landing
    finally:
        added = sorted(set(landing.rglob("*")) - before, key=lambda p: len(p.parts), reverse=True)
        for path in added:
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()


def stats(summary: RunSummary, stage: str, dataset: str) -> StageStats:
    matches = [s for s in summary.stats if s.stage == stage and s.dataset == dataset]
    assert len(matches) == 1, f"expected one {stage} {dataset} entry in {summary.stats}"
    return matches[0]


def write_landing_csv(path: Path, columns: list[str], rows: Iterable[Mapping[str, str]]) -> Path:
    """Write a landing CSV with the given header; missing values are left empty."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(name, "") for name in columns])
    return path


def read_landing_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a landing CSV keyed by its header (Python's csv module, no Spark)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _freeze(value: Any) -> Any:
    """A hashable form of a collected value: lists/rows as tuples, maps as sorted items."""
    if isinstance(value, dict):
        return tuple(sorted((key, _freeze(item)) for key, item in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(item) for item in value)
    return value


def row_multiset(df: DataFrame) -> Counter[tuple[Any, ...]]:
    """The DataFrame's rows as a multiset (order-free, duplicates counted)."""
    return Counter(_freeze(row) for row in df.collect())


def multiset_difference(
    left: Counter[tuple[Any, ...]], right: Counter[tuple[Any, ...]], limit: int = 10
) -> str:
    """A readable two-way difference of two row multisets ('' when they are equal)."""
    only_left, only_right = left - right, right - left
    if not only_left and not only_right:
        return ""
    lines = [f"{sum(only_left.values())} rows only left, {sum(only_right.values())} only right"]
    lines += [f"  left:  {row}" for row in sorted(only_left, key=repr)[:limit]]
    lines += [f"  right: {row}" for row in sorted(only_right, key=repr)[:limit]]
    return "\n".join(lines)


# Columns a run stamps (its id, its clock): the same content written by two runs differs
# only there. A landed line's _changed_at is its _ingested_at (silver/sales.py).
RUN_STAMPS = ("_run_id", "_ingested_at", "_changed_at", "quarantined_at", "_quarantined_at")


def content(df: DataFrame) -> Counter[tuple[Any, ...]]:
    """The table's rows as a multiset, without the columns a run stamps."""
    return row_multiset(df.drop(*[c for c in df.columns if c in RUN_STAMPS]))
