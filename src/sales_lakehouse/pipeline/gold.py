"""Gold stage: rebuild the marts for the sale dates silver changes touched.

Touched dates come from the silver change feeds since gold's watermarks: dates of sale
lines inserted, updated (before and after the change), and dates of lines whose product or
promotion changed (so late-arriving dimensions are linked once they arrive). fact_sales
and daily_sales are replaced for those dates, product_performance for their months;
promotion_performance (one row per promotion) for the promotions a change can move: those
whose silver row changed, whose window (baseline and promotion days) holds a touched
date, or with lines attributed on a touched date (before or after the change).
"""

from __future__ import annotations

import functools
import operator
from bisect import bisect_left
from collections.abc import Iterable
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.contracts import DATASETS
from sales_lakehouse.gold.daily_sales import build_daily_sales
from sales_lakehouse.gold.fact_sales import build_fact_sales
from sales_lakehouse.gold.performance import (
    build_product_performance,
    build_promotion_performance,
    sale_month,
)
from sales_lakehouse.lake import Lake, delta_log, in_dates, in_ranges, in_strings
from sales_lakehouse.pipeline.summary import Progress
from sales_lakehouse.silver.sales import sold_lines

CONSUMER = "gold"
MARTS = ("fact_sales", "daily_sales", "product_performance", "promotion_performance")
# Marts rebuilt by date are clustered by it (files of short date ranges, no partitions),
# so a rebuild of some dates rewrites only their files.
CLUSTER_BY: dict[str, str] = {
    "fact_sales": "sale_date",
    "daily_sales": "sale_date",
    "product_performance": "month",
}


def touched_dates(lake: Lake, since: dict[str, int], until: dict[str, int]) -> list[date]:
    """Sale dates whose gold rows may differ after the silver changes in (since, until]."""
    sales = lake.read("silver", "sales")
    parts: list[DataFrame] = []
    for dataset, key in (
        ("sales", None),
        ("products", "product_id"),
        ("promotions", "promotion_id"),
    ):
        if until[dataset] <= since[dataset]:
            continue
        changes = lake.changes("silver", dataset, since[dataset] + 1, until[dataset])
        if key is None:
            parts.append(changes.select("sale_date"))
        else:
            keys = changes.select(key).distinct()
            parts.append(sales.join(keys, key, how="left_semi").select("sale_date"))
    if not parts:
        return []
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    rows = union.filter(F.col("sale_date").isNotNull()).distinct().collect()
    return sorted(row["sale_date"] for row in rows)


def changed_promotions(lake: Lake, since: int, until: int) -> set[str]:
    """Promotion ids whose silver row changed in versions (since, until]: new, updated,
    deleted."""
    if until <= since:
        return set()
    changes = lake.changes("silver", "promotions", since + 1, until)
    return {row[0] for row in changes.select("promotion_id").distinct().collect()}


def promotions_to_refresh(
    promotions: Iterable[tuple[str, date, date]],
    attributed: set[str],
    changed: set[str],
    dates: Iterable[date],
    baseline_days: int,
) -> list[tuple[str, date, date]]:
    """The promotions whose promotion_performance row a rebuild of ``dates`` can move, as
    (id, first day of the baseline, end date).

    ``promotions``: silver's (id, start_date, end_date). A promotion is refreshed when a
    date falls inside its baseline or promotion days, or it is ``attributed`` (lines on
    the dates carry its id, before or after the rebuild) or ``changed`` (its silver row).
    Ids of ``changed`` not in silver (any more) come with an empty window (start after
    end), so their rows are removed; ids of ``attributed`` not in silver have no row.
    """
    days = sorted(set(dates))
    selected: dict[str, tuple[date, date]] = dict.fromkeys(changed, (date.max, date.min))
    for key, start_date, end_date in promotions:
        start = start_date - timedelta(days=baseline_days)
        index = bisect_left(days, start)
        if key in selected or key in attributed or (index < len(days) and days[index] <= end_date):
            selected[key] = (start, end_date)
    return [(key, *window) for key, window in sorted(selected.items())]


