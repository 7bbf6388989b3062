"""Silver stage: validate the bronze rows not processed yet, quarantine, dedupe, MERGE.

Which bronze rows are new is decided by a watermark (the last bronze version processed)
and the bronze change feed. Every write of the stage is safe to replay: quarantine
appends carry a Delta transaction id, and MERGE rewrites only rows whose values changed.

Sale events (bronze.sales_events) are staged after the sales batch files and merged into
the same silver.sales, on the same business key; which version of a line wins is decided
by the line's change time (``silver/sales.py``), so late or out-of-order events land the
same. Their rejected rows go to quarantine.sales_events.

Quality: every dataset of the stage is staged first; the row rules' results and the
contracts' dataset checks are evaluated on the staged (not yet committed) batches and
tables and appended to ``quality.dq_results``; a ``fail`` rule that broke then stops the
stage with :class:`StageFailedError` before its first data commit, leaving silver,
quarantine and the watermarks of every dataset untouched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sales_lakehouse.bronze.csv import bronze_schema
from sales_lakehouse.contracts import Contract, load_contract
from sales_lakehouse.lake import Lake, in_dates
from sales_lakehouse.pipeline.quality import (
    CHECK_ORDER,
    context,
    record_and_guard,
    references,
    row_count_history,
)
from sales_lakehouse.pipeline.summary import (
    AccountingError,
    Progress,
    StageStats,
)
from sales_lakehouse.quality.checks import RunCounts
from sales_lakehouse.quality.engine import (
    CheckInputs,
    batch_counts,
    evaluate_checks,
    row_rule_results,
    stage_checks,
)
from sales_lakehouse.quality.results import CheckResult, EvalContext, blocking
from sales_lakehouse.quality.rules import FAILURES
from sales_lakehouse.silver.common import (
    INGEST_ORDER,
    ROW_HASH,
    accepted_rows,
    count_versions,
    latest_per_key,
    newer_sql,
    rejected_rows,
    to_quarantine,
    validate,
)
from sales_lakehouse.silver.products import build_product_versions
from sales_lakehouse.silver.promotions import to_silver_promotions
from sales_lakehouse.silver.sales import (
    SALES_ORDER,
    batch_lines,
    event_lines,
    merge_dates,
    to_silver_sales,
)

EVENTS = "sales_events"
# Datasets whose accepted rows go into another dataset's silver table.
TARGET = {EVENTS: "sales"}
# Silver tables partitioned so that a MERGE rewrites only the partitions it touches: a
# daily batch corrects lines of the past week, which in one unpartitioned table sit in
# every file (docs/benchmark.md). Products and promotions are small: one file each.
PARTITIONS: dict[str, tuple[str, ...]] = {"sales": ("sale_date",)}


def target_of(dataset: str) -> str:
    """The silver table a dataset's rows are merged into."""
    return TARGET.get(dataset, dataset)


def version_order(dataset: str) -> tuple[str, ...]:
    """Columns saying which of two versions of a key is newer (see silver.common)."""
    return SALES_ORDER if target_of(dataset) == "sales" else INGEST_ORDER


def versions(dataset: str, accepted: DataFrame) -> DataFrame:
    """Accepted rows as versions of the target table's rows (sales: sale-line versions)."""
    if dataset == "sales":
        return batch_lines(accepted, load_contract("sales"))
    if dataset == EVENTS:
        return event_lines(accepted, load_contract("sales"))
    return accepted


def shape_silver(dataset: str, latest: DataFrame, contract: Contract) -> DataFrame:
    """The dataset's silver rows for its latest valid versions (products: before SCD2)."""
    if target_of(dataset) == "sales":
        return to_silver_sales(latest, load_contract("sales"))
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


def changed_rows(
    latest: DataFrame, existing: DataFrame, keys: list[str], order: tuple[str, ...] = INGEST_ORDER
) -> DataFrame:
    """Rows of ``latest`` that are new keys, or newer (by ``order``) and different from the
    stored version: what the MERGE will write."""
    stored = existing.select(*keys, *order, ROW_HASH).alias("t")
    on = [F.col(f"s.{key}") == F.col(f"t.{key}") for key in keys]
    joined = latest.alias("s").join(stored, on, how="left")
    newer = F.expr(newer_sql(order))
    keep = F.col(f"t.{ROW_HASH}").isNull() | (
        (F.col(f"s.{ROW_HASH}") != F.col(f"t.{ROW_HASH}")) & newer
    )
    return joined.filter(keep).select("s.*")


