"""Order-database rows -> sale lines: each line of a changed order, with its order's header.

The database keeps an order's header (store, customer, time, channel, currency, status) in
``orders`` and its lines in ``order_lines``; either can change alone. A line's state is its
latest version joined with its order's latest version, so when either changes, every line
of that order is stated again: a cancelled order restates all its lines as cancelled, a
corrected line restates that line. Lines whose order has not been extracted yet (a line
committed between the extract's reads of the two tables) are not stated: they come with
their order's next extract, which states every line of the order from bronze.

The rows are in bronze's text form, as the ``oltp_sales`` contract names them, so silver
types and validates them like any other source.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sales_lakehouse.bronze.csv import SOURCE_FILE
from sales_lakehouse.bronze.oltp import EXTRACTED_AT
from sales_lakehouse.contracts import Contract

ORDERS, LINES = "oltp_orders", "oltp_order_lines"
ORDER_KEY = ("order_id",)
LINE_KEY = ("order_id", "line_number")
# Header columns a line takes from its order.
HEADER = ("order_ts", "store_id", "customer_id", "channel", "currency", "status")


def _newest_first() -> list[Column]:
    return [
        F.col("updated_at").cast("timestamp").desc_nulls_last(),
        F.col(EXTRACTED_AT).desc_nulls_last(),
        F.col("_ingested_at").desc(),
        F.col(SOURCE_FILE).desc(),
    ]


def latest_versions(rows: DataFrame, keys: tuple[str, ...]) -> DataFrame:
    """The newest landed version of each key: by ``updated_at``, then extract, then ingest."""
    window = Window.partitionBy(*keys).orderBy(*_newest_first())
    return (
        rows.withColumn("__rank", F.row_number().over(window))
        .filter(F.col("__rank") == 1)
        .drop("__rank")
    )


def order_line_states(
    new: Mapping[str, DataFrame], stored: Mapping[str, DataFrame], contract: Contract
) -> DataFrame:
    """The current state of every line of the orders touched by ``new`` bronze rows.

    ``new``: the bronze rows of the batch per table; ``stored``: every bronze row per table
    up to the batch. Returns ``contract``'s columns (``oltp_sales``, as text): a header
    column from the order, ``updated_at`` the later of the two, the rest from the line;
    then bronze's lineage.
    """
    touched = new[ORDERS].select(*ORDER_KEY).union(new[LINES].select(*ORDER_KEY)).distinct()
    orders = latest_versions(stored[ORDERS].join(touched, list(ORDER_KEY), "left_semi"), ORDER_KEY)
    lines = latest_versions(stored[LINES].join(touched, list(ORDER_KEY), "left_semi"), LINE_KEY)
    order = orders.select(
        *ORDER_KEY,
        *[F.col(name).alias(f"__o_{name}") for name in HEADER],
        F.col("updated_at").alias("__o_updated_at"),
        F.col("_ingested_at").alias("__o_ingested_at"),
    )
    joined = lines.join(order, list(ORDER_KEY), "inner")
    changed = F.greatest(
        F.col("updated_at").cast("timestamp"), F.col("__o_updated_at").cast("timestamp")
    )
    columns = [
        changed.cast("string").alias(name)
        if name == "updated_at"
        else F.col(f"__o_{name}" if name in HEADER else name).alias(name)
        for name in contract.column_names
    ]
    return joined.select(
        *columns,
        "_extra",
        "_is_malformed",
        "_raw_line",
        SOURCE_FILE,
        F.greatest("_ingested_at", "__o_ingested_at").alias("_ingested_at"),
        "_run_id",
    )
