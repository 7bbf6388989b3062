"""Table upkeep: live file counts, compaction (OPTIMIZE), cleanup (VACUUM) and the history
that tells when a table was last maintained. Used by ``pipeline/maintenance.py``."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from sales_lakehouse.lake.tables import Lake
from sales_lakehouse.runtime.session import session_conf

RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
VACUUM_LOGGING = "spark.databricks.delta.vacuum.logging.enabled"
# Commits read per history page in last_operation_time (the next pages 4x as many).
HISTORY_PAGE = 16
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


OPTIMIZE_MAX_FILE_SIZE = "spark.databricks.delta.optimize.maxFileSize"


def file_count(lake: Lake, layer: str, name: str) -> int:
    """Data files in the table's current snapshot (``DESCRIBE DETAIL`` numFiles).

    Counts the live files a reader must open, not the files on storage: VACUUM is what
    deletes the files older snapshots still reference.
    """
    row = lake.spark.sql(f"DESCRIBE DETAIL delta.`{lake.path(layer, name)}`").first()
    return 0 if row is None else int(row["numFiles"] or 0)


def optimize(
    lake: Lake,
    layer: str,
    name: str,
    zorder_by: Sequence[str] = (),
    max_file_bytes: int | None = None,
) -> dict[str, Any]:
    """Compact the table's small files (``OPTIMIZE``), Z-ordered by ``zorder_by`` if given.

    ``max_file_bytes`` caps the files it writes (Delta's default is 1 GiB): a table
    clustered by a date keeps files of short date ranges, which an increment's
    ``replaceWhere`` or MERGE can rewrite alone.
    A compaction commit carries ``dataChange = false``, so change-feed readers (silver
    reads bronze's feed, gold reads silver's) skip it. Returns Delta's optimize metrics
    (numFilesAdded, numFilesRemoved, ...).
    """
    from sales_lakehouse.runtime.session import session_conf

    conf = {} if max_file_bytes is None else {OPTIMIZE_MAX_FILE_SIZE: str(max_file_bytes)}
    builder = DeltaTable.forPath(lake.spark, lake.path(layer, name)).optimize()
    with session_conf(lake.spark, conf):
        result = builder.executeZOrderBy(*zorder_by) if zorder_by else builder.executeCompaction()
        row = result.first()
    metrics = None if row is None else row["metrics"]
    return {} if metrics is None else dict(metrics.asDict(recursive=True))


def vacuum(
    lake: Lake,
    layer: str,
    name: str,
    retention_hours: float,
    *,
    allow_short_retention: bool = False,
) -> None:
    """Delete files no snapshot younger than ``retention_hours`` needs (``VACUUM``).

    Delta refuses a retention below its table default (7 days) because a reader or
    writer still using an older snapshot would lose its files. Only with
    ``allow_short_retention`` is that check switched off, for this call only.

    The VACUUM is logged in the table's history (empty ``VACUUM START`` and
    ``VACUUM END`` commits) on every storage: Delta 3.3 logs it by default on local
    and HDFS paths but not on S3, and ``VACUUM END`` is what tells
    :func:`last_operation_time` that an already compact table was maintained.
    """
    conf = {VACUUM_LOGGING: "true"}
    if allow_short_retention:
        conf[RETENTION_CHECK] = "false"
    with session_conf(lake.spark, conf):
        DeltaTable.forPath(lake.spark, lake.path(layer, name)).vacuum(retention_hours)


def last_operation_time(
    lake: Lake,
    layer: str,
    name: str,
    operations: Collection[str],
    *,
    since: datetime | None = None,
) -> datetime | None:
    """When the table's newest commit of one of ``operations`` was made (aware UTC).

    None when the history holds no such commit. The history is read newest first in
    growing pages, so a recent match costs one short read; once a page reaches
    commits older than ``since`` the search stops there (None), as older history
    cannot matter to the caller. A commit whose parameters say ``status`` FAILED (a
    VACUUM that broke off) does not count.

    Delta history timestamps are ``TimestampType``: collected into Python they become
    naive datetimes in the Python process's local time zone, whatever the session's
    (UTC, session.py). Converting them in Spark to microseconds since the epoch keeps
    the result independent of both.
    """
    table = DeltaTable.forPath(lake.spark, lake.path(layer, name))
    limit = HISTORY_PAGE
    while True:
        rows = (
            table.history(limit)
            .select(
                "operation",
                F.col("operationParameters").getItem("status").alias("status"),
                F.unix_micros("timestamp").alias("micros"),
            )
            .collect()
        )
        matches = [
            row["micros"]
            for row in rows
            if row["operation"] in operations and row["status"] != "FAILED"
        ]
        if matches:
            return EPOCH + timedelta(microseconds=max(matches))
        if len(rows) < limit:  # the whole history was read
            return None
        oldest = EPOCH + timedelta(microseconds=min(row["micros"] for row in rows))
        if since is not None and oldest < since:
            return None
        limit *= 4
