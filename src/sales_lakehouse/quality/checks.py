"""Dataset-level checks: each takes DataFrames (or counts) and returns one result.

Every check that needs Spark runs a single aggregation job; the row-level checks of one
table (:class:`RowCheck`: referential, freshness) share one (:func:`judge_rows`). Column helpers
(:func:`key_string`, :func:`sample`) return Columns; the checks return
:class:`~sales_lakehouse.quality.results.CheckResult`.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from sales_lakehouse.contracts import DatasetCheck
from sales_lakehouse.quality.results import SAMPLE_SIZE, CheckResult, EvalContext


@dataclass(frozen=True)
class RunCounts:
    """A batch's accounting: rows in and where they went (None when not known)."""

    rows_in: int
    quarantined: int
    accepted: int | None = None
    duplicates: int | None = None


def key_string(columns: Sequence[str]) -> Column:
    """A readable key: the columns' values as strings joined by '/' (null shown as 'null')."""
    return F.concat_ws("/", *[F.coalesce(F.col(c).cast("string"), F.lit("null")) for c in columns])


def sample(failing: Column, key: Column) -> Column:
    """Aggregate: up to five keys of failing rows, sorted so the sample is deterministic."""
    return F.slice(F.sort_array(F.collect_list(F.when(failing, key))), 1, SAMPLE_SIZE)


def result(ctx: EvalContext, dataset: str, check: DatasetCheck, **fields: object) -> CheckResult:
    return CheckResult(
        run_id=ctx.run_id,
        stage=ctx.stage,
        dataset=dataset,
        rule=check.name,
        rule_type=check.type,
        action=check.action,
        evaluated_at=ctx.evaluated_at,
        **fields,  # type: ignore[arg-type]
    )


def skipped(ctx: EvalContext, dataset: str, check: DatasetCheck, why: str) -> CheckResult:
    """A check that could not be judged (it passes, marked skipped, with the reason)."""
    return result(
        ctx, dataset, check, rows_checked=0, rows_failed=0, passed=True, skipped=True, message=why
    )


def _allowed(check: DatasetCheck, rows: int) -> int:
    """Failing rows a check tolerates: ``max_fraction`` of the rows, else none."""
    return int(rows * (check.max_fraction or 0))


def _tolerated(
    ctx: EvalContext,
    dataset: str,
    check: DatasetCheck,
    counts: tuple[int, int, tuple[str, ...]],
    *,
    observed: str,
    threshold: str,
    message: str,
) -> CheckResult:
    """The result of a check that passes while its failing rows stay within
    :func:`_allowed`; ``counts`` is (rows checked, rows failed, sample keys) and
    ``threshold`` may name the tolerated count as ``{allowed}``."""
    rows, failed, keys = counts
    allowed = _allowed(check, rows)
    return result(
        ctx,
        dataset,
        check,
        rows_checked=rows,
        rows_failed=failed,
        passed=failed <= allowed,
        sample_keys=keys,
        observed=observed,
        threshold=threshold.format(allowed=allowed),
        message=message,
    )


def check_unique(
    df: DataFrame, check: DatasetCheck, ctx: EvalContext, dataset: str, keys: Sequence[str]
) -> CheckResult:
    """No key value appears twice; every row of a repeated key counts as failing."""
    counted = df.groupBy(*keys).agg(F.count(F.lit(1)).alias("__n"))
    repeated = F.col("__n") > 1
    row = counted.agg(
        F.coalesce(F.sum("__n"), F.lit(0)).alias("rows"),
        F.coalesce(F.sum(F.when(repeated, F.col("__n"))), F.lit(0)).alias("failed"),
        F.count_if(repeated).alias("keys"),
        sample(repeated, key_string(keys)).alias("sample"),
    ).first()
    assert row is not None
    rows, failed = int(row["rows"]), int(row["failed"])
    return _tolerated(
        ctx,
        dataset,
        check,
        (rows, failed, tuple(row["sample"])),
        observed=f"{row['keys']} repeated keys ({failed} rows)",
        threshold=f"repeated rows <= {{allowed}} ({', '.join(keys)} unique)",
        message=f"{failed} of {rows} rows share a {'/'.join(keys)} with another row",
    )


