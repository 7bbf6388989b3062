"""gold.product_performance and gold.promotion_performance.

Formulas (also in the README):
- product_performance, per month, product and currency: revenue = sum(net_amount),
  units, margin = sum(margin_amount); rank_in_category = rank by revenue within
  (month, category, currency), category = the product's category at its last sale of
  the month.
- promotion_performance, per promotion, over lines in the reporting currency (the one
  promo_cost is in): attributed lines carry the promotion's id; the scope (product,
  category or all, and the promotion's channel if set) gives the comparison:
  baseline_daily_net = scope net revenue in the ``baseline_days`` before start / baseline_days;
  promo_daily_net = scope net revenue from start to end / promotion_days;
  uplift_pct = (promo_daily_net - baseline_daily_net) / baseline_daily_net x 100;
  incremental_margin = scope margin during - baseline margin per day x promotion_days;
  roi = (incremental_margin - promo_cost) / promo_cost.
"""

from __future__ import annotations

import functools
import operator

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sales_lakehouse.columns import AMOUNT_TYPE


def _amount(value: Column) -> Column:
    return F.round(value, 2).cast(AMOUNT_TYPE)


def sale_month() -> Column:
    """product_performance's ``month``: the first day of the sale date's month."""
    return F.trunc("sale_date", "month")


def build_product_performance(fact: DataFrame) -> DataFrame:
    """Monthly revenue, units and margin per product, ranked within its category."""
    monthly = (
        fact.withColumn("month", sale_month())
        .groupBy("month", "product_id", "currency")
        .agg(
            F.max_by("category", "order_ts").alias("category"),
            F.max_by("brand", "order_ts").alias("brand"),
            F.sum("quantity").cast("long").alias("units"),
            F.sum("net_amount").cast(AMOUNT_TYPE).alias("revenue"),
            F.sum("margin_amount").cast(AMOUNT_TYPE).alias("margin_amount"),
            F.countDistinct("order_id").alias("order_count"),
        )
    )
    ranking = Window.partitionBy("month", "category", "currency").orderBy(
        F.col("revenue").desc(), F.col("product_id")
    )
    return monthly.select(
        "month",
        "product_id",
        "currency",
        "category",
        "brand",
        "units",
        "revenue",
        "margin_amount",
        "order_count",
        F.rank().over(ranking).alias("rank_in_category"),
    )


# A promotion's scope and the columns its sale lines must match (with its channel, if set).
SCOPE_KEYS: dict[str, tuple[str, ...]] = {"product": ("product_id",), "category": ("category",)}


def _scope_sums(daily: DataFrame, promotions: DataFrame, baseline_days: int) -> DataFrame:
    """Per promotion: net and margin of the lines in its scope during its days and in its
    baseline days.

    ``daily``: net and margin per sale date, product, category and channel. Each scope is
    joined on its own key (product, category, none), after summing ``daily`` to that key:
    a join on the key and the date range, instead of every daily row against every
    promotion. The three sums share ``daily``'s shuffle (Spark reuses the exchange).
    """
    scope = F.col("scope")
    parts = []
    for name, keys in (*SCOPE_KEYS.items(), ("all", ())):
        # A scope other than product or category counts as "all", as silver defines it.
        chosen = scope.isNull() | ~scope.isin(*SCOPE_KEYS) if name == "all" else scope == name
        pr = promotions.filter(chosen).select(
            F.col("promotion_id"),
            F.col("start_date"),
            F.col("end_date"),
            F.col("channel").alias("promotion_channel"),
            *(F.col(key).alias(f"promotion_{key}") for key in keys),
        )
        summed = (
            daily
            if keys == ("product_id",)
            else daily.groupBy("sale_date", "channel", *keys).agg(
                F.sum("net").alias("net"), F.sum("margin").alias("margin")
            )
        )
        matches = [F.col(key) == F.col(f"promotion_{key}") for key in keys]
        window = F.col("sale_date").between(
            F.date_sub(F.col("start_date"), baseline_days), F.col("end_date")
        )
        channel = F.col("promotion_channel").isNull() | (
            F.col("channel") == F.col("promotion_channel")
        )
        condition = functools.reduce(operator.and_, [*matches, window, channel])
        during = F.col("sale_date") >= F.col("start_date")
        parts.append(
            summed.join(F.broadcast(pr), condition, how="inner").select(
                "promotion_id",
                F.when(during, F.col("net")).alias("scope_net"),
                F.when(~during, F.col("net")).alias("baseline_net"),
                F.when(during, F.col("margin")).alias("scope_margin"),
                F.when(~during, F.col("margin")).alias("baseline_margin"),
            )
        )
    union = functools.reduce(DataFrame.unionByName, parts)
    return union.groupBy("promotion_id").agg(
        *(
            F.sum(c).alias(c)
            for c in ("scope_net", "baseline_net", "scope_margin", "baseline_margin")
        )
    )


