"""Quality wiring: read what the checks need, write ``quality.dq_results``, stop on fail.

``quality.dq_results`` is the audit log of every evaluation. It is appended *before* a
stage decides whether to stop, so a ``fail`` that halts a stage is still recorded, while
every data table (bronze, silver, quarantine, gold, meta) stays at its previous version.
The ``sales-lakehouse quality`` command (:func:`run_quality`) evaluates the whole suite
against an existing lake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from sales_lakehouse.config import Settings
from sales_lakehouse.contracts import Contract, load_contract
from sales_lakehouse.lake import Lake
from sales_lakehouse.lake.held_files import HELD, REJECTED
from sales_lakehouse.pipeline.summary import Progress, StageFailedError, console_progress
from sales_lakehouse.quality.checks import RunCounts
from sales_lakehouse.quality.engine import (
    CheckInputs,
    GoldFrames,
    evaluate_checks,
    judge_batch,
    stage_checks,
)
from sales_lakehouse.quality.results import (
    CheckResult,
    EvalContext,
    blocking,
    failure_message,
    result_rows,
    result_schema,
)
from sales_lakehouse.silver.common import validate
from sales_lakehouse.silver.sales import sold_lines

RESULTS = ("quality", "dq_results")
# References first: a referential check on sales sees the products and promotions the
# same run has just committed.
CHECK_ORDER = ("products", "promotions", "sales")


# How a stage keeps the batches it reads more than once (validated rows, changed rows, the
# table after an increment): Spark's columnar cache blocks as they are, spilled to disk
# when the memory runs short. PySpark's ``MEMORY_AND_DISK`` is the *serialized* level: it
# copies every cached block through Java serialization once more.
CACHED = StorageLevel.MEMORY_AND_DISK_DESER


def utc_now() -> datetime:
    """Now as a naive UTC datetime (how every timestamp column of the lake is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def context(settings: Settings, stage: str, as_of: datetime | None = None) -> EvalContext:
    """The evaluation context of a stage: freshness is judged at ``as_of`` or the run start."""
    start = settings.started_at.astimezone(UTC).replace(tzinfo=None)
    return EvalContext(settings.run_id, stage, utc_now(), as_of or start)


def record(lake: Lake, results: Sequence[CheckResult]) -> None:
    """Append results to ``quality.dq_results`` (created and registered on first use)."""
    if not results:
        return
    schema = result_schema()
    rows = lake.spark.createDataFrame(result_rows(results), schema)
    lake.append_rows(rows, *RESULTS, schema)


def record_and_guard(lake: Lake, stage: str, dataset: str, results: Sequence[CheckResult]) -> None:
    """Record the results, then stop the stage if a ``fail`` rule broke.

    Call this before the stage's first data commit: the results are the only write.
    """
    record(lake, results)
    failed = blocking(results)
    if failed:
        raise StageFailedError(failure_message(stage, dataset, failed))


def row_count_history(lake: Lake, stage: str, dataset: str, run_id: str) -> dict[str, list[int]]:
    """Earlier row_count observations per rule for this stage and dataset, oldest first."""
    if not lake.exists(*RESULTS):
        return {}
    rows = (
        lake.read(*RESULTS)
        .filter(
            (F.col("stage") == stage)
            & (F.col("dataset") == dataset)
            & (F.col("rule_type") == "row_count")
            & (F.col("run_id") != run_id)
        )
        .select("rule", "rows_checked", "evaluated_at")
        .orderBy("evaluated_at")
        .collect()
    )
    history: dict[str, list[int]] = {}
    for row in rows:
        history.setdefault(row["rule"], []).append(int(row["rows_checked"]))
    return history


def references(lake: Lake, contract: Contract) -> dict[str, DataFrame]:
    """The committed silver tables the contract's referential checks point at."""
    wanted = {c.referenced[0] for c in contract.checks if c.type == "referential"}
    return {name: lake.read("silver", name) for name in wanted if lake.exists("silver", name)}


def gold_frames(lake: Lake, dates: list[date] | None) -> GoldFrames | None:
    """Sold lines of silver.sales, gold.fact_sales and gold.daily_sales for reconciliation."""
    tables = (("silver", "sales"), ("gold", "fact_sales"), ("gold", "daily_sales"))
    if not all(lake.exists(*table) for table in tables):
        return None
    silver, fact, daily = (lake.read(*table) for table in tables)
    return GoldFrames(sold_lines(silver), fact, daily, dates)


def changed_sale_dates(lake: Lake, since: int | None) -> list[date] | None:
    """Sale dates of silver.sales changes after version ``since`` (None: every date)."""
    until = lake.version("silver", "sales")
    if since is None:
        return None
    if until <= since:
        return []
    changes = lake.changes("silver", "sales", since + 1, until)
    rows = changes.select("sale_date").distinct().collect()
    return sorted(row["sale_date"] for row in rows if row["sale_date"] is not None)


def check_gold(lake: Lake, since: int | None) -> list[CheckResult]:
    """Run the silver/gold reconciliation after a gold refresh and record it (warn only).

    ``since`` is the silver.sales version gold had processed before the refresh; a
    ``scope: run`` check compares the sale dates changed since then.
    """
    contract, ctx = load_contract("sales"), context(lake.settings, "gold")
    checks = stage_checks(contract, "gold")
    if not checks:
        return []
    dates = changed_sale_dates(lake, since)
    results = []
    for check in checks:
        frames = gold_frames(lake, None if check.scope == "all" else dates)
        results += evaluate_checks(contract, CheckInputs(gold=frames), ctx, [check])
    record_and_guard(lake, "gold", "sales", results)
    return results


def quarantine_by_rule(lake: Lake, dataset: str) -> list[tuple[str, int]]:
    """Quarantined rows per rule (a row counts once for each rule it broke), most first."""
    if not lake.exists("quarantine", dataset):
        return []
    counted = (
        lake.read("quarantine", dataset)
        .select(F.explode("rules").alias("rule"))
        .groupBy("rule")
        .count()
        .collect()
    )
    return sorted(((r["rule"], int(r["count"])) for r in counted), key=lambda x: (-x[1], x[0]))


@dataclass
class QualityRun:
    """What ``sales-lakehouse quality`` found: every result and quarantine counts by rule."""

    results: list[CheckResult] = field(default_factory=list)
    quarantine: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    @property
    def failed(self) -> list[CheckResult]:
        """The ``fail`` rules that broke (the command then exits 1)."""
        return blocking(self.results)


def result_history(lake: Lake, runs: int = 10) -> list[dict[str, Any]]:
    """The ``quality.dq_results`` rows of each dataset's last ``runs`` runs (by the run's
    latest evaluation), as dicts; [] when nothing was recorded yet."""
    if not lake.exists(*RESULTS):
        return []
    results = lake.read(*RESULTS)
    latest = results.groupBy("dataset", "run_id").agg(F.max("evaluated_at").alias("run_at"))
    ranked = latest.withColumn(
        "recent",
        F.row_number().over(
            Window.partitionBy("dataset").orderBy(F.desc("run_at"), F.desc("run_id"))
        ),
    ).where(F.col("recent") <= runs)
    kept = results.join(ranked.select("dataset", "run_id"), ["dataset", "run_id"])
    return [row.asDict() for row in kept.collect()]


def latest_results(history: Sequence[dict[str, Any]]) -> list[CheckResult]:
    """Each dataset's results of its most recent run, from :func:`result_history` rows."""
    newest: dict[str, tuple[datetime, str]] = {}
    for row in history:
        mark = (row["evaluated_at"], row["run_id"])
        newest[row["dataset"]] = max(newest.get(row["dataset"], mark), mark)
    return [
        CheckResult(**{**row, "sample_keys": tuple(row["sample_keys"] or ())})
        for row in history
        if row["run_id"] == newest[row["dataset"]][1]
    ]


def _bronze_rows(lake: Lake, dataset: str) -> DataFrame:
    """Every bronze row of a dataset but those of held or rejected files; for one made of
    several bronze tables (the order database), the current state of all its rows as
    silver forms them."""
    from sales_lakehouse.datasets import silver_dataset

    entry = silver_dataset(dataset)
    if entry.combine is None:  # without the files held back or rejected: never in silver
        left_out = lake.held.in_state(dataset, HELD, REJECTED)
        rows = lake.read("bronze", dataset)
        return rows.filter(~F.col("_source_file").isin(*left_out)) if left_out else rows
    stored = {table: lake.read("bronze", table) for table in entry.bronze_tables}
    return entry.combine(stored, stored, entry.contract)


def _quality_datasets(lake: Lake) -> list[str]:
    """The batch datasets, then each dataset made of several bronze tables that exist."""
    from sales_lakehouse.datasets import SILVER

    combined = [
        entry.name
        for entry in SILVER.values()
        if entry.sources and all(lake.exists("bronze", table) for table in entry.sources)
    ]
    return [*CHECK_ORDER, *combined]


def _dataset_results(lake: Lake, dataset: str, ctx: EvalContext) -> list[CheckResult]:
    """Row rules re-evaluated over all of bronze, then the dataset checks over silver."""
    contract = load_contract(dataset)
    defaults = {"currency": lake.settings.default_currency}
    validated = validate(_bronze_rows(lake, dataset), contract, defaults)
    validated = validated.persist(CACHED)
    try:
        counts, results = judge_batch(validated, contract, ctx)
    finally:
        validated.unpersist()
    table = lake.read("silver", dataset) if lake.exists("silver", dataset) else None
    inputs = CheckInputs(
        table=table,
        rows=0 if table is None else table.count(),
        counts=RunCounts(counts.rows_in, counts.quarantined),
        references=references(lake, contract),
        history=row_count_history(lake, ctx.stage, dataset, ctx.run_id),
        gold=gold_frames(lake, None) if dataset == "sales" else None,
    )
    return results + evaluate_checks(contract, inputs, ctx, stage_checks(contract, ctx.stage))


def run_quality(
    spark: SparkSession,
    settings: Settings,
    *,
    as_of: datetime | None = None,
    progress: Progress = console_progress,
) -> QualityRun:
    """Evaluate every rule of every contract against the lake and append the results.

    The order database's lines (``oltp_sales``) are judged when its bronze tables exist.
    Row rules are re-evaluated over all of bronze (what would be quarantined now), the
    dataset checks over the silver and gold tables, row_count against earlier runs of
    this command. Nothing but ``quality.dq_results`` is written.
    """
    lake, ctx = Lake(spark, settings), context(settings, "quality", as_of)
    found = QualityRun()
    for dataset in _quality_datasets(lake):
        if dataset in CHECK_ORDER and not lake.exists("bronze", dataset):
            progress(f"quality {dataset}: no bronze table, skipped")
            continue
        results = _dataset_results(lake, dataset, ctx)
        found.results += results
        found.quarantine[dataset] = quarantine_by_rule(lake, dataset)
        broke = sum(not r.passed for r in results)
        progress(f"quality {dataset}: {len(results)} rules, {broke} broke")
    if not found.results:
        raise FileNotFoundError(f"no bronze tables in {settings.lake}: run the pipeline first")
    record(lake, found.results)
    return found
