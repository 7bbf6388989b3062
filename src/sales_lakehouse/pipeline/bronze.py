"""Bronze stage: ingest each new landing file of a dataset exactly once."""

from __future__ import annotations

from collections import defaultdict
from functools import reduce

from pyspark.sql import DataFrame

from sales_lakehouse.bronze.csv import (
    SOURCE_FILE,
    bronze_schema,
    header_problem,
    normalize_header,
    to_bronze,
)
from sales_lakehouse.contracts import load_contract
from sales_lakehouse.lake import Lake
from sales_lakehouse.lake.landing import list_files, read_csv_files, read_header
from sales_lakehouse.pipeline.summary import Progress, StageStats


def _group_by_header(
    lake: Lake, paths: list[str], stats: StageStats
) -> dict[tuple[str, ...], list[str]]:
    """New files grouped by their header; files that cannot be ingested are reported."""
    contract = load_contract(stats.dataset)
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path in paths:
        try:
            header = read_header(lake.spark, path)
        except Exception as error:  # an unreadable file must not stop the others
            stats.rejected_files.append((path, f"cannot read file: {str(error).splitlines()[0]}"))
            continue
        problem = header_problem(header, contract)
        if problem:
            stats.rejected_files.append((path, problem))
        else:
            groups[tuple(normalize_header(header))].append(path)
    return groups


def ingest_bronze(lake: Lake, dataset: str, progress: Progress) -> StageStats:
    """Append every landed row of files not ingested before to ``bronze.<dataset>``.

    The bronze table itself records which files it holds (``_source_file``), so the file
    ledger and the data are committed together: a file is either fully in bronze or not.
    """
    settings, contract = lake.settings, load_contract(dataset)
    stats = StageStats("bronze", dataset)
    landed = list_files(lake.spark, settings.landing_path(dataset))
    done = lake.distinct_values("bronze", dataset, SOURCE_FILE)
    # Compared as Spark records a file (URI-escaped): a name with a space or a % is
    # found as ingested, not taken again on every run.
    new = [item.path for item in landed if item.source not in done]
    progress(f"bronze {dataset}: {len(landed)} files landed, {len(new)} new")
    groups = _group_by_header(lake, new, stats)
    for path, reason in stats.rejected_files:
        progress(f"bronze {dataset}: REJECTED {path}: {reason}")
    frames: list[DataFrame] = [
        to_bronze(
            read_csv_files(lake.spark, paths, list(header)),
            contract,
            run_id=settings.run_id,
            ingested_at=settings.started_at.replace(tzinfo=None),
        )
        for header, paths in groups.items()
    ]
    stats.files = sum(len(paths) for paths in groups.values())
    if frames:
        batch = reduce(DataFrame.unionByName, frames)
        txn = (f"bronze-{dataset}", int(settings.started_at.timestamp() * 1000))
        stats.rows_in = lake.append(batch, "bronze", dataset, txn=txn, change_feed=True)
        progress(f"bronze {dataset}: {stats.rows_in} rows from {stats.files} files")
    else:  # an empty table, so that later stages find the dataset
        lake.ensure("bronze", dataset, bronze_schema(contract), change_feed=True)
    return stats
