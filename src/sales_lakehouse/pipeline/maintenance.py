"""Table maintenance: compact small files (OPTIMIZE) and delete unreferenced ones (VACUUM).

Every run appends or MERGEs a few small files per table (bronze appends, silver MERGE,
gold date rewrites, the watermark and quality logs), so readers open more and more
files. OPTIMIZE rewrites them into few large ones without changing the data (change-feed
readers skip its commits); a table clustered by a date (``silver.sales``, the date marts)
is Z-ordered by it into files of at most 16 MiB, so its files keep short date ranges.
VACUUM then deletes files no snapshot within the retention needs. The retention defaults
to Delta's safe 7 days: a shorter one can break a reader or a writer still on an older
snapshot, so it is refused unless explicitly allowed.

Maintenance must not run while a pipeline stage writes (Delta's S3 log store is safe for
one writing driver per table), so on AWS it is the last job of the pipeline's workflow.
That workflow runs nightly and on landing events; ``min_interval_hours`` skips the tables
maintained more recently than that. "Maintained" is read from each table's Delta history:
its newest ``OPTIMIZE`` or ``VACUUM END`` commit. Both are needed: OPTIMIZE writes no
commit when there is nothing to compact (a table already in one file),
and VACUUM END is written by every VACUUM (Lake.vacuum turns Delta's VACUUM logging on,
which Delta 3.3 leaves off on S3). A table compacted with ``vacuum=False`` that had
nothing to compact leaves no marker, so it is simply maintained again on the next run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sales_lakehouse.lake import Lake
from sales_lakehouse.lake import maintenance as upkeep
from sales_lakehouse.lake.lock import lake_lock
from sales_lakehouse.pipeline.summary import Progress, console_progress

# Delta's own default (delta.deletedFileRetentionDuration = 7 days).
SAFE_RETENTION_HOURS = 168.0
MAINTAINED_LAYERS = ("bronze", "silver", "quarantine", "gold", "meta", "quality")
# Files of a clustered table after OPTIMIZE: Z-ordered (sorted) by the clustering column
# and cut at this size, so that date ranges stay short (an increment rewrites few files).
CLUSTERED_FILE_BYTES = 16 * 1024 * 1024


def clustered_tables() -> dict[tuple[str, str], str]:
    """(layer, name) -> clustering column of every table written in ranges of a column."""
    from sales_lakehouse.datasets import SILVER
    from sales_lakehouse.pipeline.forecast import CLUSTER_BY as FORECAST_CLUSTER_BY
    from sales_lakehouse.pipeline.gold import CLUSTER_BY

    silver = {("silver", e.target): e.cluster_by for e in SILVER.values() if e.cluster_by}
    gold = {**CLUSTER_BY, **FORECAST_CLUSTER_BY}
    return {**silver, **{("gold", name): column for name, column in gold.items()}}


# History operations that say a table was maintained (see the module docstring).
MAINTENANCE_MARKERS = ("OPTIMIZE", "VACUUM END")


class RetentionError(ValueError):
    """A VACUUM retention below the safe minimum was asked for without the explicit flag."""


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table: live files before and after, optimize metrics.

    ``skipped``: left alone because ``last_maintained`` (the newest maintenance commit
    found, looked up only with a minimum interval) is within that interval.
    """

    layer: str
    name: str
    files_before: int
    files_after: int
    vacuumed: bool
    metrics: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False
    last_maintained: datetime | None = None

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"

    @property
    def summary(self) -> str:
        """One line for the job's and the CLI's report."""
        if self.skipped and self.last_maintained is not None:
            return f"{self.table:32} skipped, maintained {self.last_maintained:%Y-%m-%d %H:%M} UTC"
        return f"{self.table:32} files {self.files_before:6} -> {self.files_after:6}"


def check_retention(vacuum_hours: float, *, allow_short_retention: bool) -> None:
    """Refuse a retention below 168 h unless ``allow_short_retention`` says it is intended."""
    if vacuum_hours < SAFE_RETENTION_HOURS and not allow_short_retention:
        raise RetentionError(
            f"VACUUM retention {vacuum_hours:g} h is below the safe {SAFE_RETENTION_HOURS:g} h; "
            "pass allow_short_retention (--allow-short-retention) if no reader or writer can "
            "still be on an older snapshot"
        )


