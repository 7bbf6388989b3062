"""Reconciliation checks: do the layers agree? (bronze rows vs silver's accounting, and
silver sales vs the gold marts, per sale date, exactly)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.contracts import DatasetCheck
from sales_lakehouse.quality.checks import RunCounts, result, sample, skipped
from sales_lakehouse.quality.results import CheckResult, EvalContext


def reconcile_bronze_silver(
    counts: RunCounts | None, check: DatasetCheck, ctx: EvalContext, dataset: str
) -> CheckResult:
    """A run's bronze rows = silver accepted + quarantined + duplicates."""
    if counts is None or counts.accepted is None or counts.duplicates is None:
        return skipped(ctx, dataset, check, "needs a silver run's counts (checked on every run)")
    total = counts.accepted + counts.quarantined + counts.duplicates
    return result(
        ctx,
        dataset,
        check,
        rows_checked=counts.rows_in,
        rows_failed=abs(counts.rows_in - total),
        passed=counts.rows_in == total,
        observed=f"{counts.rows_in} in; {counts.accepted} accepted + {counts.quarantined} "
        f"quarantined + {counts.duplicates} duplicates = {total}",
        threshold="rows in = accepted + quarantined + duplicates",
        message=f"bronze {counts.rows_in} vs accounted {total}",
    )


def _per_date(df: DataFrame, prefix: str, lines: Column, dates: list[date] | None) -> DataFrame:
    if dates is not None:
        df = df.filter(F.col("sale_date").isin(dates))
    return df.groupBy("sale_date").agg(
        F.coalesce(F.sum("net_amount"), F.lit(Decimal(0))).alias(f"{prefix}_net"),
        lines.cast("long").alias(f"{prefix}_lines"),
    )


def reconcile_silver_gold(
    silver_sales: DataFrame,
    fact_sales: DataFrame,
    daily_sales: DataFrame,
    *,
    check: DatasetCheck,
    ctx: EvalContext,
    dates: list[date] | None,
) -> CheckResult:
    """Per sale date: Σ net_amount and line count equal in silver, fact and daily sales.

    ``dates`` None compares every date. Amounts are decimals compared exactly; a date
    missing on one side counts as 0 there, so it shows as a difference.
    """
    if dates is not None and not dates:
        return skipped(ctx, "sales", check, "no sale dates changed in this run")
    count = F.count(F.lit(1))
    joined = (
        _per_date(silver_sales, "s", count, dates)
        .join(_per_date(fact_sales, "f", count, dates), "sale_date", how="full")
        .join(_per_date(daily_sales, "d", F.sum("line_count"), dates), "sale_date", how="full")
    )
    zero, none = F.lit(Decimal(0)), F.lit(0)
    net = {p: F.coalesce(F.col(f"{p}_net"), zero) for p in "sfd"}
    lines = {p: F.coalesce(F.col(f"{p}_lines"), none) for p in "sfd"}
    differs = ~(
        (net["s"] == net["f"])
        & (net["s"] == net["d"])
        & (lines["s"] == lines["f"])
        & (lines["s"] == lines["d"])
    )
    row = joined.agg(
        F.count(F.lit(1)).alias("dates"),
        F.count_if(differs).alias("failed"),
        sample(differs, F.col("sale_date").cast("string")).alias("sample"),
        *[F.sum(net[p]).cast("string").alias(f"{p}_net") for p in "sfd"],
        *[F.sum(lines[p]).alias(f"{p}_lines") for p in "sfd"],
    ).first()
    assert row is not None
    failed = int(row["failed"])
    scope = "all dates" if dates is None else f"{len(dates)} dates of the run"
    return result(
        ctx,
        "sales",
        check,
        rows_checked=int(row["dates"]),
        rows_failed=failed,
        passed=failed == 0,
        sample_keys=tuple(row["sample"]),
        observed=(
            f"net silver {row['s_net']}, fact {row['f_net']}, daily {row['d_net']}; "
            f"lines {row['s_lines']}, {row['f_lines']}, {row['d_lines']}"
        ),
        threshold=f"equal per sale_date ({scope})",
        message=f"{failed} of {row['dates']} sale dates differ between silver and gold",
    )
