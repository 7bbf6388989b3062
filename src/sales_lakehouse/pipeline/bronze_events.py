"""Bronze stage for sale events: what landed under ``<landing>/sales_events/``, exactly once.

The Lambda consumer (``sales_lakehouse.ingest``) and Kinesis Data Firehose write events
into the landing zone; this stage reads them with Spark Structured Streaming and
``Trigger.AvailableNow``, so each landed file is taken once across runs, also after a
run that crashed halfway (the checkpoint under the lake says which files are done).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.bronze.csv import SOURCE_FILE, bronze_schema
from sales_lakehouse.bronze.events import events_to_bronze, split_json_records
from sales_lakehouse.contracts import load_contract
from sales_lakehouse.lake import Lake
from sales_lakehouse.lake.landing import list_files, stream_text_files
from sales_lakehouse.pipeline.summary import Progress, StageStats

EVENTS = "sales_events"


def events_stream(lake: Lake, *, max_files_per_trigger: int | None = None) -> DataFrame:
    """The streaming bronze rows of the landed event files not ingested yet."""
    settings = lake.settings
    lines = stream_text_files(
        lake.spark,
        settings.landing_path(EVENTS),
        max_files_per_trigger=max_files_per_trigger,
    )
    return events_to_bronze(
        split_json_records(lines),
        load_contract(EVENTS),
        run_id=settings.run_id,
        ingested_at=settings.started_at.replace(tzinfo=None),
    )


def ingest_events_bronze(
    lake: Lake, progress: Progress, *, max_files_per_trigger: int | None = None
) -> StageStats | None:
    """Append the new landed events to ``bronze.sales_events``; None when none ever landed."""
    stats = StageStats("bronze", EVENTS)
    if not list_files(lake.spark, lake.settings.landing_path(EVENTS), suffix=""):
        return None
    lake.ensure("bronze", EVENTS, bronze_schema(load_contract(EVENTS)), change_feed=True)
    stream = events_stream(lake, max_files_per_trigger=max_files_per_trigger)
    stats.rows_in = lake.append_stream(stream, "bronze", EVENTS)
    stats.files = (
        lake.read("bronze", EVENTS)
        .filter(F.col("_run_id") == lake.settings.run_id)
        .select(SOURCE_FILE)
        .distinct()
        .count()
    )
    progress(f"bronze {EVENTS}: {stats.rows_in} events from {stats.files} new files")
    return stats
