"""Landed files held back from silver, and the operator's decisions (``meta.held_files``).

A file whose own rows break a batch-level ``fail`` rule (a quarantine share over its
limit) is held back by the silver stage so the other files of its batch go through. The
table is an append-only log, one row per event of a file:

- ``held``: the silver stage set it aside (rule, what it observed, its row counts);
- ``released``: an operator let it through once (its valid rows go to silver, its bad
  rows to quarantine at the next silver run);
- ``merged``: the silver run after a release committed its rows;
- ``rejected``: an operator excluded it for good (its rows stay in bronze only).

The latest event of a file is its state. Its rows stay in bronze whatever the state, so
nothing is lost: ``held`` and ``rejected`` files are left out of every silver batch
(also on a full refresh), a ``released`` one is taken in, whatever the watermark says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql import types as T

if TYPE_CHECKING:
    from sales_lakehouse.lake.tables import Lake

TABLE = ("meta", "held_files")
HELD, RELEASED, MERGED, REJECTED = "held", "released", "merged", "rejected"
STATUSES = (HELD, RELEASED, MERGED, REJECTED)
SCHEMA = T.StructType(
    [
        T.StructField("dataset", T.StringType(), False),
        T.StructField("source_file", T.StringType(), False),
        T.StructField("status", T.StringType(), False),
        T.StructField("rule", T.StringType(), True),
        T.StructField("observed", T.StringType(), True),
        T.StructField("rows", T.LongType(), True),
        T.StructField("quarantined", T.LongType(), True),
        T.StructField("reason", T.StringType(), True),
        T.StructField("run_id", T.StringType(), False),
        T.StructField("recorded_at", T.TimestampType(), False),
    ]
)


@dataclass(frozen=True)
class HeldFile:
    """One event of a held file (its current state when it is the latest)."""

    dataset: str
    source_file: str
    status: str
    run_id: str
    rule: str | None = None
    observed: str | None = None
    rows: int | None = None
    quarantined: int | None = None
    reason: str | None = None
    recorded_at: datetime | None = None
    held_at: datetime | None = None  # when the file was first held (filled by ``current``)


class HeldFileError(ValueError):
    """An operator decision that does not apply (unknown file, or not in a state for it)."""


class HeldFiles:
    """The held-file log of one lake."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    def current(self, dataset: str | None = None) -> list[HeldFile]:
        """Every file's latest event (with when it was first held), oldest hold first."""
        if not self._lake.exists(*TABLE):
            return []
        log = self._lake.read(*TABLE)
        if dataset is not None:
            log = log.filter(F.col("dataset") == dataset)
        names = [field.name for field in SCHEMA.fields]
        rows = (
            log.groupBy("dataset", "source_file")
            .agg(
                F.max_by(F.struct(*names), "recorded_at").alias("last"),
                F.min(F.when(F.col("status") == HELD, F.col("recorded_at"))).alias("held_at"),
                # The hold's own figures stay the file's figures after a decision.
                F.max_by(
                    F.struct("rule", "observed", "rows", "quarantined"),
                    F.when(F.col("status") == HELD, F.col("recorded_at")),
                ).alias("hold"),
            )
            .collect()
        )
        found = []
        for row in rows:
            last, hold = row["last"].asDict(), row["hold"]
            if hold is not None:
                last.update({k: v for k, v in hold.asDict().items() if last.get(k) is None})
            found.append(HeldFile(**last, held_at=row["held_at"]))
        return sorted(found, key=lambda h: (h.held_at or h.recorded_at, h.source_file))

    def in_state(self, dataset: str, *statuses: str) -> set[str]:
        """Paths of the dataset's files whose current state is one of ``statuses``."""
        return {h.source_file for h in self.current(dataset) if h.status in statuses}

    def record(self, events: Iterable[HeldFile]) -> None:
        """Append events in one commit (their ``recorded_at`` defaults to now)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = [
            (
                e.dataset,
                e.source_file,
                e.status,
                e.rule,
                e.observed,
                e.rows,
                e.quarantined,
                e.reason,
                e.run_id,
                e.recorded_at or now,
            )
            for e in events
        ]
        if rows:
            self._lake.append_rows(self._lake.spark.createDataFrame(rows, SCHEMA), *TABLE, SCHEMA)

    def decide(self, source_file: str, status: str, reason: str, run_id: str) -> HeldFile:
        """Record an operator's decision on a held file: ``released`` or ``rejected``.

        ``source_file`` is the path as listed, or a unique suffix of it (a file name).
        Only a ``held`` file can be released. Any file here can be rejected: a released
        one before or after it was merged (its rows then leave silver at the next full
        refresh).
        """
        if status not in (RELEASED, REJECTED):
            raise HeldFileError(f"a decision is {RELEASED} or {REJECTED}, not {status!r}")
        if not reason.strip():
            raise HeldFileError("give the reason for the decision (--reason)")
        held = self.find(source_file)
        allowed = (HELD,) if status == RELEASED else (HELD, RELEASED, MERGED)
        if held.status not in allowed:
            raise HeldFileError(
                f"{held.source_file} is {held.status}, not {' or '.join(allowed)}: "
                f"nothing to {'release' if status == RELEASED else 'reject'}"
            )
        event = HeldFile(
            held.dataset,
            held.source_file,
            status,
            run_id,
            rule=held.rule,
            observed=held.observed,
            rows=held.rows,
            quarantined=held.quarantined,
            reason=reason.strip(),
        )
        self.record([event])
        return event

    def find(self, source_file: str) -> HeldFile:
        """The file's current state: by its full path, else by a unique suffix."""
        known = self.current()
        exact = [h for h in known if h.source_file == source_file]
        if exact:
            return exact[0]
        name = source_file.rstrip("/")
        matches = [h for h in known if h.source_file.endswith("/" + name.lstrip("/"))]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            listed = ", ".join(h.source_file for h in known) or "none"
            raise HeldFileError(f"no held file matches {source_file!r} (held files: {listed})")
        raise HeldFileError(
            f"{source_file!r} matches {len(matches)} held files: give the full path "
            + ", ".join(h.source_file for h in matches)
        )
