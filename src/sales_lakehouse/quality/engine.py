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
    RowCheck,
    RunCounts,
    check_freshness,
    check_quarantine_fraction,
    check_referential,
    check_row_count,
    check_unique,
    freshness_check,
    judge_rows,
    key_string,
    referential_check,
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


_COUNTED = ("rows_in", "quarantined", "flagged", "failing")


def judge_batch(
    validated: DataFrame, contract: Contract, ctx: EvalContext
) -> tuple[BatchCounts, list[CheckResult]]:
    """A validated batch's counts and one result per row rule of the contract, from one
    aggregation job over the batch.

    Each row's ``_failures`` are exploded (a row without any gives one row with no rule)
    and grouped by rule: a rule's group counts the rows that broke it and samples their
    landed business keys; each row's own counts (in, quarantined, flagged, failing) are
    taken on its first exploded row only, so the groups add up to the batch. Rules no
    row broke are reported as passed.
    """
    key = key_string([f"{RAW_PREFIX}{name}" for name in contract.business_key])
    failing = F.exists(F.col(FAILURES), lambda f: f["action"] == "fail")
    exploded = validated.select(
        key.alias("__key"),
        failing.alias("__failing"),
        is_rejected(F.col(FAILURES)).alias("__rejected"),
        (F.size(FAILURES) > 0).alias("__flagged"),
        F.posexplode_outer(FAILURES).alias("__pos", "__f"),
    )
    first = F.col("__pos").isNull() | (F.col("__pos") == 0)
    broke = F.col("__f").isNotNull()
    grouped = exploded.groupBy(F.col("__f.rule").alias("rule")).agg(
        F.count_if(first).alias("rows_in"),
        F.count_if(first & F.col("__failing")).alias("failing"),
        F.count_if(first & F.col("__rejected")).alias("quarantined"),
        F.count_if(first & F.col("__flagged")).alias("flagged"),
        F.count_if(broke).alias("failed"),
        F.slice(F.sort_array(F.collect_list(F.when(broke, F.col("__key")))), 1, SAMPLE_SIZE).alias(
            "sample"
        ),
    )
    groups = grouped.collect()
    total = {name: sum(int(row[name]) for row in groups) for name in _COUNTED}
    counts = BatchCounts(**total)
    found = {
        row["rule"]: (int(row["failed"]), tuple(row["sample"]))
        for row in groups
        if row["rule"] is not None
    }
    return counts, row_rule_results(found, contract, ctx, counts.rows_in)


def row_rule_results(
    found: dict[str, tuple[int, tuple[str, ...]]],
    contract: Contract,
    ctx: EvalContext,
    rows_checked: int,
) -> list[CheckResult]:
    """One result per row rule of the contract, from each broken rule's failing-row count
    and sample keys (``found``); rules not in it are reported as passed."""
    results = []
    found = dict(found)
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


def _row_check(
    check: DatasetCheck, contract: Contract, inputs: CheckInputs, ctx: EvalContext, tag: str
) -> RowCheck | None:
    """The check as a :class:`RowCheck` over ``inputs.table`` when it can share the
    table's one aggregation: a referential check whose reference is there, and freshness
    when the table is the whole table (not an increment's touched part)."""
    if inputs.table is None:
        return None
    dataset, keys = contract.dataset, list(contract.business_key)
    if check.type == "referential":
        reference = inputs.references.get(check.referenced[0])
        if reference is None:
            return None
        return referential_check(
            reference, check=check, ctx=ctx, dataset=dataset, keys=keys, tag=tag
        )
    if check.type == "freshness" and inputs.whole is None:
        return freshness_check(check, ctx, dataset, check.column or contract.event_time, tag=tag)
    return None


def evaluate_checks(
    contract: Contract,
    inputs: CheckInputs,
    ctx: EvalContext,
    checks: Sequence[DatasetCheck] | None = None,
) -> list[CheckResult]:
    """Results of ``checks`` (default: all the contract declares), in declaration order.

    The referential and freshness checks of the table are judged in one aggregation over
    its rows (one job and one plan, not one per check); the others one by one.
    """
    chosen = list(contract.checks if checks is None else checks)
    results: dict[int, CheckResult] = {}
    fused: list[tuple[int, RowCheck]] = []
    for index, check in enumerate(chosen):
        part = _row_check(check, contract, inputs, ctx, tag=f"_{index}")
        if part is None:
            results[index] = evaluate_check(check, contract, inputs, ctx)
        else:
            fused.append((index, part))
    if fused:
        assert inputs.table is not None
        judged = judge_rows(inputs.table, [part for _, part in fused])
        results.update((index, result) for (index, _), result in zip(fused, judged, strict=True))
    return [results[index] for index in range(len(chosen))]