def check_min_interval(hours: float) -> None:
    """Refuse a negative minimum interval (0 means: maintain every table every time)."""
    if hours < 0:
        raise ValueError(f"minimum interval {hours:g} h is negative (0 maintains every time)")


def maintain(
    lake: Lake,
    *,
    vacuum_hours: float = SAFE_RETENTION_HOURS,
    allow_short_retention: bool = False,
    vacuum: bool = True,
    tables: Sequence[tuple[str, str]] | None = None,
    zorder_by: Mapping[tuple[str, str], Sequence[str]] | None = None,
    min_interval_hours: float = 0,
    now: datetime | None = None,
    progress: Progress = console_progress,
) -> list[TableMaintenance]:
    """OPTIMIZE (then VACUUM, unless ``vacuum`` is false) every table of the lake, or ``tables``.

    ``zorder_by`` maps (layer, name) to Z-order columns; tables not in it are compacted
    only. With ``min_interval_hours`` a table whose history shows maintenance younger than
    that, as of ``now`` (aware; default: the current time), is skipped. Returns per table
    the live file count before and after and Delta's metrics.
    """
    check_retention(vacuum_hours, allow_short_retention=allow_short_retention)
    check_min_interval(min_interval_hours)
    now = datetime.now(UTC) if now is None else now
    if now.tzinfo is None:
        raise ValueError("now must be time-zone aware")
    targets = (
        list(tables)
        if tables is not None
        else [
            (layer, name)
            for layer, name in lake.registry.table_names()
            if layer in MAINTAINED_LAYERS
        ]
    )
    cutoff = now - timedelta(hours=min_interval_hours) if min_interval_hours > 0 else None
    # VACUUM deletes files a concurrent run may still read: one writer per lake.
    settings = lake.settings
    with lake_lock(settings.lake, settings.run_id, "maintain", progress=progress):
        return _maintain_tables(
            lake, targets, cutoff, now, vacuum_hours, allow_short_retention, vacuum,
            zorder_by or {}, progress,
        )  # fmt: skip


def _maintain_tables(  # noqa: PLR0917 - the steps of maintain(), split for the lock
    lake: Lake,
    targets: Sequence[tuple[str, str]],
    cutoff: datetime | None,
    now: datetime,
    vacuum_hours: float,
    allow_short_retention: bool,
    vacuum: bool,
    zorder_by: Mapping[tuple[str, str], Sequence[str]],
    progress: Progress,
) -> list[TableMaintenance]:
    clustered = clustered_tables()
    results = []
    for layer, name in targets:
        last = None
        if cutoff is not None:
            last = upkeep.last_operation_time(lake, layer, name, MAINTENANCE_MARKERS, since=cutoff)
        if cutoff is not None and last is not None and last > cutoff:
            files = upkeep.file_count(lake, layer, name)
            results.append(
                TableMaintenance(
                    layer, name, files, files, vacuumed=False, skipped=True, last_maintained=last
                )
            )
            age = (now - last).total_seconds() / 3600
            progress(f"maintain {layer}.{name}: skipped, maintained {age:.1f} h ago")
            continue
        before = upkeep.file_count(lake, layer, name)
        column = clustered.get((layer, name))
        order = zorder_by.get((layer, name)) or ((column,) if column else ())
        size = CLUSTERED_FILE_BYTES if column else None
        metrics = upkeep.optimize(lake, layer, name, zorder_by=order, max_file_bytes=size)
        if vacuum:
            upkeep.vacuum(
                lake, layer, name, vacuum_hours, allow_short_retention=allow_short_retention
            )
        after = upkeep.file_count(lake, layer, name)
        results.append(
            TableMaintenance(layer, name, before, after, vacuum, metrics, last_maintained=last)
        )
        progress(f"maintain {layer}.{name}: {before} -> {after} files")
    return results