@dataclass(frozen=True)
class RowCheck:
    """A table check that one pass over the table's rows can judge: the columns it adds to
    the rows (``join``: a broadcast lookup, or none), its aggregates, and how it reads
    their values into a result. Several run as one aggregation (:func:`judge_rows`)."""

    join: Callable[[DataFrame], DataFrame] | None
    aggregates: list[Column]
    judge: Callable[[Row], CheckResult]


def judge_rows(df: DataFrame, checks: Sequence[RowCheck]) -> list[CheckResult]:
    """Every check's result from a single aggregation job over ``df`` (in order)."""
    if not checks:
        return []
    for check in checks:
        if check.join is not None:
            df = check.join(df)
    row = df.agg(*[column for check in checks for column in check.aggregates]).first()
    assert row is not None
    return [check.judge(row) for check in checks]


def referential_check(
    reference: DataFrame,
    *,
    check: DatasetCheck,
    ctx: EvalContext,
    dataset: str,
    keys: Sequence[str],
    tag: str = "",
) -> RowCheck:
    """Every non-null ``check.column`` value exists in the referenced column.

    Failing rows are orphans; their business keys are the sample. Nulls are not checked
    (an optional reference, such as a sale without promotion). ``tag`` keeps the check's
    columns apart from those of other checks in the same aggregation.
    """
    column, (_, ref_column) = check.column or "", check.referenced
    ref, found = f"__ref{tag}", f"__found{tag}"
    # The referenced keys are a dimension's: small enough to broadcast, so the check costs
    # one pass over the rows and no shuffle of them.
    known = reference.select(F.col(ref_column).alias(ref)).distinct().withColumn(found, F.lit(True))
    orphan = F.col(column).isNotNull() & F.col(found).isNull()
    names = [f"{name}{tag}" for name in ("__checked", "__failed", "__values", "__sample")]

    def join(df: DataFrame) -> DataFrame:
        return df.join(F.broadcast(known), F.col(column) == F.col(ref), how="left")

    def judge(row: Row) -> CheckResult:
        checked, failed = int(row[names[0]]), int(row[names[1]])
        return _tolerated(
            ctx,
            dataset,
            check,
            (checked, failed, tuple(row[names[3]])),
            observed=f"{failed} orphan rows, {row[names[2]]} unknown {column} values",
            threshold="orphan rows <= {allowed}",
            message=f"{failed} of {checked} rows have a {column} not in {check.references}",
        )

    aggregates = [
        F.count(column).alias(names[0]),
        F.count_if(orphan).alias(names[1]),
        F.size(F.collect_set(F.when(orphan, F.col(column)))).alias(names[2]),
        sample(orphan, key_string(keys)).alias(names[3]),
    ]
    return RowCheck(join, aggregates, judge)


def check_referential(
    df: DataFrame,
    reference: DataFrame | None,
    *,
    check: DatasetCheck,
    ctx: EvalContext,
    dataset: str,
    keys: Sequence[str],
) -> CheckResult:
    """:func:`referential_check` alone; skipped when the reference is not available."""
    if reference is None:
        return skipped(ctx, dataset, check, f"reference {check.references} is not available")
    (judged,) = judge_rows(
        df, [referential_check(reference, check=check, ctx=ctx, dataset=dataset, keys=keys)]
    )
    return judged


