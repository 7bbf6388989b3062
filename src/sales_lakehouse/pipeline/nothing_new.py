"""Decide, before a Spark session starts, that a run would find nothing new.

A run with nothing new writes nothing (no commit, no quality result, no watermark), but
it took 22-24 s on the demo lake: the JVM's start and the cold JVM's first queries
(docs/benchmark.md). The questions that run asks are small, and this module asks the same
ones without Spark (``lake/peek.py``: the file system or S3, and delta-rs), following the
stages' own rules step by step:

- bronze (``pipeline/bronze.py``, ``bronze_oltp.py``): every landed CSV file of each
  dataset is in its bronze table's ``_source_file``, and so is every landed file of the
  order database's extracts; no sale event file has landed (the streaming checkpoint
  decides which of those are new: such a lake is left to Spark);
- silver (``pipeline/silver.py``): for every silver dataset, each bronze table it reads
  is at the version its watermark records, and no held file is released;
- gold (``pipeline/gold.py``): every mart exists and no silver commit after gold's
  watermarks changes rows (maintenance's OPTIMIZE commits do not).

When all of that holds, :func:`nothing_new` returns the summary the Spark run would
print, after the same progress lines; when any of it fails, or cannot be read, it returns
None and the run goes on with Spark as before. It decides under the lake's lock, as the
run does, so no other run is halfway through a commit.
"""

from __future__ import annotations

from collections import defaultdict

from sales_lakehouse.bronze.csv import SOURCE_FILE
from sales_lakehouse.config import Settings, is_local
from sales_lakehouse.contracts import DATASETS
from sales_lakehouse.datasets import feeding, silver_dataset
from sales_lakehouse.lake import held_files, peek, watermarks
from sales_lakehouse.lake.lock import lake_lock
from sales_lakehouse.pipeline.bronze_events import EVENTS
from sales_lakehouse.pipeline.extract import TABLES, table_folder
from sales_lakehouse.pipeline.gold import CONSUMER as GOLD
from sales_lakehouse.pipeline.gold import MARTS
from sales_lakehouse.pipeline.quality import CHECK_ORDER
from sales_lakehouse.pipeline.summary import Progress, RunSummary, StageStats, console_progress


class _WorkFoundError(Exception):
    """Something to do (or to find out with Spark): the run goes on as usual."""


def nothing_new(
    settings: Settings, stage: str = "all", progress: Progress = console_progress
) -> RunSummary | None:
    """The summary of a run that would find nothing new, or None when it would (or may)
    find something. Local and S3 lakes and landing zones; never starts Spark."""
    if not all(is_local(root) or peek.is_s3(root) for root in (settings.lake, settings.landing)):
        return None
    try:
        if not peek.log_version(settings.table_path(*watermarks.TABLE)) >= 0:
            return None  # a new lake (or one that never finished a stage)
        if stage in ("bronze", "all") and not peek.folder_exists(settings.landing):
            return None  # the run says what is wrong with the landing folder
    except peek.PeekUnavailableError:
        return None
    lines: list[str] = []
    with lake_lock(settings.lake, settings.run_id, f"run --stage {stage}", progress=progress):
        try:
            summary = _decide(settings, stage, lines.append)
        except (_WorkFoundError, peek.PeekUnavailableError):
            return None
    for line in lines:
        progress(line)
    return summary


def _version(settings: Settings, layer: str, name: str) -> int:
    return peek.log_version(settings.table_path(layer, name))


def _decide(settings: Settings, stage: str, say: Progress) -> RunSummary:
    summary = RunSummary(settings.run_id)
    reads = _reads(settings, stage)
    rows = peek.distinct_rows(reads)
    marks: dict[tuple[str, str], int] = {}
    for consumer, source, version in rows.get("watermarks", set()):
        key = (str(consumer), str(source))
        marks[key] = max(marks.get(key, -1), int(str(version)))
    if stage in ("bronze", "all"):
        summary.stats += _bronze(settings, rows, say)
    if stage in ("silver", "all"):
        summary.stats += _silver(settings, rows, marks, say)
    if stage in ("gold", "all"):
        _gold(settings, marks, say)
    return summary