def merged_ranges(windows: Iterable[tuple[date, date]]) -> list[tuple[date, date]]:
    """Date ranges (first, last, inclusive) merged where they overlap or touch; empty
    ranges (first after last) left out."""
    merged: list[tuple[date, date]] = []
    for start, end in sorted(w for w in windows if w[0] <= w[1]):
        if merged and start <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def month_ranges(months: Iterable[date]) -> list[tuple[date, date]]:
    """The sale dates of ``months`` (their first days) as merged (first, last) ranges."""
    windows = []
    for first in months:
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        windows.append((first, following - timedelta(days=1)))
    return merged_ranges(windows)


def in_date_ranges(ranges: Iterable[tuple[date, date]]) -> Column:
    """``sale_date`` inside one of ``ranges`` (inclusive); false for none.

    A filter on ``sale_date`` itself, which Delta's data skipping reads from the files'
    min/max statistics: one on a function of it (the month) reads every file.
    """
    inside = [F.col("sale_date").between(F.lit(start), F.lit(end)) for start, end in ranges]
    return functools.reduce(operator.or_, inside, F.lit(False))


def _write_promotion_performance(
    lake: Lake,
    fact: DataFrame,
    promotions: DataFrame,
    refresh: list[tuple[str, date, date]] | None,
) -> None:
    """Build promotion_performance from ``fact``: whole, or for the ``refresh`` promotions
    only, from the lines attributed to them and the lines inside their windows."""
    settings = lake.settings

    def build(lines: DataFrame, selected: DataFrame) -> DataFrame:
        return build_promotion_performance(
            lines,
            selected,
            currency=settings.default_currency,
            baseline_days=settings.baseline_days,
        )

    if refresh is None:
        lake.overwrite(build(fact, promotions), "gold", "promotion_performance")
        return
    ids = [key for key, _, _ in refresh]
    windows = merged_ranges((start, end) for _, start, end in refresh)
    lines = fact.filter(in_date_ranges(windows) | F.col("promotion_id").isin(ids))
    rows = build(lines, promotions.filter(F.col("promotion_id").isin(ids)))
    lake.replace_where(rows, "gold", "promotion_performance", in_strings("promotion_id", ids))


def _write_marts(lake: Lake, fact: DataFrame, dates: list[date] | None) -> dict[str, int]:
    """Write fact_sales (for ``dates`` or whole), then the marts built from the stored fact:
    daily_sales for the same dates, product_performance for their months. Reading the fact
    back (only the dates written: it is clustered by them) instead of building it again
    saves a second pass over silver and its joins.

    Each mart is built from the fact in ranges of its clustering column (:func:`in_ranges`):
    its aggregation (and product_performance's ranking) is done within the ranges, and
    the write keeps them: one shuffle per mart instead of three."""
    written = {}

    def write_by_date(name: str, mart: DataFrame, *, ranged: bool = False) -> None:
        if dates is None:
            lake.overwrite(mart, "gold", name, cluster_by=CLUSTER_BY[name], ranged=ranged)
        else:
            predicate = in_dates("sale_date", dates)
            lake.replace_where(
                mart, "gold", name, predicate, cluster_by=CLUSTER_BY[name], ranged=ranged
            )
        written[name] = lake.rows_written("gold", name)

    write_by_date("fact_sales", fact)
    stored_fact = lake.read("gold", "fact_sales")
    in_dates_written = (
        stored_fact if dates is None else stored_fact.filter(F.col("sale_date").isin(dates))
    )
    daily = build_daily_sales(in_ranges(in_dates_written, "sale_date"))
    write_by_date("daily_sales", daily, ranged=True)
    months = None if dates is None else sorted({day.replace(day=1) for day in dates})
    month = sale_month()
    # By sale_date ranges, not by month: Delta then reads only the files of those months
    # (the whole fact before: 2.9M lines read twice in the 3M bench's daily increment).
    in_months = (
        stored_fact if months is None else stored_fact.filter(in_date_ranges(month_ranges(months)))
    )
    monthly = build_product_performance(in_ranges(in_months, month))
    if months is None:
        lake.overwrite(
            monthly,
            "gold",
            "product_performance",
            cluster_by=CLUSTER_BY["product_performance"],
            ranged=True,
        )
    else:
        lake.replace_where(
            monthly,
            "gold",
            "product_performance",
            in_dates("month", months),
            cluster_by=CLUSTER_BY["product_performance"],
            ranged=True,
        )
    written["product_performance"] = lake.rows_written("gold", "product_performance")
    return written


