"""Runs the stages: read -> transform -> write. Used by the CLI and the jobs."""

from __future__ import annotations

from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.contracts import DATASETS
from sales_lakehouse.lake import Lake
from sales_lakehouse.lake.lock import lake_lock
from sales_lakehouse.pipeline.bronze import ingest_bronze
from sales_lakehouse.pipeline.bronze_events import ingest_events_bronze
from sales_lakehouse.pipeline.bronze_oltp import ingest_oltp_bronze
from sales_lakehouse.pipeline.gold import CONSUMER as GOLD_CONSUMER
from sales_lakehouse.pipeline.gold import MARTS, refresh_gold
from sales_lakehouse.pipeline.heartbeat import spark_heartbeat
from sales_lakehouse.pipeline.quality import check_gold
from sales_lakehouse.pipeline.silver import lake_rows, run_silver
from sales_lakehouse.pipeline.summary import (
    AccountingError,
    Progress,
    RunSummary,
    StageFailedError,
    StageStats,
    console_progress,
)
from sales_lakehouse.runtime.session import batch_conf, interpret_below, session_conf

STAGES = ("bronze", "silver", "gold", "all")
# Every data table a run over the batch datasets writes, as (layer, name).
DATA_TABLES: tuple[tuple[str, str], ...] = (
    *((layer, dataset) for layer in ("bronze", "silver", "quarantine") for dataset in DATASETS),
    *(("gold", mart) for mart in MARTS),
)

__all__ = [
    "DATA_TABLES",
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
    # One writer per lake: a second run stops here, before it has read or written anything.
    # While a step runs, the heartbeat says what Spark is doing (never silent for minutes).
    with (
        lake_lock(settings.lake, settings.run_id, f"run --stage {stage}", progress=progress),
        spark_heartbeat(spark, progress) as reporting,
    ):
        return _run(spark, settings, stage, datasets, full_refresh=full_refresh, progress=reporting)


def _run(
    spark: SparkSession,
    settings: Settings,
    stage: str,
    datasets: tuple[str, ...],
    *,
    full_refresh: bool,
    progress: Progress,
) -> RunSummary:
    lake = Lake(spark, settings)
    summary = RunSummary(settings.run_id)
    if stage in ("bronze", "all"):
        for dataset in datasets:
            summary.stats.append(ingest_bronze(lake, dataset, progress))
        events = ingest_events_bronze(lake, progress) if "sales" in datasets else None
        if events is not None:
            summary.stats.append(events)
        if "sales" in datasets:  # the order database's extracts, when any landed
            summary.stats += ingest_oltp_bronze(lake, progress)
    # A small lake's silver and gold run without generated code (runtime/session.py).
    small = {}
    if stage != "bronze":
        small = batch_conf(lake_rows(lake, datasets, enough=interpret_below()))
    if stage in ("silver", "all"):
        # All datasets are staged and checked before any of them is committed.
        with session_conf(spark, small):
            staged = run_silver(lake, datasets, full_refresh=full_refresh, progress=progress)
        for stats in staged:
            if not stats.balanced:
                raise AccountingError(
                    f"{stats.dataset}: {stats.rows_in} rows in but {stats.accepted} accepted + "
                    f"{stats.quarantined} quarantined + {stats.duplicates} duplicates"
                )
            summary.stats.append(stats)
    if stage in ("gold", "all"):
        since = None if full_refresh else lake.watermarks.get(GOLD_CONSUMER, "silver/sales")
        with session_conf(spark, small):
            summary.gold_rows = refresh_gold(lake, full_refresh=full_refresh, progress=progress)
            if summary.gold_rows:
                results = check_gold(lake, since)
                summary.quality_warnings += [
                    f"{r.dataset}.{r.rule}: {r.message}" for r in results if not r.passed
                ]
    return summary