@dataclass
class StagedSilver:
    """One dataset's silver batch, validated and checked but not committed yet.

    ``validated`` and ``rows`` are persisted until :meth:`release`; ``table`` is the view
    of the table after the commit (what unique/referential/freshness checks judge).
    """

    dataset: str
    contract: Contract
    stats: StageStats
    until: int
    from_scratch: bool
    all_bronze: bool = False
    before: StagedSilver | None = None
    validated: DataFrame | None = None
    rows: DataFrame | None = None
    quarantine: DataFrame | None = None
    existing: DataFrame | None = None
    table: DataFrame | None = None
    counts: RunCounts | None = None
    results: list[CheckResult] = field(default_factory=list)

    @property
    def consumer(self) -> str:
        return f"silver_{self.dataset}"

    @property
    def target(self) -> str:
        return target_of(self.dataset)

    @property
    def source(self) -> str:
        return f"bronze/{self.dataset}"

    def release(self) -> None:
        for df in (self.rows, self.validated):
            if df is not None:
                df.unpersist()


def run_silver(
    lake: Lake, datasets: Sequence[str], *, full_refresh: bool, progress: Progress
) -> list[StageStats]:
    """Bring silver and quarantine up to date with bronze for ``datasets``, all or nothing.

    Every dataset is staged and checked first (references before the datasets pointing at
    them, so a referential check sees the staged products); the results of all of them
    are appended to ``quality.dq_results``; a broken ``fail`` rule then raises
    :class:`StageFailedError` before any silver, quarantine or watermark commit.
    """
    ctx = context(lake.settings, "silver")
    staged: list[StagedSilver] = []
    order = sorted(datasets, key=CHECK_ORDER.index)
    if "sales" in order and lake.exists("bronze", EVENTS):
        order.append(EVENTS)  # after the batch lines: merged into the same silver.sales
    try:
        for dataset in order:
            tables = {s.dataset: s.table for s in staged if s.table is not None}
            sales = next((s for s in staged if s.dataset == "sales"), None)
            staged.append(
                stage_silver(
                    lake,
                    dataset,
                    full_refresh=full_refresh,
                    ctx=ctx,
                    staged=tables,
                    before=sales if dataset == EVENTS else None,
                )
            )
        results = [r for s in staged for r in s.results]
        failing = sorted({r.dataset for r in blocking(results)})
        record_and_guard(lake, "silver", ", ".join(failing), results)
        for batch in staged:
            commit_silver(lake, batch, progress)
    finally:
        for batch in staged:
            batch.release()
    return [batch.stats for batch in staged]


def stage_silver(
    lake: Lake,
    dataset: str,
    *,
    full_refresh: bool,
    ctx: EvalContext,
    staged: Mapping[str, DataFrame],
    before: StagedSilver | None = None,
) -> StagedSilver:
    """Validate the new bronze rows, split and deduplicate them, and evaluate every rule.

    ``staged``: other datasets' staged tables, which referential checks prefer to the
    committed ones. ``before``: the staged batch committed earlier in this run into the
    same silver table (sales events: the sales batch), which the rows are compared with.
    Nothing is written.
    """
    contract = load_contract(dataset)
    until = lake.version("bronze", dataset)
    since = None if full_refresh else lake.watermark(f"silver_{dataset}", f"bronze/{dataset}")
    # Rebuilt from scratch on a full refresh or when there is no table yet; otherwise
    # merged (also when the watermark is missing: another source may have rows there).
    from_scratch = full_refresh or not lake.exists("silver", target_of(dataset))
    if dataset in TARGET:  # never replaces its target: the target's own batch does
        from_scratch = False
    batch = StagedSilver(
        dataset,
        contract,
        StageStats("silver", dataset),
        until,
        from_scratch,
        all_bronze=since is None,
        before=before,
    )
    if until < 0 or since == until:
        return batch
    defaults = {"currency": lake.settings.default_currency}
    validated = validate(_bronze_batch(lake, dataset, since, until), contract, defaults)
    batch.validated = validated.persist(StorageLevel.MEMORY_AND_DISK)
    batch.results = _count_validated(batch.validated, contract, batch.stats, ctx)
    if blocking(batch.results):
        return batch  # the row rules already stop the stage; no need to stage further
    _stage_rows(lake, batch)
    assert batch.table is not None and batch.counts is not None
    inputs = CheckInputs(
        table=batch.table,
        rows=batch.counts.rows_in,
        counts=batch.counts,
        references={**references(lake, contract), **staged},
        history=row_count_history(lake, "silver", dataset, ctx.run_id),
    )
    checks = evaluate_checks(contract, inputs, ctx, stage_checks(contract, "silver"))
    batch.results += checks
    batch.stats.quality_warnings = [
        f"{r.rule}: {r.message}" for r in checks if not r.passed and r.action == "warn"
    ]
    return batch


