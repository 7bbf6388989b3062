"""Dataset-level checks: each takes DataFrames (or counts) and returns one result.

Every check that needs Spark runs a single aggregation job. Column helpers
(:func:`key_string`, :func:`sample`) return Columns; the checks return
:class:`~sales_lakehouse.quality.results.CheckResult`.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame
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


def check_referential(
    df: DataFrame,
    reference: DataFrame | None,
    *,
    check: DatasetCheck,
    ctx: EvalContext,
    dataset: str,
    keys: Sequence[str],
) -> CheckResult:
    """Every non-null ``check.column`` value exists in the referenced column.

    Failing rows are orphans; their business keys are the sample. Nulls are not checked
    (an optional reference, such as a sale without promotion).
    """
    if reference is None:
        return skipped(ctx, dataset, check, f"reference {check.references} is not available")
    column, (_, ref_column) = check.column or "", check.referenced
    # The referenced keys are a dimension's: small enough to broadcast, so the check costs
    # one pass over ``df`` and no shuffle of it.
    known = (
        reference.select(F.col(ref_column).alias("__ref"))
        .distinct()
        .withColumn("__found", F.lit(True))
    )
    joined = df.join(F.broadcast(known), F.col(column) == F.col("__ref"), how="left")
    orphan = F.col(column).isNotNull() & F.col("__found").isNull()
    row = joined.agg(
        F.count(column).alias("checked"),
        F.count_if(orphan).alias("failed"),
        F.size(F.collect_set(F.when(orphan, F.col(column)))).alias("values"),
        sample(orphan, key_string(keys)).alias("sample"),
    ).first()
    assert row is not None
    checked, failed = int(row["checked"]), int(row["failed"])
    return _tolerated(
        ctx,
        dataset,
        check,
        (checked, failed, tuple(row["sample"])),
        observed=f"{failed} orphan rows, {row['values']} unknown {column} values",
        threshold="orphan rows <= {allowed}",
        message=f"{failed} of {checked} rows have a {column} not in {check.references}",
    )


def _epoch(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is UTC (as every timestamp here)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def check_freshness(
    df: DataFrame, check: DatasetCheck, ctx: EvalContext, dataset: str, column: str
) -> CheckResult:
    """The newest ``column`` value is at most ``max_age`` older than ``ctx.as_of``."""
    newest = F.max(F.col(column).cast("timestamp"))
    row = df.agg(
        F.count(F.lit(1)).alias("rows"),
        F.unix_timestamp(newest).alias("epoch"),
        newest.cast("string").alias("newest"),
    ).first()
    assert row is not None
    limit = check.max_age_hours or 0.0
    threshold = f"age <= {check.max_age} at {ctx.as_of:%Y-%m-%d %H:%M}"
    if row["epoch"] is None:
        return result(
            ctx,
            dataset,
            check,
            rows_checked=int(row["rows"]),
            rows_failed=0,
            passed=False,
            observed="no rows",
            threshold=threshold,
            message=f"no {column} value to judge freshness by",
        )
    age = (_epoch(ctx.as_of) - int(row["epoch"])) / 3600
    return result(
        ctx,
        dataset,
        check,
        rows_checked=int(row["rows"]),
        rows_failed=0,
        passed=age <= limit,
        observed=f"newest {column} {row['newest']} ({age:.1f} h old)",
        threshold=threshold,
        message=f"newest {column} is {age:.1f} h old, limit {limit:g} h",
    )


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
