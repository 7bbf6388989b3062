"""Silver sales: one typed, validated row per order line, with its amounts and status.

Lines come from batch files (bronze.sales) and from sale events (bronze.sales_events).
Both become the same silver row; which version of a line wins is decided by
``SALES_ORDER``: the change time first (an event's ``event_ts``; for a batch line the
time it was ingested, as an export states the line as of then), then the ingest, then the
file. Events of one line are therefore applied by ``event_ts``, whatever order they were
delivered in. ``line_status`` is ``sold``, or ``returned`` once a return event is the
latest version of the line (gold counts sold lines only; see docs/streaming.md).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.columns import gross_amount, net_amount, row_hash
from sales_lakehouse.contracts import Contract
from sales_lakehouse.silver.common import ROW_HASH, silver_columns

LINE_STATUS = "line_status"
SOLD, RETURNED = "sold", "returned"
# Lines of the order database: the order cancelled, or the line removed from its order.
CANCELLED, DELETED = "cancelled", "deleted"
CHANGED_AT, EVENT_ID = "_changed_at", "_event_id"
# Newest version of a sale line first: change time, then ingest, then file name.
SALES_ORDER: tuple[str, ...] = (CHANGED_AT, "_ingested_at", "_source_file")
# Silver columns sales has beyond the other datasets' lineage.
SALES_LINEAGE: tuple[str, ...] = (CHANGED_AT, EVENT_ID)


def with_amounts(df: DataFrame) -> DataFrame:
    """Add sale_date (UTC day of order_ts), gross_amount and net_amount."""
    gross = gross_amount(F.col("quantity"), F.col("unit_price"))
    return (
        df.withColumn("sale_date", F.to_date("order_ts"))
        .withColumn("gross_amount", gross)
        .withColumn("net_amount", net_amount(gross, F.col("discount_amount")))
    )


def _line_version(df: DataFrame, contract: Contract) -> DataFrame:
    """Fingerprint a line by its sales values and status: a batch line and a sale event
    with the same values are the same version, whatever else the event carries."""
    return df.withColumn(ROW_HASH, row_hash([*contract.column_names, LINE_STATUS]))


def batch_lines(validated: DataFrame, contract: Contract) -> DataFrame:
    """Validated rows of batch files as sale-line versions: sold, changed when ingested."""
    lines = (
        validated.withColumn(LINE_STATUS, F.lit(SOLD))
        .withColumn(CHANGED_AT, F.col("_ingested_at"))
        .withColumn(EVENT_ID, F.lit(None).cast("string"))
    )
    return _line_version(lines, contract)


def event_lines(validated: DataFrame, contract: Contract) -> DataFrame:
    """Validated sale events as sale-line versions (``contract``: the sales contract).

    ``sale`` and ``correction`` state the line as sold (a correction replaces the values
    sent before); ``return`` marks the line returned. The change time is ``event_ts``.
    """
    status = F.when(F.col("event_type") == F.lit("return"), F.lit(RETURNED)).otherwise(F.lit(SOLD))
    # Renamed, not copied: two names for one parsed value make Spark's constraint
    # propagation blow up on these wide validation plans (minutes to plan a count).
    lines = (
        validated.withColumn(LINE_STATUS, status)
        .withColumnRenamed("event_ts", CHANGED_AT)
        .withColumnRenamed("event_id", EVENT_ID)
    )
    return _line_version(lines, contract)


def oltp_lines(validated: DataFrame, contract: Contract) -> DataFrame:
    """Validated order-database line states as sale-line versions (``contract``: sales).

    A deleted line is ``deleted``, a line of a cancelled order ``cancelled``, any other
    ``sold``. The change time is the later ``updated_at`` of the line and its order.
    """
    status = (
        F.when(F.col("deleted"), F.lit(DELETED))
        .when(F.col("status") == F.lit("cancelled"), F.lit(CANCELLED))
        .otherwise(F.lit(SOLD))
    )
    lines = (
        validated.withColumn(LINE_STATUS, status)
        .withColumnRenamed("updated_at", CHANGED_AT)
        .withColumn(EVENT_ID, F.lit(None).cast("string"))
    )
    return _line_version(lines, contract)


def to_silver_sales(latest: DataFrame, contract: Contract) -> DataFrame:
    """The silver sales contract: validated contract columns, amounts, status, lineage.

    ``latest`` holds sale-line versions (:func:`batch_lines` or :func:`event_lines`).
    """
    columns = silver_columns(contract)
    return latest.transform(with_amounts).select(
        *columns[: len(contract.column_names)],
        "sale_date",
        "gross_amount",
        "net_amount",
        LINE_STATUS,
        *columns[len(contract.column_names) :],
        *SALES_LINEAGE,
    )


def sold_lines(sales: DataFrame) -> DataFrame:
    """The silver sale lines gold counts: every line not returned, cancelled or deleted."""
    return sales.filter(F.col(LINE_STATUS) == F.lit(SOLD))