def _count_validated(
    validated: DataFrame, contract: Contract, stats: StageStats, ctx: EvalContext
) -> list[CheckResult]:
    """Count rows in, quarantined and warned; return every row rule's result."""
    counts = batch_counts(validated)
    stats.rows_in, stats.quarantined = counts.rows_in, counts.quarantined
    stats.warnings = counts.flagged - counts.quarantined
    return row_rule_results(validated, contract, ctx, counts.rows_in)


def table_after(existing: DataFrame, staged: DataFrame, contract: Contract) -> DataFrame:
    """The contract columns the table will hold once ``staged`` is merged into ``existing``:
    stored rows whose key is not staged, plus the staged rows. What table-level checks
    (unique, referential, freshness) judge before anything is committed."""
    keys, columns = list(contract.business_key), contract.column_names
    kept = existing.select(*columns).join(staged.select(*keys), keys, how="left_anti")
    return kept.unionByName(staged.select(*columns))


def _stage_rows(lake: Lake, batch: StagedSilver) -> None:
    """Quarantine rows, the changed latest versions (persisted) and the batch accounting."""
    assert batch.validated is not None
    dataset, contract, stats = batch.dataset, batch.contract, batch.stats
    keys, order = list(contract.business_key), version_order(dataset)
    quarantined_at = datetime.now(UTC).replace(tzinfo=None)
    batch.quarantine = to_quarantine(rejected_rows(batch.validated), contract, quarantined_at)
    accepted = versions(dataset, accepted_rows(batch.validated))
    latest, _ = latest_per_key(accepted, keys, order)
    candidates, superseded_count = count_versions(accepted, keys, order)
    if stats.rows_in != stats.quarantined + superseded_count + candidates:
        raise AccountingError(
            f"silver {dataset}: {stats.rows_in} rows in, but {stats.quarantined} quarantined + "
            f"{superseded_count} superseded + {candidates} latest"
        )
    batch.existing = _silver_before(lake, batch)
    batch.rows = changed_rows(
        latest.select(*[c for c in latest.columns if c != FAILURES]), batch.existing, keys, order
    ).persist(StorageLevel.MEMORY_AND_DISK)
    stats.accepted = batch.rows.count()
    stats.duplicates = stats.rows_in - stats.quarantined - stats.accepted
    # Counted independently of stats.duplicates: superseded copies in the batch plus
    # latest versions identical to what silver holds.
    duplicates = superseded_count + candidates - stats.accepted
    batch.counts = RunCounts(stats.rows_in, stats.quarantined, stats.accepted, duplicates)
    batch.table = table_after(batch.existing, batch.rows, load_contract(batch.target))


def _silver_before(lake: Lake, batch: StagedSilver) -> DataFrame:
    """The target silver table as the batch will find it at its commit: empty when it is
    rebuilt, the committed table after ``batch.before``'s rows when another source of the
    same table commits first in this run, else the committed table."""
    before = batch.before
    if before is not None and before.rows is not None and before.existing is not None:
        staged = shape_silver(before.dataset, before.rows, before.contract)
        keys = list(before.contract.business_key)
        kept = before.existing.join(staged.select(*keys), keys, how="left_anti")
        return kept.unionByName(staged)
    if batch.from_scratch or not lake.exists("silver", batch.target):
        return _empty_silver(lake, batch.dataset)
    return lake.read("silver", batch.target)


