"""Raw landing rows -> bronze: every landed row, as landed, plus lineage.

Bronze keeps the contract columns as the strings that were landed (typing happens in
silver), the file's extra columns in one map column (so files with more columns never
change the bronze schema), malformed lines with their raw text and a flag, and where each
row came from: source file, ingest time and run id.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sales_lakehouse.contracts import Contract

CORRUPT_COLUMN = "_corrupt_record"
SOURCE_FILE = "_source_file"
LINEAGE_FIELDS: tuple[T.StructField, ...] = (
    T.StructField("_extra", T.MapType(T.StringType(), T.StringType()), True),
    T.StructField("_is_malformed", T.BooleanType(), False),
    T.StructField("_raw_line", T.StringType(), True),
    T.StructField(SOURCE_FILE, T.StringType(), False),
    T.StructField("_ingested_at", T.TimestampType(), False),
    T.StructField("_run_id", T.StringType(), False),
)


def bronze_schema(contract: Contract) -> T.StructType:
    """Bronze table schema: contract columns as strings, then lineage columns."""
    fields = [T.StructField(name, T.StringType(), True) for name in contract.column_names]
    return T.StructType([*fields, *LINEAGE_FIELDS])


def normalize_header(header: list[str]) -> list[str]:
    """Header names as matched against the contract: trimmed, lower case, BOM removed."""
    return [name.strip().lstrip("\ufeff").strip().lower() for name in header]


def header_problem(header: list[str], contract: Contract) -> str | None:
    """Why a landing file's header cannot be ingested, or None when it can."""
    names = normalize_header(header)
    if not names or all(not name for name in names):
        return "the file has no header row"
    empty = [str(i + 1) for i, name in enumerate(names) if not name]
    if empty:
        return f"header has empty column names at positions {', '.join(empty)}"
    duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicated:
        return f"header repeats columns: {', '.join(duplicated)}"
    missing = [name for name in contract.required_columns if name not in names]
    if missing:
        return f"header lacks required columns: {', '.join(missing)}"
    return None


def _landed(name: str) -> Column:
    return F.col(f"`{name}`")


def to_bronze(
    raw: DataFrame, contract: Contract, *, run_id: str, ingested_at: datetime
) -> DataFrame:
    """Shape rows read from landing files (one header) into the bronze schema.

    ``raw`` has the file's normalized header columns as strings, the CSV reader's
    corrupt-record column and ``_source_file``.
    """
    landed = [name for name in raw.columns if name not in (CORRUPT_COLUMN, SOURCE_FILE)]
    extras = [name for name in landed if name not in contract.column_names]
    contract_columns = [
        (_landed(name) if name in landed else F.lit(None).cast("string")).alias(name)
        for name in contract.column_names
    ]
    extra = (
        F.create_map(*[item for name in extras for item in (F.lit(name), _landed(name))])
        if extras
        else F.lit(None).cast("map<string,string>")
    )
    return raw.select(
        *contract_columns,
        extra.alias("_extra"),
        F.col(CORRUPT_COLUMN).isNotNull().alias("_is_malformed"),
        F.col(CORRUPT_COLUMN).alias("_raw_line"),
        F.col(SOURCE_FILE),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
        F.lit(run_id).alias("_run_id"),
    )
