"""Runs the stages: read -> transform -> write. Used by the CLI and the jobs."""

from __future__ import annotations

from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.contracts import DATASETS
from sales_lakehouse.lake import Lake
from sales_lakehouse.pipeline.bronze import ingest_bronze
from sales_lakehouse.pipeline.gold import refresh_gold
from sales_lakehouse.pipeline.silver import refresh_silver
from sales_lakehouse.pipeline.summary import (
    AccountingError,
    Progress,
    RunSummary,
    StageFailedError,
    StageStats,
    console_progress,
)

STAGES = ("bronze", "silver", "gold", "all")

__all__ = [
    "STAGES",
    "AccountingError",
    "RunSummary",
    "StageFailedError",
    "StageStats",
    "run",
]


def run(
    spark: SparkSession,
    settings: Settings,
    *,
    stage: str = "all",
    datasets: tuple[str, ...] = DATASETS,
    full_refresh: bool = False,
    progress: Progress = console_progress,
) -> RunSummary:
    """Run one stage or all of them over the given datasets and return what was done."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}: use one of {', '.join(STAGES)}")
    unknown = [name for name in datasets if name not in DATASETS]
    if unknown:
        raise ValueError(f"unknown dataset {', '.join(unknown)}: use {', '.join(DATASETS)}")
    lake = Lake(spark, settings)
    summary = RunSummary(settings.run_id)
    if stage in ("bronze", "all"):
        for dataset in datasets:
            summary.stats.append(ingest_bronze(lake, dataset, progress))
    if stage in ("silver", "all"):
        for dataset in datasets:
            stats = refresh_silver(lake, dataset, full_refresh=full_refresh, progress=progress)
            if not stats.balanced:
                raise AccountingError(
                    f"{dataset}: {stats.rows_in} rows in but {stats.accepted} accepted + "
                    f"{stats.quarantined} quarantined + {stats.duplicates} duplicates"
                )
            summary.stats.append(stats)
    if stage in ("gold", "all"):
        summary.gold_rows = refresh_gold(lake, full_refresh=full_refresh, progress=progress)
    return summary