def commit_silver(lake: Lake, batch: StagedSilver, progress: Progress) -> None:
    """Write a staged batch: quarantine, silver (overwrite or MERGE), then the watermark."""
    dataset, stats = batch.dataset, batch.stats
    if batch.validated is None:
        progress(f"silver {dataset}: nothing new in bronze")
        return
    assert batch.rows is not None and batch.quarantine is not None
    assert batch.existing is not None
    if not stats.balanced:
        raise AccountingError(
            f"{dataset}: {stats.rows_in} rows in but {stats.accepted} accepted + "
            f"{stats.quarantined} quarantined + {stats.duplicates} duplicates"
        )
    contract, keys, target = batch.contract, list(batch.contract.business_key), batch.target
    partitions = PARTITIONS.get(target, ())
    silver_schema = _silver_schema(lake, dataset)
    lake.ensure("silver", target, silver_schema, change_feed=True, partition_by=partitions)
    lake.ensure("quarantine", dataset, batch.quarantine.schema)
    if batch.all_bronze:  # every bronze row was validated: the whole quarantine
        lake.overwrite(batch.quarantine, "quarantine", dataset)
    else:
        txn = (f"silver-{dataset}", batch.until)
        lake.append(batch.quarantine, "quarantine", dataset, txn=txn)
    if batch.from_scratch:
        silver = shape_silver(dataset, batch.rows, contract)
        lake.overwrite(silver, "silver", target, change_feed=True, partition_by=partitions)
    else:
        _upsert(
            lake,
            dataset=dataset,
            contract=contract,
            rows=batch.rows,
            existing=batch.existing,
            keys=keys,
        )
    lake.set_watermarks(batch.consumer, {batch.source: batch.until})
    progress(
        f"silver {dataset}: {stats.rows_in} rows in, {stats.accepted} accepted, "
        f"{stats.quarantined} quarantined, {stats.duplicates} duplicates"
    )


def _empty_silver(lake: Lake, dataset: str) -> DataFrame:
    """The silver shape of the dataset's target with no rows (the schema on creation)."""
    return lake.spark.createDataFrame([], _silver_schema(lake, dataset))


# Silver schemas derived from the contracts, by the contracts' text: deriving one plans the
# whole validation on an empty batch, about 1.5 s each time (``make bench``).
_SILVER_SCHEMAS: dict[tuple[str, str, str], T.StructType] = {}


def _silver_schema(lake: Lake, dataset: str) -> T.StructType:
    contract = load_contract(dataset)
    key = (dataset, contract.model_dump_json(), load_contract(target_of(dataset)).model_dump_json())
    if key not in _SILVER_SCHEMAS:
        empty = versions(dataset, validate(_empty_bronze(lake, contract), contract))
        _SILVER_SCHEMAS[key] = shape_silver(dataset, empty, contract).schema
    return _SILVER_SCHEMAS[key]


def _empty_bronze(lake: Lake, contract: Contract) -> DataFrame:
    return lake.spark.createDataFrame([], bronze_schema(contract))


def _sale_dates(silver: DataFrame, existing: DataFrame, keys: list[str]) -> str | None:
    """The MERGE's date predicate on the stored sales (``t``): the new and the stored dates
    of the batch's lines (see :func:`merge_dates`); None for an empty batch."""
    dates = [row["sale_date"] for row in merge_dates(silver, existing, keys).collect()]
    known = sorted(day for day in dates if day is not None)
    if not dates:
        return None
    clauses = [in_dates("t.sale_date", known)] if known else []
    if len(known) < len(dates):  # order_ts is required; kept safe for rows without a date
        clauses.append("t.sale_date IS NULL")
    return " OR ".join(clauses)


def _upsert(
    lake: Lake,
    *,
    dataset: str,
    contract: Contract,
    rows: DataFrame,
    existing: DataFrame,
    keys: list[str],
) -> None:
    """MERGE a staged batch into its silver table (products: rebuild the SCD2 versions of
    the products it touches first); sales touches only the sale dates involved."""
    if dataset != "products":
        silver = shape_silver(dataset, rows, contract)
        newer_and_different = (
            f"s.{ROW_HASH} <> t.{ROW_HASH} AND {newer_sql(version_order(dataset))}"
        )
        within = _sale_dates(silver, existing, keys) if target_of(dataset) == "sales" else None
        lake.merge(
            silver,
            "silver",
            target_of(dataset),
            keys,
            update_when=newer_and_different,
            within=within,
        )
        return
    affected = rows.select("product_id").distinct()
    history = existing.join(affected, "product_id", how="left_semi")
    versions = build_product_versions(history, rows, contract)
    changed = (
        f"s.{ROW_HASH} <> t.{ROW_HASH} OR s.valid_to <> t.valid_to "
        "OR s.is_current <> t.is_current OR s.version_number <> t.version_number"
    )
    lake.merge(versions, "silver", dataset, keys, update_when=changed)
