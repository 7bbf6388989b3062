"""Table maintenance: compact small files (OPTIMIZE) and delete unreferenced ones (VACUUM).

Every run appends or MERGEs a few small files per table (bronze appends, silver MERGE,
gold partition rewrites, the watermark and quality logs), so readers open more and more
files. OPTIMIZE rewrites them into few large ones without changing the data (change-feed
readers skip its commits); VACUUM then deletes files no snapshot within the retention
needs. The retention defaults to Delta's safe 7 days: a shorter one can break a reader or
a writer still on an older snapshot, so it is refused unless explicitly allowed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sales_lakehouse.lake import Lake
from sales_lakehouse.pipeline.summary import Progress, console_progress

# Delta's own default (delta.deletedFileRetentionDuration = 7 days).
SAFE_RETENTION_HOURS = 168.0
MAINTAINED_LAYERS = ("bronze", "silver", "quarantine", "gold", "meta", "quality")


class RetentionError(ValueError):
    """A VACUUM retention below the safe minimum was asked for without the explicit flag."""


@dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table: live files before and after, optimize metrics."""

    layer: str
    name: str
    files_before: int
    files_after: int
    vacuumed: bool
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> str:
        return f"{self.layer}.{self.name}"


def check_retention(vacuum_hours: float, *, allow_short_retention: bool) -> None:
    """Refuse a retention below 168 h unless ``allow_short_retention`` says it is intended."""
    if vacuum_hours < SAFE_RETENTION_HOURS and not allow_short_retention:
        raise RetentionError(
            f"VACUUM retention {vacuum_hours:g} h is below the safe {SAFE_RETENTION_HOURS:g} h; "
            "pass allow_short_retention (--allow-short-retention) if no reader or writer can "
            "still be on an older snapshot"
        )


def maintain(
    lake: Lake,
    *,
    vacuum_hours: float = SAFE_RETENTION_HOURS,
    allow_short_retention: bool = False,
    vacuum: bool = True,
    tables: Sequence[tuple[str, str]] | None = None,
    zorder_by: Mapping[tuple[str, str], Sequence[str]] | None = None,
    progress: Progress = console_progress,
) -> list[TableMaintenance]:
    """OPTIMIZE (then VACUUM, unless ``vacuum`` is false) every table of the lake, or ``tables``.

    ``zorder_by`` maps (layer, name) to Z-order columns; tables not in it are compacted
    only. Returns per table the live file count before and after and Delta's metrics.
    """
    check_retention(vacuum_hours, allow_short_retention=allow_short_retention)
    targets = (
        list(tables)
        if tables is not None
        else [(layer, name) for layer, name in lake.table_names() if layer in MAINTAINED_LAYERS]
    )
    zorder_by = zorder_by or {}
    results = []
    for layer, name in targets:
        before = lake.file_count(layer, name)
        metrics = lake.optimize(layer, name, zorder_by=zorder_by.get((layer, name), ()))
        if vacuum:
            lake.vacuum(layer, name, vacuum_hours, allow_short_retention=allow_short_retention)
        after = lake.file_count(layer, name)
        results.append(TableMaintenance(layer, name, before, after, vacuum, metrics))
        progress(f"maintain {layer}.{name}: {before} -> {after} files")
    return results
