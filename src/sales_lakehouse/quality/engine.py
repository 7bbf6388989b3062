"""The quality engine: evaluate a contract's rules on DataFrames, return result records.

Pure: the caller passes the batch (validated rows), the table the stage is about to
commit, reference tables, counts and history; nothing here reads or writes the lake.
Which checks a stage runs is :func:`stage_checks`'s decision: the silver stage runs all
but the silver/gold reconciliation, which runs after gold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.contracts import Contract, DatasetCheck
from sales_lakehouse.quality.checks import (
    RunCounts,
    check_freshness,
    check_quarantine_fraction,
    check_referential,
    check_row_count,
    check_unique,
    key_string,
    skipped,
)
from sales_lakehouse.quality.reconcile import reconcile_bronze_silver, reconcile_silver_gold
from sales_lakehouse.quality.results import SAMPLE_SIZE, CheckResult, EvalContext
from sales_lakehouse.quality.rule_specs import row_rule_specs
from sales_lakehouse.quality.rules import FAILURES, RAW_PREFIX, is_rejected


@dataclass(frozen=True)
class GoldFrames:
    """What the silver/gold reconciliation compares, and for which sale dates (None: all)."""

    silver_sales: DataFrame
    fact_sales: DataFrame
    daily_sales: DataFrame
    dates: list[date] | None = None


@dataclass(frozen=True)
class CheckInputs:
    """Everything the dataset-level checks of one dataset look at.

    ``table``: the rows the table holds once the stage commits (unique, referential,
    freshness). ``rows``: the count row_count judges (a run's batch, or the whole table).
    ``counts``: the batch accounting (quarantine_fraction, bronze_silver). ``history``:
    previous row_count observations per rule, oldest first. ``references``: tables that
    referential checks point at, by dataset. ``whole``: when ``table`` is only the part of
    the table a batch touched (an increment), the whole table, which freshness judges.
    ``judged``: the counts quarantine_fraction judges when they differ from ``counts``
    (the batch without the files an operator released knowingly).
    """

    table: DataFrame | None = None
    whole: DataFrame | None = None
    rows: int = 0
    counts: RunCounts | None = None
    references: Mapping[str, DataFrame] = field(default_factory=dict)
    history: Mapping[str, Sequence[int]] = field(default_factory=dict)
    gold: GoldFrames | None = None
    judged: RunCounts | None = None


def stage_checks(contract: Contract, stage: str) -> list[DatasetCheck]:
    """The checks a stage evaluates: ``silver`` all but silver/gold reconciliation,
    ``gold`` only that one, ``quality`` (the whole-lake command) all."""
    gold_only = [c for c in contract.checks if c.compare == "silver_gold"]
    if stage == "gold":
        return gold_only
    if stage == "silver":
        return [c for c in contract.checks if c not in gold_only]
    return list(contract.checks)


@dataclass(frozen=True)
class BatchCounts:
    """A validated batch's counts: rows, quarantined (blocking rule), flagged, failing."""

    rows_in: int
    quarantined: int
    flagged: int
    failing: int


def batch_counts(validated: DataFrame) -> BatchCounts:
    """Count rows in, quarantined, flagged (any rule) and 'fail'-rule rows in one pass."""
    failing = F.exists(F.col(FAILURES), lambda f: f["action"] == "fail")
    row = validated.agg(
        F.count(F.lit(1)).alias("rows_in"),
        F.count_if(failing).alias("failing"),
        F.count_if(is_rejected(F.col(FAILURES))).alias("quarantined"),
        F.count_if(F.size(FAILURES) > 0).alias("flagged"),
    ).first()
    assert row is not None
    return BatchCounts(
        int(row["rows_in"]), int(row["quarantined"]), int(row["flagged"]), int(row["failing"])
    )


def row_rule_results(
    validated: DataFrame, contract: Contract, ctx: EvalContext, rows_checked: int
) -> list[CheckResult]:
    """One result per row rule of the contract from the batch's ``_failures`` arrays.

    One aggregation over the exploded failures gives every rule's failing-row count and
    sample keys (the landed business key); rules no row broke are reported as passed.
    """
    key = key_string([f"{RAW_PREFIX}{name}" for name in contract.business_key])
    exploded = validated.select(key.alias("__key"), F.explode(FAILURES).alias("__f"))
    counted = exploded.groupBy(F.col("__f.rule").alias("rule")).agg(
        F.count(F.lit(1)).alias("failed"),
        F.slice(F.sort_array(F.collect_list("__key")), 1, SAMPLE_SIZE).alias("sample"),
    )
    found = {row["rule"]: (int(row["failed"]), tuple(row["sample"])) for row in counted.collect()}
    results = []
    for spec in row_rule_specs(contract):
        failed, keys = found.pop(spec.rule, (0, ()))
        results.append(
            CheckResult(
                run_id=ctx.run_id,
                stage=ctx.stage,
                dataset=contract.dataset,
                rule=spec.rule,
                rule_type=spec.rule_type,
                action=spec.action,
                rows_checked=rows_checked,
                rows_failed=failed,
                passed=failed == 0,
                evaluated_at=ctx.evaluated_at,
                sample_keys=keys,
                message=f"{failed} of {rows_checked} rows broke {spec.rule} ({spec.description})",
            )
        )
    if found:  # a rule the catalog does not know: a bug, never silently dropped
        raise ValueError(f"{contract.dataset}: rules missing from the catalog: {sorted(found)}")
    return results


def _reconcile(
    check: DatasetCheck, dataset: str, inputs: CheckInputs, ctx: EvalContext
) -> CheckResult:
    if check.compare == "bronze_silver":
        return reconcile_bronze_silver(inputs.counts, check, ctx, dataset)
    if inputs.gold is None:
        return skipped(ctx, dataset, check, "gold tables are not available")
    gold = inputs.gold
    return reconcile_silver_gold(
        gold.silver_sales, gold.fact_sales, gold.daily_sales, check=check, ctx=ctx, dates=gold.dates
    )


def _table_check(
    check: DatasetCheck, contract: Contract, table: DataFrame, inputs: CheckInputs, ctx: EvalContext
) -> CheckResult:
    dataset, keys = contract.dataset, list(contract.business_key)
    if check.type == "unique":
        return check_unique(table, check, ctx, dataset, list(check.columns) or keys)
    if check.type == "referential":
        reference = inputs.references.get(check.referenced[0])
        return check_referential(table, reference, check=check, ctx=ctx, dataset=dataset, keys=keys)
    whole = table if inputs.whole is None else inputs.whole
    return check_freshness(whole, check, ctx, dataset, check.column or contract.event_time)


def evaluate_check(
    check: DatasetCheck, contract: Contract, inputs: CheckInputs, ctx: EvalContext
) -> CheckResult:
    """Evaluate one dataset-level check of ``contract`` on ``inputs``."""
    dataset = contract.dataset
    if check.type == "row_count":
        return check_row_count(inputs.rows, inputs.history.get(check.name, ()), check, ctx, dataset)
    if check.type == "quarantine_fraction":
        counts = inputs.counts if inputs.judged is None else inputs.judged
        if counts is None:
            return skipped(ctx, dataset, check, "no batch counts")
        return check_quarantine_fraction(counts, check, ctx, dataset)
    if check.type == "reconciliation":
        return _reconcile(check, dataset, inputs, ctx)
    if inputs.table is None:
        return skipped(ctx, dataset, check, f"no {dataset} table to check")
    return _table_check(check, contract, inputs.table, inputs, ctx)


def evaluate_checks(
    contract: Contract,
    inputs: CheckInputs,
    ctx: EvalContext,
    checks: Sequence[DatasetCheck] | None = None,
) -> list[CheckResult]:
    """Results of ``checks`` (default: all the contract declares), in declaration order."""
    chosen = contract.checks if checks is None else checks
    return [evaluate_check(check, contract, inputs, ctx) for check in chosen]
