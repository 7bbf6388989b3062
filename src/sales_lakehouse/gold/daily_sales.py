"""gold.daily_sales: sales per day, store and product (and currency: never mixed)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.columns import AMOUNT_TYPE

DAILY_GRAIN = ("sale_date", "store_id", "product_id", "currency")


def _total(name: str) -> Column:
    return F.sum(name).cast(AMOUNT_TYPE).alias(name)


def build_daily_sales(fact: DataFrame) -> DataFrame:
    """Aggregate fact lines to the daily grain; cost and margin are null for unknown products."""
    return (
        fact.groupBy(*DAILY_GRAIN)
        .agg(
            F.sum("quantity").cast("long").alias("units"),
            _total("gross_amount"),
            _total("discount_amount"),
            _total("net_amount"),
            _total("cost_amount"),
            _total("margin_amount"),
            F.countDistinct("order_id").alias("order_count"),
            F.count(F.lit(1)).alias("line_count"),
        )
        .select(
            *DAILY_GRAIN,
            "units",
            "gross_amount",
            "discount_amount",
            "net_amount",
            "cost_amount",
            "margin_amount",
            "order_count",
            "line_count",
        )
    )
