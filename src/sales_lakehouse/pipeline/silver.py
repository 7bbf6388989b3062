"""Silver stage: validate the bronze rows not processed yet, quarantine, dedupe, MERGE.

Which bronze rows are new is decided by a watermark (the last bronze version processed)
and the bronze change feed. Every write of the stage is safe to replay: quarantine
appends carry a Delta transaction id, and MERGE rewrites only rows whose values changed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.bronze import bronze_schema
from sales_lakehouse.contracts import Contract, load_contract
from sales_lakehouse.lake import Lake
from sales_lakehouse.pipeline.summary import AccountingError, Progress, StageFailedError, StageStats
from sales_lakehouse.quality.rules import FAILURES, blocking
from sales_lakehouse.silver.common import (
    ROW_HASH,
    accepted_rows,
    latest_per_key,
    rejected_rows,
    to_quarantine,
    validate,
)
from sales_lakehouse.silver.products import build_product_versions
from sales_lakehouse.silver.promotions import to_silver_promotions
from sales_lakehouse.silver.sales import to_silver_sales

# A row replaces the stored version of its key only when it was ingested later (or in the
# same run from a later file) and its values differ.
NEWER = (
    "(s._ingested_at > t._ingested_at OR "
    "(s._ingested_at = t._ingested_at AND s._source_file > t._source_file))"
)


def shape_silver(dataset: str, latest: DataFrame, contract: Contract) -> DataFrame:
    """The dataset's silver rows for its latest valid versions (products: before SCD2)."""
    if dataset == "sales":
        return to_silver_sales(latest, contract)
    if dataset == "promotions":
        return to_silver_promotions(latest, contract)
    return build_product_versions(latest.limit(0), latest, contract)


def _bronze_batch(lake: Lake, dataset: str, since: int | None, until: int) -> DataFrame:
    """Bronze rows added after version ``since`` up to ``until`` (all rows when None)."""
    if since is None:
        return lake.read("bronze", dataset, version=until)
    changes = lake.changes("bronze", dataset, since + 1, until)
    return changes.filter(F.col("_change_type") == "insert").drop(
        "_change_type", "_commit_version", "_commit_timestamp"
    )


def changed_rows(latest: DataFrame, existing: DataFrame, keys: list[str]) -> DataFrame:
    """Rows of ``latest`` that are new keys, or newer and different from the stored version."""
    stored = existing.select(
        *keys,
        F.col(ROW_HASH).alias("__t_hash"),
        F.col("_ingested_at").alias("__t_ingested_at"),
        F.col("_source_file").alias("__t_source_file"),
    )
    joined = latest.join(stored, keys, how="left")
    newer = (F.col("_ingested_at") > F.col("__t_ingested_at")) | (
        (F.col("_ingested_at") == F.col("__t_ingested_at"))
        & (F.col("_source_file") > F.col("__t_source_file"))
    )
    keep = F.col("__t_hash").isNull() | ((F.col(ROW_HASH) != F.col("__t_hash")) & newer)
    return joined.filter(keep).drop("__t_hash", "__t_ingested_at", "__t_source_file")


def refresh_silver(
    lake: Lake, dataset: str, *, full_refresh: bool, progress: Progress
) -> StageStats:
    """Bring ``silver.<dataset>`` and ``quarantine.<dataset>`` up to date with bronze."""
    contract, stats = load_contract(dataset), StageStats("silver", dataset)
    consumer, source = f"silver_{dataset}", f"bronze/{dataset}"
    until = lake.version("bronze", dataset)
    since = None if full_refresh else lake.watermark(consumer, source)
    if until < 0 or since == until:
        progress(f"silver {dataset}: nothing new in bronze")
        return stats
    defaults = {"currency": lake.settings.default_currency}
    validated = validate(_bronze_batch(lake, dataset, since, until), contract, defaults)
    validated = validated.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        _count_validated(validated, dataset, stats)
        _apply(
            lake,
            dataset=dataset,
            contract=contract,
            validated=validated,
            stats=stats,
            from_scratch=since is None,
            until=until,
        )
    finally:
        validated.unpersist()
    lake.set_watermarks(consumer, {source: until})
    progress(
        f"silver {dataset}: {stats.rows_in} rows in, {stats.accepted} accepted, "
        f"{stats.quarantined} quarantined, {stats.duplicates} duplicates"
    )
    return stats