def _reads(settings: Settings, stage: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The tables to read with delta-rs; raises _WorkFoundError when a bronze table is missing (the
    run would create it)."""
    reads: dict[str, tuple[str, tuple[str, ...]]] = {
        "watermarks": (settings.table_path(*watermarks.TABLE), ("consumer", "source", "version"))
    }
    if _version(settings, *held_files.TABLE) >= 0:
        reads["held"] = (
            settings.table_path(*held_files.TABLE),
            ("dataset", "source_file", "status", "recorded_at"),
        )
    if stage in ("bronze", "all"):
        tables = [*DATASETS]
        tables += [
            t.dataset
            for t in TABLES.values()
            if peek.landed_sources(table_folder(settings, t.name), ".parquet")
        ]
        for table in tables:
            if _version(settings, "bronze", table) < 0:
                raise _WorkFoundError(f"bronze.{table} does not exist yet")
            reads[f"bronze/{table}"] = (settings.table_path("bronze", table), (SOURCE_FILE,))
    return reads


def _bronze(
    settings: Settings, rows: dict[str, set[tuple[str, ...]]], say: Progress
) -> list[StageStats]:
    stats = []
    for dataset in DATASETS:
        landed = peek.landed_sources(settings.landing_path(dataset))
        done = {row[0] for row in rows[f"bronze/{dataset}"]}
        if any(source not in done for source in landed):
            raise _WorkFoundError(f"new {dataset} files")
        say(f"bronze {dataset}: {len(landed)} files landed, 0 new")
        stats.append(StageStats("bronze", dataset))
    if peek.landed_sources(settings.landing_path(EVENTS), suffix=""):
        raise _WorkFoundError("sale events landed: the streaming checkpoint decides")
    for table in TABLES.values():
        landed = peek.landed_sources(table_folder(settings, table.name), ".parquet")
        if not landed:
            continue
        # Empty when the extract landed after the reads (the file is then new).
        done = {row[0] for row in rows.get(f"bronze/{table.dataset}", set())}
        if any(source not in done for source in landed):
            raise _WorkFoundError(f"new {table.dataset} extract files")
        say(f"bronze {table.dataset}: 0 rows from 0 files of 0 extracts")
        stats.append(StageStats("bronze", table.dataset))
    return stats


def _silver(
    settings: Settings,
    rows: dict[str, set[tuple[str, ...]]],
    marks: dict[tuple[str, str], int],
    say: Progress,
) -> list[StageStats]:
    """As ``run_silver`` orders and stages the datasets, each found with nothing new."""
    latest: dict[tuple[str, str], tuple[str, str]] = {}
    for dataset, source_file, status, recorded_at in rows.get("held", set()):
        key = (dataset, source_file)
        if key not in latest or recorded_at > latest[key][0]:
            latest[key] = (recorded_at, status)
    released: defaultdict[str, int] = defaultdict(int)
    for (dataset, _), (_, status) in latest.items():
        if status == held_files.RELEASED:
            released[dataset] += 1
    order = sorted(DATASETS, key=CHECK_ORDER.index)
    order += [
        entry.name
        for target in list(order)
        for entry in feeding(target)
        if all(_version(settings, "bronze", table) >= 0 for table in entry.bronze_tables)
    ]
    stats = []
    for name in order:
        entry = silver_dataset(name)
        until = {table: _version(settings, "bronze", table) for table in entry.bronze_tables}
        since = {table: marks.get((f"silver_{name}", f"bronze/{table}")) for table in until}
        if released[name]:
            raise _WorkFoundError(f"released {name} files")
        if since != until and not any(version < 0 for version in until.values()):
            raise _WorkFoundError(f"new bronze rows for silver {name}")
        stats.append(StageStats("silver", name))
    for name in order:
        say(f"silver {name}: nothing new in bronze")
    return stats


def _gold(settings: Settings, marks: dict[tuple[str, str], int], say: Progress) -> None:
    """As ``refresh_gold`` decides that no silver change reached gold."""
    missing = [d for d in DATASETS if _version(settings, "silver", d) < 0]
    if missing:
        say(f"gold: skipped, silver tables missing: {', '.join(missing)}")
        return
    if not all(_version(settings, "gold", mart) >= 0 for mart in MARTS):
        raise _WorkFoundError("a gold mart is missing")
    for dataset in DATASETS:
        mark = marks.get((GOLD, f"silver/{dataset}"))
        path = settings.table_path("silver", dataset)
        if mark is None or peek.data_changed(path, mark, _version(settings, "silver", dataset)):
            raise _WorkFoundError(f"silver {dataset} changed since gold")
    say("gold: no silver changes since the last run")
