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

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sales_lakehouse.columns import AMOUNT_TYPE


def _amount(value: Column) -> Column:
    return F.round(value, 2).cast(AMOUNT_TYPE)


def build_product_performance(fact: DataFrame) -> DataFrame:
    """Monthly revenue, units and margin per product, ranked within its category."""
    monthly = (
        fact.withColumn("month", F.trunc("sale_date", "month"))
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


def _in_scope(promo: str, day: str) -> Column:
    """A daily scope row belongs to a promotion's scope (product, category or all, channel)."""
    p, d = F.col(f"{promo}.scope"), day
    target = (
        F.when(p == "product", F.col(f"{d}.product_id") == F.col(f"{promo}.product_id"))
        .when(p == "category", F.col(f"{d}.category") == F.col(f"{promo}.category"))
        .otherwise(F.lit(True))
    )
    channel = F.col(f"{promo}.channel").isNull() | (
        F.col(f"{d}.channel") == F.col(f"{promo}.channel")
    )
    return target & channel


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
    pr, d = promotions.alias("pr"), daily.alias("d")
    window = F.col("d.sale_date").between(
        F.date_sub(F.col("pr.start_date"), baseline_days), F.col("pr.end_date")
    )
    during = F.col("d.sale_date") >= F.col("pr.start_date")
    scoped = (
        d.join(F.broadcast(pr), window & _in_scope("pr", "d"), how="inner")
        .groupBy(F.col("pr.promotion_id").alias("promotion_id"))
        .agg(
            F.sum(F.when(during, F.col("d.net"))).alias("scope_net"),
            F.sum(F.when(~during, F.col("d.net"))).alias("baseline_net"),
            F.sum(F.when(during, F.col("d.margin"))).alias("scope_margin"),
            F.sum(F.when(~during, F.col("d.margin"))).alias("baseline_margin"),
        )
    )
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
