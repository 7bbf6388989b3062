"""Silver promotions: the latest version of each promotion, with its scope made explicit."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.contracts import Contract
from sales_lakehouse.silver.common import silver_columns


def promotion_scope(product_id: Column, category: Column) -> Column:
    """'product' when a product is targeted, else 'category' when one is, else 'all'."""
    return (
        F.when(product_id.isNotNull(), F.lit("product"))
        .when(category.isNotNull(), F.lit("category"))
        .otherwise(F.lit("all"))
    )


def to_silver_promotions(latest: DataFrame, contract: Contract) -> DataFrame:
    """The silver promotions contract: contract columns, scope, promotion days, lineage."""
    columns = silver_columns(contract)
    return latest.select(
        *columns[: len(contract.column_names)],
        promotion_scope(F.col("product_id"), F.col("category")).alias("scope"),
        (F.datediff("end_date", "start_date") + 1).alias("promotion_days"),
        *columns[len(contract.column_names) :],
    )
