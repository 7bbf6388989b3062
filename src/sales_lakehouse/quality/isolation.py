"""Which landed files to hold back when a batch-level ``fail`` rule breaks.

A batch is made of landed files. When a batch's quarantine share is over its limit, the
files whose own rows put it there are held back (``meta.held_files``) and the rest of the
batch goes through. Only rules that can be judged file by file isolate: the quarantine
share (``quarantine_fraction``). Any other broken ``fail`` rule (a repeated key, a row
count that does not reconcile) still stops the stage as a whole, as does a batch of one
file, or one in which every file would have to be held.

Pure: per-file counts in, files to hold out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sales_lakehouse.contracts import DatasetCheck
from sales_lakehouse.quality.rules import FAILURES, is_rejected

SOURCE_FILE = "_source_file"
ISOLATING = ("quarantine_fraction",)


@dataclass(frozen=True)
class FileCounts:
    """One landed file's share of a validated batch."""

    source_file: str
    rows: int
    quarantined: int

    @property
    def share(self) -> float:
        return self.quarantined / self.rows if self.rows else 0.0

    def observed(self) -> str:
        return f"{self.share:.2%} quarantined ({self.quarantined} of {self.rows})"


def file_counts(validated: DataFrame) -> list[FileCounts]:
    """Rows and quarantined rows per source file of a validated batch (one job)."""
    rows = (
        validated.groupBy(SOURCE_FILE)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.count_if(is_rejected(F.col(FAILURES))).alias("quarantined"),
        )
        .collect()
    )
    return sorted(
        (FileCounts(r[SOURCE_FILE], int(r["rows"]), int(r["quarantined"])) for r in rows),
        key=lambda f: f.source_file,
    )


def _breaks(check: DatasetCheck, rows: int, quarantined: int) -> bool:
    """The quarantine share rule's verdict on totals (a small batch is not judged)."""
    if rows < max(check.min_batch_rows, 1):
        return False
    return quarantined / rows > (check.max_fraction or 0.0)


def files_to_hold(check: DatasetCheck, files: Sequence[FileCounts]) -> list[FileCounts]:
    """The fewest files whose removal brings the batch within ``check`` (quarantine share).

    Only files over the limit on their own are candidates. They are taken by their excess
    (quarantined rows beyond what the limit allows for their size), largest first: a
    batch passes once its total excess is not positive, so this removes as few files as
    possible. Empty when the batch passes, when it has fewer than two files, or when the
    rest would be empty: then the rule stops the stage as before.
    """
    if check.type not in ISOLATING:
        raise ValueError(f"{check.name}: a {check.type} rule is not judged file by file")
    limit = check.max_fraction or 0.0
    rows = sum(f.rows for f in files)
    quarantined = sum(f.quarantined for f in files)
    if len(files) < 2 or not _breaks(check, rows, quarantined):
        return []
    candidates = sorted(
        (f for f in files if f.share > limit),
        key=lambda f: (-(f.quarantined - limit * f.rows), f.source_file),
    )
    held: list[FileCounts] = []
    for file in candidates:
        if not _breaks(check, rows, quarantined):
            break
        held.append(file)
        rows -= file.rows
        quarantined -= file.quarantined
    if len(held) == len(files) or _breaks(check, rows, quarantined):
        return []
    return held
