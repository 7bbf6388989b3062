"""Extracted database rows -> bronze: every landed row, its change columns, and lineage.

The extract lands typed Parquet (``pipeline/extract.py``). Bronze keeps the contract's
columns in the text form every bronze table has (typing and validation are silver's job,
the same for every source): a decimal as its digits (``10.50``), a time as
``yyyy-MM-dd HH:mm:ss[.ffffff]`` in UTC, a flag as ``true``/``false``. Columns the
contract does not name (added to the database later) go to ``_extra``; the change columns
``_op`` and ``_extracted_at`` are kept as they are.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sales_lakehouse.bronze.csv import LINEAGE_FIELDS, SOURCE_FILE
from sales_lakehouse.contracts import Contract

OP, EXTRACTED_AT = "_op", "_extracted_at"
CHANGE_FIELDS: tuple[T.StructField, ...] = (
    T.StructField(OP, T.StringType(), True),
    T.StructField(EXTRACTED_AT, T.TimestampType(), True),
)


def oltp_bronze_schema(contract: Contract) -> T.StructType:
    """Contract columns as strings, the change columns, then the lineage every bronze has."""
    fields = [T.StructField(name, T.StringType(), True) for name in contract.column_names]
    return T.StructType([*fields, *CHANGE_FIELDS, *LINEAGE_FIELDS])


def extract_to_bronze(
    landed: DataFrame, contract: Contract, *, run_id: str, ingested_at: datetime
) -> DataFrame:
    """Shape rows of one extract's Parquet files (with ``_source_file``) into bronze."""
    own = {OP, EXTRACTED_AT, SOURCE_FILE}
    present = {name.lower(): name for name in landed.columns}
    extras = [
        name for name in landed.columns if name not in own and name not in contract.column_names
    ]
    columns = [
        (F.col(f"`{present[name]}`").cast("string") if name in present else F.lit(None))
        .cast("string")
        .alias(name)
        for name in contract.column_names
    ]
    extra = (
        F.create_map(*[x for n in extras for x in (F.lit(n), F.col(f"`{n}`").cast("string"))])
        if extras
        else F.lit(None).cast("map<string,string>")
    )
    return landed.select(
        *columns,
        F.col(OP).cast("string").alias(OP),
        F.col(EXTRACTED_AT).cast("timestamp").alias(EXTRACTED_AT),
        extra.alias("_extra"),
        F.lit(False).alias("_is_malformed"),
        F.lit(None).cast("string").alias("_raw_line"),
        F.col(SOURCE_FILE),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
        F.lit(run_id).alias("_run_id"),
    )
