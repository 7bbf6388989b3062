"""gold.demand_features: units and model features per store, product and day.

The grid is every store (from its first sale day) x every product of ``silver.products``
(from its first version, at the earliest the lake's first sale day) x every day through
the last sale day plus ``horizon`` days. A day without sales holds 0 units; the days after
the last sale day hold null units: they are what the model forecasts, with the features
known today.

No leakage: a feature of day D is computed from sales before D (every window ends at D-1)
or from what is planned for D and known before it: the calendar, the product version valid
at the start of D (price, category) and the promotion calendar. The windows reach back 28
days at most, so the rows of a day depend on the sales of that day and the 28 before it:
an increment rebuilds the days it touched and the 28 after them (pipeline/forecast.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.forecast.feature_columns import (
    before,
    day_number,
    day_of_week,
    days_ago,
    mean_of_present,
    ratio,
    scope_of_rank,
    scope_rank,
)
from sales_lakehouse.gold.fact_sales import product_version_matches

# The longest look-back of any feature (lag 28, 28-day means).
HISTORY_DAYS = 28
HORIZON_DAYS = 28
PAIR = ["store_id", "product_id"]
KEYS = ["sale_date", *PAIR]


@dataclass(frozen=True)
class DemandSpan:
    """The days of the grid: ``first`` .. ``last`` (units known) .. ``last + horizon``."""

    first: date
    last: date
    horizon: int = HORIZON_DAYS

    @property
    def end(self) -> date:
        """The last day of the grid: the forecast's last day."""
        return self.last + timedelta(days=self.horizon)


def build_demand_features(
    fact: DataFrame,
    products: DataFrame,
    promotions: DataFrame,
    span: DemandSpan,
    days: Sequence[date] | None = None,
) -> DataFrame:
    """The mart's rows for ``days`` (default: every day of ``span``), from gold.fact_sales,
    silver.products (SCD2) and silver.promotions.

    Of ``fact`` only the sales of ``days`` and the ``HISTORY_DAYS`` before them are read
    (and each store's first sale day), so an increment costs what it touches; its rows equal
    those of a full build.
    """
    out_first = span.first if not days else max(span.first, min(days))
    out_last = span.end if not days else min(span.end, max(days))
    lower = max(span.first, out_first - timedelta(days=HISTORY_DAYS))
    product_days = build_product_days(products, promotions, lower, out_last)
    stores = fact.groupBy("store_id").agg(F.min("sale_date").alias("opened"))
    grid = (
        F.broadcast(stores)
        .crossJoin(product_days)
        .filter(F.col("sale_date") >= F.col("opened"))
        .drop("opened")
    )
    units = (
        fact.filter(F.col("product_known"))
        .filter(F.col("sale_date").between(F.lit(lower), F.lit(min(out_last, span.last))))
        .groupBy(*KEYS)
        .agg(F.sum("quantity").cast("long").alias("sold"))
    )
    known = F.col("sale_date") <= F.lit(span.last)
    rows = grid.join(units, KEYS, how="left").withColumn(
        "units", F.when(known, F.coalesce(F.col("sold"), F.lit(0).cast("long")))
    )
    rows = (
        rows.transform(with_sales_history)
        .transform(with_group_mean, key="store_id", name="store_mean_28")
        .transform(with_group_mean, key="category", name="category_mean_28")
    )
    keep = F.col("sale_date").between(F.lit(out_first), F.lit(out_last))
    if days:
        keep = keep & F.col("sale_date").isin(list(days))
    return rows.filter(keep).select(*_contract())


def build_product_days(
    products: DataFrame, promotions: DataFrame, first: date, last: date
) -> DataFrame:
    """Per product and day (from its first version): the version valid at the start of the
    day (category, list price), the usual price (mean list price of the 28 days before)
    and the promotions covering the product that day."""
    listed = products.groupBy("product_id").agg(F.min("valid_from").alias("listed_at"))
    start = F.greatest(F.to_date("listed_at"), F.lit(first))
    days = listed.filter(start <= F.lit(last)).select(
        "product_id", F.explode(F.sequence(start, F.lit(last))).alias("sale_date")
    )
    d, p = days.alias("d"), products.alias("p")
    valid = (F.col("d.product_id") == F.col("p.product_id")) & product_version_matches(
        F.col("d.sale_date").cast("timestamp"),
        F.col("p.valid_from"),
        F.col("p.valid_to"),
        F.col("p.version_number"),
    )
    priced = d.join(p, valid, how="inner").select(
        F.col("d.product_id").alias("product_id"),
        F.col("d.sale_date").alias("sale_date"),
        day_number(F.col("d.sale_date")).alias("day_number"),
        F.col("p.category").alias("category"),
        F.col("p.list_price").alias("list_price"),
    )
    usual = F.avg("list_price").over(before(["product_id"], HISTORY_DAYS))
    promoted = priced.join(
        promotions_by_product_day(priced, promotions), ["product_id", "sale_date"], how="left"
    ).join(targeted_promotions_by_day(promotions), "sale_date", how="left")
    discount = F.coalesce(F.col("promo_discount_pct"), F.lit(0).cast("decimal(5,2)"))
    promoted_days = F.sum(F.when(F.col("promo_count") > 0, 1).otherwise(0)).over(
        before(["product_id"], HISTORY_DAYS)
    )
    return promoted.select(
        "*",
        F.round(usual, 2).cast("decimal(12,2)").alias("usual_price"),
        F.coalesce(promoted_days, F.lit(0)).cast("int").alias("promo_days_28"),
    ).select(
        "product_id",
        "sale_date",
        "day_number",
        "category",
        "list_price",
        "usual_price",
        ratio(F.col("list_price"), F.col("usual_price")).alias("price_ratio"),
        F.coalesce(F.col("promo_count"), F.lit(0)).cast("int").alias("promo_count"),
        discount.alias("promo_discount_pct"),
        scope_of_rank(F.coalesce(F.col("promo_rank"), F.lit(0))).alias("promo_scope"),
        F.coalesce(F.col("targeted"), F.lit(0)).cast("int").alias("targeted_promotions"),
        "promo_days_28",
        ratio(F.col("list_price") * (F.lit(1) - discount / F.lit(100)), F.col("usual_price")).alias(
            "effective_price_ratio"
        ),
    )