def _count_validated(validated: DataFrame, dataset: str, stats: StageStats) -> None:
    """Count rows in, quarantined and warned in one pass; stop if a ``fail`` rule fired."""
    failing = F.exists(F.col(FAILURES), lambda f: f["action"] == "fail")
    counts = validated.agg(
        F.count(F.lit(1)).alias("rows_in"),
        F.count_if(failing).alias("failing"),
        F.count_if(blocking(F.col(FAILURES))).alias("quarantined"),
        F.count_if(F.size(FAILURES) > 0).alias("flagged"),
    ).first()
    assert counts is not None
    if counts["failing"]:
        raise StageFailedError(
            f"silver {dataset}: {counts['failing']} rows broke a rule with action 'fail'"
        )
    stats.rows_in, stats.quarantined = int(counts["rows_in"]), int(counts["quarantined"])
    stats.warnings = int(counts["flagged"]) - stats.quarantined


def _apply(
    lake: Lake,
    *,
    dataset: str,
    contract: Contract,
    validated: DataFrame,
    stats: StageStats,
    from_scratch: bool,
    until: int,
) -> None:
    keys = list(contract.business_key)
    quarantined_at = datetime.now(UTC).replace(tzinfo=None)
    quarantine = to_quarantine(rejected_rows(validated), contract, quarantined_at)
    latest, superseded = latest_per_key(accepted_rows(validated), keys)
    candidates = latest.count()
    superseded_count = superseded.count()
    if stats.rows_in != stats.quarantined + superseded_count + candidates:
        raise AccountingError(
            f"silver {dataset}: {stats.rows_in} rows in, but {stats.quarantined} quarantined + "
            f"{superseded_count} superseded + {candidates} latest"
        )
    empty = shape_silver(dataset, validate(_empty_bronze(lake, contract), contract), contract)
    lake.ensure("silver", dataset, empty.schema, change_feed=True)
    lake.ensure("quarantine", dataset, quarantine.schema)
    existing = empty if from_scratch else lake.read("silver", dataset)
    rows = changed_rows(
        latest.select(*[c for c in latest.columns if c != FAILURES]), existing, keys
    ).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        stats.accepted = rows.count()
        stats.duplicates = stats.rows_in - stats.quarantined - stats.accepted
        if from_scratch:
            lake.overwrite(quarantine, "quarantine", dataset)
            silver = shape_silver(dataset, rows, contract)
            lake.overwrite(silver, "silver", dataset, change_feed=True)
        else:
            lake.append(quarantine, "quarantine", dataset, txn=(f"silver-{dataset}", until))
            _upsert(
                lake, dataset=dataset, contract=contract, rows=rows, existing=existing, keys=keys
            )
    finally:
        rows.unpersist()


def _empty_bronze(lake: Lake, contract: Contract) -> DataFrame:
    return lake.spark.createDataFrame([], bronze_schema(contract))


def _upsert(
    lake: Lake,
    *,
    dataset: str,
    contract: Contract,
    rows: DataFrame,
    existing: DataFrame,
    keys: list[str],
) -> None:
    if dataset != "products":
        silver = shape_silver(dataset, rows, contract)
        newer_and_different = f"s.{ROW_HASH} <> t.{ROW_HASH} AND {NEWER}"
        lake.merge(silver, "silver", dataset, keys, update_when=newer_and_different)
        return
    affected = rows.select("product_id").distinct()
    history = existing.join(affected, "product_id", how="left_semi")
    versions = build_product_versions(history, rows, contract)
    changed = (
        f"s.{ROW_HASH} <> t.{ROW_HASH} OR s.valid_to <> t.valid_to "
        "OR s.is_current <> t.is_current OR s.version_number <> t.version_number"
    )
    lake.merge(versions, "silver", dataset, keys, update_when=changed)
