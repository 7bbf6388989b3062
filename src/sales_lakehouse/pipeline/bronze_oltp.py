"""Bronze stage for the order database: each completed extract's files, exactly once.

The extract (``pipeline/extract.py``) lands ``<landing>/oltp/<table>/extract_id=<id>/``
folders; a folder is taken only once its ``_SUCCESS`` marker is there (an extract killed
mid-write never completes its folder, and its rows come again with the rerun). As for the
CSV files, ``bronze.oltp_<table>`` itself records which files it holds (``_source_file``),
so the ledger and the data commit together. AWS DMS or Airbyte Parquet output with the
same columns can be pointed at the same folders.
"""

from __future__ import annotations

from collections import defaultdict
from functools import reduce

from pyspark.sql import DataFrame

from sales_lakehouse.bronze.csv import SOURCE_FILE
from sales_lakehouse.bronze.oltp import extract_to_bronze, oltp_bronze_schema
from sales_lakehouse.contracts import load_contract
from sales_lakehouse.lake import Lake
from sales_lakehouse.lake.landing import completed, list_files, read_parquet_files
from sales_lakehouse.pipeline.extract import TABLES, table_folder
from sales_lakehouse.pipeline.summary import Progress, StageStats


def ingest_oltp_bronze(lake: Lake, progress: Progress) -> list[StageStats]:
    """Append the rows of completed extracts not ingested yet to ``bronze.oltp_<table>``;
    nothing (not even an empty table) for a table that was never extracted."""
    all_stats = []
    for table in TABLES.values():
        landed = list_files(lake.spark, table_folder(lake.settings, table.name), ".parquet")
        if not landed:
            continue
        stats = StageStats("bronze", table.dataset)
        contract = load_contract(table.dataset)
        lake.ensure("bronze", table.dataset, oltp_bronze_schema(contract), change_feed=True)
        done = lake.distinct_values("bronze", table.dataset, SOURCE_FILE)
        by_folder: dict[str, list[str]] = defaultdict(list)
        for item in landed:
            if item.source not in done:
                by_folder[item.path.rsplit("/", 1)[0]].append(item.path)
        ready = completed(lake.spark, set(by_folder))
        waiting = sorted(set(by_folder) - ready)
        for folder in waiting:
            progress(f"bronze {table.dataset}: {folder} has no _SUCCESS yet (not complete)")
        settings = lake.settings
        # One read per extract: each has one schema (a column added later stays its own).
        frames: list[DataFrame] = [
            extract_to_bronze(
                read_parquet_files(lake.spark, by_folder[folder]),
                contract,
                run_id=settings.run_id,
                ingested_at=settings.started_at.replace(tzinfo=None),
            )
            for folder in sorted(ready)
        ]
        stats.files = sum(len(by_folder[folder]) for folder in ready)
        if frames:
            batch = reduce(DataFrame.unionByName, frames)
            txn = (f"bronze-{table.dataset}", int(settings.started_at.timestamp() * 1000))
            stats.rows_in = lake.append(batch, "bronze", table.dataset, txn=txn, change_feed=True)
        progress(
            f"bronze {table.dataset}: {stats.rows_in} rows from {stats.files} files of "
            f"{len(ready)} extracts"
        )
        all_stats.append(stats)
    return all_stats
