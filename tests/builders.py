"""Small row builders for tests: bronze rows from a few fields, everything else defaulted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from sales_lakehouse.bronze.csv import bronze_schema
from sales_lakehouse.contracts import load_contract

INGESTED = datetime(2025, 2, 1, 8, 0, 0)

VALID_SALE = {
    "order_id": "O1",
    "line_number": "1",
    "order_ts": "2025-01-05T10:00:00Z",
    "store_id": "S001",
    "customer_id": "C1",
    "product_id": "P001",
    "quantity": "2",
    "unit_price": "10.50",
    "discount_amount": "1.00",
    "promotion_id": None,
    "channel": "store",
    "currency": "USD",
}


def bronze(spark: SparkSession, dataset: str, rows: list[dict[str, Any]]) -> DataFrame:
    """Bronze rows for ``dataset``; lineage defaults to one file ingested at INGESTED."""
    schema = bronze_schema(load_contract(dataset))
    defaults: dict[str, Any] = {
        "_extra": None,
        "_is_malformed": False,
        "_raw_line": None,
        "_source_file": "file:/landing/a.csv",
        "_ingested_at": INGESTED,
        "_run_id": "r1",
    }
    records = [{**defaults, **row} for row in rows]
    return spark.createDataFrame(
        [tuple(record.get(field.name) for field in schema.fields) for record in records], schema
    )


def sale(**changes: Any) -> dict[str, Any]:
    """A valid landed sale line with some fields changed."""
    return {**VALID_SALE, **changes}
