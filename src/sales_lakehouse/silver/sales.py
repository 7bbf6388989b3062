"""Silver sales: one typed, validated row per order line, with its amounts."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.columns import gross_amount, net_amount
from sales_lakehouse.contracts import Contract
from sales_lakehouse.silver.common import silver_columns


def with_amounts(df: DataFrame) -> DataFrame:
    """Add sale_date (UTC day of order_ts), gross_amount and net_amount."""
    gross = gross_amount(F.col("quantity"), F.col("unit_price"))
    return (
        df.withColumn("sale_date", F.to_date("order_ts"))
        .withColumn("gross_amount", gross)
        .withColumn("net_amount", net_amount(gross, F.col("discount_amount")))
    )


def to_silver_sales(latest: DataFrame, contract: Contract) -> DataFrame:
    """The silver sales contract: validated contract columns, amounts, lineage."""
    columns = silver_columns(contract)
    return latest.transform(with_amounts).select(
        *columns[: len(contract.column_names)],
        "sale_date",
        "gross_amount",
        "net_amount",
        *columns[len(contract.column_names) :],
    )
