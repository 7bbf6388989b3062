"""Silver products: the catalogue's history as SCD type 2 (valid_from / valid_to / is_current).

Each version of a product is valid from its ``updated_at`` until the next version's. The
history is recomputed per product from all known versions, so a version that arrives late
or out of order slots into place and the neighbouring versions' validity is corrected.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from sales_lakehouse.contracts import Contract
from sales_lakehouse.silver.common import latest_per_key, silver_columns

# Open-ended validity: the current version is valid until this instant.
END_OF_TIME = datetime(9999, 12, 31)


def build_product_versions(
    existing: DataFrame, incoming: DataFrame, contract: Contract
) -> DataFrame:
    """All versions of the products in ``incoming``, with SCD2 validity recomputed.

    ``existing`` holds silver's current versions of those products (silver columns plus
    SCD columns); ``incoming`` the batch's latest rows per (product_id, updated_at). When
    both hold the same key, the later ingest wins.
    """
    columns = silver_columns(contract)
    candidates = existing.select(*columns).unionByName(incoming.select(*columns))
    versions, _ = latest_per_key(candidates, list(contract.business_key))
    history = Window.partitionBy("product_id").orderBy("updated_at")
    next_change = F.lead("updated_at").over(history)
    return versions.select(
        *columns[: len(contract.column_names)],
        F.col("updated_at").alias("valid_from"),
        F.coalesce(next_change, F.lit(END_OF_TIME).cast("timestamp")).alias("valid_to"),
        next_change.isNull().alias("is_current"),
        F.row_number().over(history).alias("version_number"),
        *columns[len(contract.column_names) :],
    )
