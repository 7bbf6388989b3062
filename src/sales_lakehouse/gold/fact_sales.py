"""gold.fact_sales: one row per accepted sale line, with the product version valid at sale time."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.columns import AMOUNT_TYPE

UNKNOWN = "Unknown"


def product_version_matches(
    sale_ts: Column, valid_from: Column, valid_to: Column, version: Column
) -> Column:
    """The version valid at ``sale_ts``; a sale before a product's first version gets the first."""
    return ((sale_ts >= valid_from) | (version == F.lit(1))) & (sale_ts < valid_to)


def build_fact_sales(sales: DataFrame, products: DataFrame, promotions: DataFrame) -> DataFrame:
    """Join sale lines to the product version and promotion they refer to.

    Unknown products and promotions are kept, linked to the "Unknown" member (flags
    ``product_known`` / ``promotion_known`` false); a rebuild after the dimension arrives
    links them properly (late-arriving dimension).
    """
    s, p = sales.alias("s"), products.alias("p")
    promo = promotions.select("promotion_id").distinct().alias("pr")
    product_join = (F.col("s.product_id") == F.col("p.product_id")) & product_version_matches(
        F.col("s.order_ts"), F.col("p.valid_from"), F.col("p.valid_to"), F.col("p.version_number")
    )
    joined = s.join(p, product_join, how="left").join(
        promo, F.col("s.promotion_id") == F.col("pr.promotion_id"), how="left"
    )
    known = F.col("p.product_id").isNotNull()
    cost = (F.col("s.quantity").cast("decimal(10,0)") * F.col("p.unit_cost")).cast(AMOUNT_TYPE)
    return joined.select(
        F.col("s.order_id").alias("order_id"),
        F.col("s.line_number").alias("line_number"),
        F.col("s.sale_date").alias("sale_date"),
        F.col("s.order_ts").alias("order_ts"),
        F.col("s.store_id").alias("store_id"),
        F.col("s.customer_id").alias("customer_id"),
        F.col("s.channel").alias("channel"),
        F.col("s.currency").alias("currency"),
        F.col("s.product_id").alias("product_id"),
        known.alias("product_known"),
        F.coalesce(F.col("p.category"), F.lit(UNKNOWN)).alias("category"),
        F.coalesce(F.col("p.subcategory"), F.lit(UNKNOWN)).alias("subcategory"),
        F.coalesce(F.col("p.brand"), F.lit(UNKNOWN)).alias("brand"),
        F.col("s.promotion_id").alias("promotion_id"),
        (F.col("s.promotion_id").isNull() | F.col("pr.promotion_id").isNotNull()).alias(
            "promotion_known"
        ),
        F.col("s.quantity").alias("quantity"),
        F.col("s.unit_price").alias("unit_price"),
        F.col("s.gross_amount").alias("gross_amount"),
        F.col("s.discount_amount").alias("discount_amount"),
        F.col("s.net_amount").alias("net_amount"),
        F.col("p.unit_cost").alias("unit_cost"),
        cost.alias("cost_amount"),
        (F.col("s.net_amount") - cost).cast(AMOUNT_TYPE).alias("margin_amount"),
    )