def _epoch(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is UTC (as every timestamp here)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def freshness_check(
    check: DatasetCheck, ctx: EvalContext, dataset: str, column: str, *, tag: str = ""
) -> RowCheck:
    """The newest ``column`` value is at most ``max_age`` older than ``ctx.as_of``."""
    newest = F.max(F.col(column).cast("timestamp"))
    rows, epoch, shown = (f"{name}{tag}" for name in ("__rows", "__epoch", "__newest"))
    limit = check.max_age_hours or 0.0
    threshold = f"age <= {check.max_age} at {ctx.as_of:%Y-%m-%d %H:%M}"

    def judge(row: Row) -> CheckResult:
        if row[epoch] is None:
            passed, observed, message = False, "no rows", f"no {column} value to judge freshness by"
        else:
            age = (_epoch(ctx.as_of) - int(row[epoch])) / 3600
            passed = age <= limit
            observed = f"newest {column} {row[shown]} ({age:.1f} h old)"
            message = f"newest {column} is {age:.1f} h old, limit {limit:g} h"
        return result(
            ctx,
            dataset,
            check,
            rows_checked=int(row[rows]),
            rows_failed=0,
            passed=passed,
            observed=observed,
            threshold=threshold,
            message=message,
        )

    aggregates = [
        F.count(F.lit(1)).alias(rows),
        F.unix_timestamp(newest).alias(epoch),
        newest.cast("string").alias(shown),
    ]
    return RowCheck(None, aggregates, judge)


def check_freshness(
    df: DataFrame, check: DatasetCheck, ctx: EvalContext, dataset: str, column: str
) -> CheckResult:
    """:func:`freshness_check` alone."""
    (judged,) = judge_rows(df, [freshness_check(check, ctx, dataset, column)])
    return judged


def check_row_count(
    rows: int, history: Sequence[int], check: DatasetCheck, ctx: EvalContext, dataset: str
) -> CheckResult:
    """Rows within ``min_rows`` / ``max_rows`` and, with enough history, within
    mean ± k x spread of the last ``history_window`` counts (spread: population standard
    deviation, at least one row, so a steady history does not flag every change of one)."""
    problems, limits, notes = [], [], []
    if check.min_rows is not None:
        limits.append(f">= {check.min_rows}")
        if rows < check.min_rows:
            problems.append(f"{rows} rows is below {check.min_rows}")
    if check.max_rows is not None:
        limits.append(f"<= {check.max_rows}")
        if rows > check.max_rows:
            problems.append(f"{rows} rows is above {check.max_rows}")
    if check.anomaly_k is not None:
        recent = list(history)[-check.history_window :]
        if len(recent) < check.min_history:
            notes.append(
                f"anomaly skipped: {len(recent)} previous runs, {check.min_history} needed"
            )
        else:
            mean = statistics.fmean(recent)
            spread = max(statistics.pstdev(recent), 1.0)
            low, high = mean - check.anomaly_k * spread, mean + check.anomaly_k * spread
            limits.append(
                f"within {low:.0f}..{high:.0f} ({check.anomaly_k:g} x {spread:.1f} "
                f"around {mean:.1f}, {len(recent)} runs)"
            )
            if not low <= rows <= high:
                problems.append(f"{rows} rows is outside {low:.0f}..{high:.0f}")
    only_skipped_anomaly = not limits
    return result(
        ctx,
        dataset,
        check,
        rows_checked=rows,
        rows_failed=0,
        passed=not problems,
        skipped=only_skipped_anomaly,
        observed=f"{rows} rows",
        threshold="; ".join(limits) or None,
        message="; ".join(problems + notes) or f"{rows} rows within bounds",
    )


def check_quarantine_fraction(
    counts: RunCounts, check: DatasetCheck, ctx: EvalContext, dataset: str
) -> CheckResult:
    """At most ``max_fraction`` of the batch was quarantined (small batches are skipped)."""
    limit = check.max_fraction or 0.0
    if counts.rows_in < max(check.min_batch_rows, 1):
        return skipped(
            ctx,
            dataset,
            check,
            f"batch of {counts.rows_in} rows is under {check.min_batch_rows}: too small to judge",
        )
    share = counts.quarantined / counts.rows_in
    return result(
        ctx,
        dataset,
        check,
        rows_checked=counts.rows_in,
        rows_failed=counts.quarantined,
        passed=share <= limit,
        observed=f"{share:.2%} quarantined ({counts.quarantined} of {counts.rows_in})",
        threshold=f"<= {limit:.2%}",
        message=f"{counts.quarantined} of {counts.rows_in} rows quarantined ({share:.2%}), "
        f"limit {limit:.2%}",
    )
