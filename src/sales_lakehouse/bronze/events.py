"""Landed sale-event text -> bronze rows: one row per JSON event, as landed, plus lineage.

The landing zone holds events as newline-delimited JSON (the Lambda consumer), and may
hold Kinesis Data Firehose output, where records are concatenated without a separator
(``{...}{...}``), possibly gzip-compressed. Both arrive here as text lines. Bronze keeps
every event with the contract's fields as the strings that were landed (a JSON number
``3`` becomes ``"3"``; typing is silver's job), unknown fields in ``_extra``, and a line
that is not a JSON object flagged with its raw text, never dropped.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.bronze.csv import SOURCE_FILE
from sales_lakehouse.contracts import Contract

RECORD = "_record"
# Between two concatenated objects: a closing brace, optional whitespace, an opening one.
# Events are flat objects, so ``}{`` only occurs at a record boundary; a record split
# wrongly inside a string value becomes two malformed rows, kept with their raw text.
_BOUNDARY = r"(?<=\})\s*(?=\{)"


def split_json_records(lines: DataFrame) -> DataFrame:
    """One row per JSON record (``_record``) from text lines (``value``) and their file.

    A line may hold one record (NDJSON) or several written back to back (Firehose).
    Blank lines hold no record and are skipped; everything else is kept.
    """
    records = F.explode(F.split(F.col("value"), _BOUNDARY)).alias(RECORD)
    exploded = lines.select(records, F.col(SOURCE_FILE))
    return exploded.select(F.trim(F.col(RECORD)).alias(RECORD), SOURCE_FILE).filter(
        F.col(RECORD) != ""
    )


def events_to_bronze(
    records: DataFrame, contract: Contract, *, run_id: str, ingested_at: datetime
) -> DataFrame:
    """Bronze rows for JSON records: contract fields as strings, extras, flag, lineage."""
    names = contract.column_names
    as_map = F.from_json(F.col(RECORD), "map<string,string>")
    parsed = records.withColumn("__fields", as_map)
    # from_json gives null for text that is not a JSON object ("[1]", "{bad", "42").
    malformed = F.col("__fields").isNull()
    extra = F.map_filter(F.col("__fields"), lambda key, _value: ~key.isin(names))
    return parsed.select(
        *[F.col("__fields").getItem(name).alias(name) for name in names],
        F.when(F.size(extra) > 0, extra).alias("_extra"),
        malformed.alias("_is_malformed"),
        F.when(malformed, F.col(RECORD)).alias("_raw_line"),
        F.col(SOURCE_FILE),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
        F.lit(run_id).alias("_run_id"),
    )