def _attributed_ids(fact: DataFrame) -> set[str]:
    rows = fact.select("promotion_id").filter(F.col("promotion_id").isNotNull()).distinct()
    return {row[0] for row in rows.collect()}


def refresh_gold(lake: Lake, *, full_refresh: bool, progress: Progress) -> dict[str, int]:
    """Bring the gold marts up to date with silver; returns rows written per mart."""
    if not all(lake.exists("silver", dataset) for dataset in DATASETS):
        missing = [d for d in DATASETS if not lake.exists("silver", d)]
        progress(f"gold: skipped, silver tables missing: {', '.join(missing)}")
        return {}
    until = {dataset: lake.version("silver", dataset) for dataset in DATASETS}
    marks = {dataset: lake.watermarks.get(CONSUMER, f"silver/{dataset}") for dataset in DATASETS}
    rebuild = (
        full_refresh
        or any(m is None for m in marks.values())
        or not all(lake.exists("gold", mart) for mart in MARTS)
    )
    if not rebuild and not any(
        delta_log.data_changed(lake.spark, lake.path("silver", d), int(marks[d] or 0), until[d])
        for d in DATASETS
    ):
        # No silver commit since the last run changed rows (none, or maintenance's
        # OPTIMIZE only): decided from the Delta logs, before any table is read, so a run
        # with nothing new stays cheap after maintenance too.
        progress("gold: no silver changes since the last run")
        return {}
    # Returned lines stay in silver (flagged); the marts count sold lines only.
    sales = sold_lines(lake.read("silver", "sales", version=until["sales"]))
    products = lake.read("silver", "products", version=until["products"])
    promotions = lake.read("silver", "promotions", version=until["promotions"])
    if rebuild:
        progress("gold: full rebuild from silver")
        written = _write_marts(lake, build_fact_sales(sales, products, promotions), None)
        _write_promotion_performance(lake, lake.read("gold", "fact_sales"), promotions, None)
    else:
        since = {dataset: int(marks[dataset] or 0) for dataset in DATASETS}
        dates = touched_dates(lake, since, until)
        changed = changed_promotions(lake, since["promotions"], until["promotions"])
        if not dates and not changed:
            progress("gold: no silver changes since the last run")
            return {}
        written, attributed = {}, set()
        if dates:
            progress(f"gold: rebuilding {len(dates)} sale dates ({dates[0]} .. {dates[-1]})")
            # Promotions attributed on those dates before the rebuild; after it, below.
            fact_before = lake.read("gold", "fact_sales").filter(F.col("sale_date").isin(dates))
            attributed = _attributed_ids(fact_before)
            in_dates_sales = sales.filter(F.col("sale_date").isin(dates))
            written = _write_marts(
                lake, build_fact_sales(in_dates_sales, products, promotions), dates
            )
            fact_after = lake.read("gold", "fact_sales").filter(F.col("sale_date").isin(dates))
            attributed |= _attributed_ids(fact_after)
        windows = promotions.select("promotion_id", "start_date", "end_date").collect()
        refresh = promotions_to_refresh(
            [(row[0], row[1], row[2]) for row in windows],
            attributed,
            changed,
            dates,
            lake.settings.baseline_days,
        )
        progress(f"gold: promotion_performance for {len(refresh)} promotions")
        if refresh:
            stored_fact = lake.read("gold", "fact_sales")
            _write_promotion_performance(lake, stored_fact, promotions, refresh)
    written["promotion_performance"] = (
        lake.rows_written("gold", "promotion_performance") if rebuild or refresh else 0
    )
    lake.watermarks.record(CONSUMER, {f"silver/{d}": until[d] for d in DATASETS})
    progress("gold: " + ", ".join(f"{name} {rows} rows" for name, rows in written.items()))
    return written