def build_promotion_performance(
    fact: DataFrame, promotions: DataFrame, *, currency: str, baseline_days: int
) -> DataFrame:
    """One row per promotion: attributed sales, baseline, uplift and ROI (see module doc)."""
    lines = fact.filter(F.col("currency") == currency)
    attributed = (
        lines.filter(F.col("promotion_id").isNotNull())
        .groupBy("promotion_id")
        .agg(
            F.count(F.lit(1)).alias("attributed_lines"),
            F.sum("quantity").cast("long").alias("units"),
            F.sum("net_amount").alias("net_amount"),
            F.sum("discount_amount").alias("discount_amount"),
            F.sum("margin_amount").alias("margin_amount"),
        )
    )
    daily = lines.groupBy("sale_date", "product_id", "category", "channel").agg(
        F.sum("net_amount").alias("net"), F.sum("margin_amount").alias("margin")
    )
    scoped = _scope_sums(daily, promotions, baseline_days)
    joined = promotions.join(attributed, "promotion_id", how="left").join(
        scoped, "promotion_id", how="left"
    )
    zero = F.lit(0).cast(AMOUNT_TYPE)
    days = F.col("promotion_days")
    baseline_daily = F.coalesce(F.col("baseline_net"), zero) / F.lit(baseline_days)
    promo_daily = F.coalesce(F.col("scope_net"), zero) / days
    incremental = F.coalesce(F.col("scope_margin"), zero) - (
        F.coalesce(F.col("baseline_margin"), zero) * days / F.lit(baseline_days)
    )
    return joined.select(
        "promotion_id",
        "promotion_name",
        "promotion_type",
        "scope",
        "product_id",
        "category",
        "channel",
        "start_date",
        "end_date",
        "promotion_days",
        F.lit(currency).alias("currency"),
        F.coalesce(F.col("attributed_lines"), F.lit(0)).cast("long").alias("attributed_lines"),
        F.coalesce(F.col("units"), F.lit(0)).cast("long").alias("units"),
        _amount(F.coalesce(F.col("net_amount"), zero)).alias("net_amount"),
        _amount(F.coalesce(F.col("discount_amount"), zero)).alias("discount_given"),
        _amount(F.coalesce(F.col("margin_amount"), zero)).alias("attributed_margin"),
        _amount(baseline_daily).alias("baseline_daily_net"),
        _amount(promo_daily).alias("promo_daily_net"),
        F.when(
            baseline_daily > 0, F.round((promo_daily - baseline_daily) / baseline_daily * 100, 2)
        )
        .cast("decimal(18,2)")
        .alias("uplift_pct"),
        _amount(incremental).alias("incremental_margin"),
        "promo_cost",
        F.when(
            F.col("promo_cost") > 0,
            F.round((incremental - F.col("promo_cost")) / F.col("promo_cost"), 4),
        )
        .cast("decimal(18,4)")
        .alias("roi"),
    )