def promotions_by_product_day(priced: DataFrame, promotions: DataFrame) -> DataFrame:
    """Per product and day with a promotion: how many cover it, the largest discount and the
    most specific scope. A promotion covers a product by its id, its category (the one valid
    that day) or storewide; its channel is not considered (the grid has no channel)."""
    x, pr = priced.alias("x"), promotions.alias("pr")
    scope = F.col("pr.scope")
    covers = F.col("x.sale_date").between(F.col("pr.start_date"), F.col("pr.end_date")) & (
        ((scope == "product") & (F.col("pr.product_id") == F.col("x.product_id")))
        | ((scope == "category") & (F.col("pr.category") == F.col("x.category")))
        | (scope == "all")
    )
    return (
        x.join(F.broadcast(pr), covers, how="inner")
        .groupBy(F.col("x.product_id").alias("product_id"), F.col("x.sale_date").alias("sale_date"))
        .agg(
            F.count(F.lit(1)).alias("promo_count"),
            F.max("pr.discount_pct").cast("decimal(5,2)").alias("promo_discount_pct"),
            F.max(scope_rank(scope)).alias("promo_rank"),
        )
    )


def targeted_promotions_by_day(promotions: DataFrame) -> DataFrame:
    """Per day: the product and category promotions running. They compete for the same
    shoppers, so one product's lift depends on how many others are promoted that day."""
    targeted = promotions.filter(F.col("scope").isin("product", "category"))
    return (
        targeted.select(F.explode(F.sequence("start_date", "end_date")).alias("sale_date"))
        .groupBy("sale_date")
        .agg(F.count(F.lit(1)).alias("targeted"))
    )


def with_sales_history(rows: DataFrame) -> DataFrame:
    """Lags, means over the days before and the sale frequency, per store and product."""
    lag = {k: F.sum("units").over(days_ago(PAIR, k)) for k in (1, 7, 14, 21, 28)}
    mean_7 = F.avg("units").over(before(PAIR, 7))
    mean_28 = F.avg("units").over(before(PAIR, HISTORY_DAYS))
    sold_days = F.count(F.when(F.col("units") > 0, F.lit(1))).over(before(PAIR, HISTORY_DAYS))
    # Demand without the product's own promotions: a promoted week inflates mean_7/mean_28.
    unpromoted = F.when(F.col("promo_count") == 0, F.col("units"))
    base_mean_28 = F.avg(unpromoted).over(before(PAIR, HISTORY_DAYS))
    return rows.select(
        "*",
        *(lag[k].cast("long").alias(f"lag_{k}") for k in (1, 7, 14, 28)),
        mean_of_present(lag[7], lag[14], lag[21], lag[28]).alias("same_weekday_mean_4w"),
        mean_7.alias("mean_7"),
        mean_28.alias("mean_28"),
        (mean_7 - mean_28).alias("trend_7_28"),
        base_mean_28.alias("base_mean_28"),
        sold_days.cast("int").alias("sale_days_28"),
    )


def with_group_mean(rows: DataFrame, key: str, name: str) -> DataFrame:
    """``name``: units per store-product-day within ``key`` (a store, a category) over the
    28 days before, pooled over every row of the group those days (a window over the
    group's rows: no aggregate to join back)."""
    window = before([key], HISTORY_DAYS)
    return rows.withColumn(name, ratio(F.sum("units").over(window), F.count("units").over(window)))


def _contract() -> list[Column]:
    """The output columns, in the order schemas/tables/gold.yaml declares them."""
    day = F.col("sale_date")
    return [
        day,
        F.col("store_id"),
        F.col("product_id"),
        F.col("category"),
        F.col("units"),
        day_of_week(day).alias("day_of_week"),
        F.weekofyear(day).alias("week_of_year"),
        F.month(day).alias("month"),
        *(F.col(f"lag_{k}") for k in (1, 7, 14, 28)),
        F.col("mean_7"),
        F.col("mean_28"),
        F.col("same_weekday_mean_4w"),
        F.col("trend_7_28"),
        F.col("base_mean_28"),
        F.col("sale_days_28"),
        F.col("store_mean_28"),
        F.col("category_mean_28"),
        F.col("list_price"),
        F.col("usual_price"),
        F.col("price_ratio"),
        (F.col("promo_count") > 0).alias("promo_active"),
        F.col("promo_count"),
        F.col("promo_discount_pct"),
        F.col("promo_scope"),
        F.col("targeted_promotions"),
        F.col("promo_days_28"),
        F.col("effective_price_ratio"),
    ]
