"""Extract: copy the order database's tables into the landing zone, incrementally.

For each table (``orders``, ``order_lines``), one extract:

1. checks the table's columns against its contract (``schemas/oltp_<table>.yaml``): a
   missing column or a changed type stops the extract with a one-line error;
2. reads ``MAX(updated_at)`` as the upper bound ``high``;
3. reads the rows with ``updated_at <= high`` and, after the first extract, ``updated_at >
   cursor - lookback``. The first extract is a full, parallel read: one connection per
   range of the key, cut at its quantiles. The look-back re-reads a window before the
   cursor, so a row committed late with an older ``updated_at`` (a long transaction) is
   still caught; rows read twice are identical versions, which silver counts as
   duplicates. A row changed during the extract gets an ``updated_at`` above ``high`` and
   comes with the next extract;
4. lands the rows as Parquet under ``<landing>/oltp/<table>/extract_id=<id>/``, with
   ``_op`` (``I``/``U``/``D`` as AWS DMS writes it) and ``_extracted_at``; Spark's commit
   writes ``_SUCCESS`` last;
5. commits the cursor (``high``) only then (``lake/extract_state.py``).

A failure or a kill before step 5 leaves the cursor where it was: the rerun reads the same
window again (a folder without ``_SUCCESS`` is never ingested). The layout is in
docs/oltp.md.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from sales_lakehouse.config import Settings, new_run_id
from sales_lakehouse.contracts import load_contract
from sales_lakehouse.lake.extract_state import commit_cursor, latest_cursor
from sales_lakehouse.lake.jdbc import JdbcSource, SourceError, check_columns, source_error
from sales_lakehouse.oltp.dsn import Dsn
from sales_lakehouse.pipeline.summary import Progress

OLTP = "oltp"
CURSOR_COLUMN = "updated_at"
OP, EXTRACTED_AT = "_op", "_extracted_at"
DEFAULT_LOOKBACK = timedelta(minutes=15)
_TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class OltpTable:
    """A table of the order database: its contract, the column its reads are sliced by,
    and the flag that marks a deleted row (``_op`` = ``D``)."""

    name: str
    slice_by: str = "order_id"
    deleted_flag: str | None = None

    @property
    def dataset(self) -> str:
        return f"{OLTP}_{self.name}"


TABLES: dict[str, OltpTable] = {
    table.name: table
    for table in (OltpTable("orders"), OltpTable("order_lines", deleted_flag="deleted"))
}


@dataclass(frozen=True)
class Extract:
    """One extract: its id (the landed folder's and the cursor file's name) and time (UTC)."""

    id: str
    at: datetime


@dataclass
class ExtractStats:
    table: str
    mode: str  # full, incremental, empty
    rows: int = 0
    since: str | None = None
    until: str | None = None
    path: str | None = None
    seconds: float = 0.0

    def line(self) -> str:
        if self.mode == "empty":
            return f"extract {self.table}: the table is empty, nothing landed"
        window = f"updated_at <= {self.until}"
        if self.since:
            window = f"{self.since} < {window}"
        return (
            f"extract {self.table}: {self.mode}, {self.rows} rows ({window}) "
            f"into {self.path} in {self.seconds:.1f} s"
        )


def table_folder(settings: Settings, table: str) -> str:
    return f"{settings.landing_path(OLTP)}/{table}"


def cursor_folder(settings: Settings, table: str) -> str:
    return f"{settings.landing_path(OLTP)}/_cursors/{table}"


def extract_oltp(
    spark: SparkSession,
    settings: Settings,
    dsn: Dsn,
    *,
    tables: Sequence[str] = tuple(TABLES),
    lookback: timedelta = DEFAULT_LOOKBACK,
    partitions: int = 4,
    progress: Progress = print,
) -> list[ExtractStats]:
    """Land what changed in each of ``tables`` since its cursor, then move the cursor."""
    unknown = [name for name in tables if name not in TABLES]
    if unknown:
        raise ValueError(f"unknown table {', '.join(unknown)}; known: {', '.join(TABLES)}")
    if partitions < 1:
        raise ValueError("--partitions must be at least 1")
    _require_utc_jvm(spark)
    source = JdbcSource(spark, dsn)
    started = datetime.now(UTC)
    extract = Extract(new_run_id(started), started.replace(tzinfo=None))
    # Every table's columns are checked before anything lands.
    for name in tables:
        problems = check_columns(name, source.schema(name), load_contract(TABLES[name].dataset))
        if problems:
            raise SourceError(f"{dsn.redacted()}: {'; '.join(problems)}")
    return [
        _extract_table(
            spark, settings, source, TABLES[name], extract, lookback=lookback,
            partitions=partitions, progress=progress,
        )
        for name in tables
    ]  # fmt: skip


def _extract_table(
    spark: SparkSession,
    settings: Settings,
    source: JdbcSource,
    table: OltpTable,
    extract: Extract,
    *,
    lookback: timedelta,
    partitions: int,
    progress: Progress,
) -> ExtractStats:
    started = time.monotonic()
    cursor = latest_cursor(spark, cursor_folder(settings, table.name))
    high = _high(source, table.name)
    if high is None:
        stats = ExtractStats(table.name, "empty")
        progress(stats.line())
        return stats
    previous = _cursor_time(cursor) if cursor else None
    where = f"`{CURSOR_COLUMN}` <= '{high}'"
    since = None
    if previous is not None:
        since = (previous - lookback).strftime(_TS_FORMAT)
        where += f" AND `{CURSOR_COLUMN}` > '{since}'"
    slices = partitions if previous is None else 1
    predicates = [" AND ".join((where, *bounds)) for bounds in _key_ranges(source, table, slices)]
    rows = source.read(table.name, predicates).select(
        "*",
        _op(table, previous).alias(OP),
        F.lit(extract.at).cast("timestamp").alias(EXTRACTED_AT),
    )
    path = f"{table_folder(settings, table.name)}/extract_id={extract.id}"
    count = _land(spark, source, rows, path)
    stats = ExtractStats(
        table.name,
        "full" if previous is None else "incremental",
        rows=count,
        since=since,
        until=high,
        path=path,
    )
    commit_cursor(
        spark,
        cursor_folder(settings, table.name),
        extract.id,
        {
            "table": table.name,
            CURSOR_COLUMN: high,
            "extract_id": extract.id,
            "mode": stats.mode,
            "rows": count,
            "path": path,
            "lookback_seconds": lookback.total_seconds(),
            "committed_at": datetime.now(UTC).isoformat(),
        },
    )
    stats.seconds = time.monotonic() - started
    progress(stats.line())
    return stats


def _key_ranges(source: JdbcSource, table: OltpTable, slices: int) -> list[tuple[str, ...]]:
    """``slices`` ranges of the key column, cut at its quantiles: each slice is one range
    scan of the primary key's index (a hash slice such as ``MOD(CRC32(key), N)`` cannot use
    the index, so every connection would scan the whole table)."""
    if slices == 1:
        return [()]
    column = f"`{table.slice_by}`"
    rows = source.query(
        f"SELECT k FROM (SELECT {column} AS k, ROW_NUMBER() OVER (ORDER BY {column}) AS rn, "
        f"COUNT(*) OVER () AS n FROM `{table.name}`) s "
        f"WHERE MOD(rn, CEIL(n / {slices})) = 0 ORDER BY k"
    ).collect()
    cuts = sorted({str(row["k"]) for row in rows})[: slices - 1]
    ranges: list[tuple[str, ...]] = []
    lower: str | None = None
    for cut in [*cuts, None]:
        bounds = []
        if lower is not None:
            bounds.append(f"{column} >= {_literal(lower)}")
        if cut is not None:
            bounds.append(f"{column} < {_literal(cut)}")
        ranges.append(tuple(bounds))
        lower = cut
    return ranges


def _literal(value: str) -> str:
    """A MySQL string literal (quotes and backslashes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _high(source: JdbcSource, table: str) -> str | None:
    """``MAX(updated_at)`` as the database prints it (microseconds): no time-zone trip."""
    row = source.query(
        f"SELECT DATE_FORMAT(MAX(`{CURSOR_COLUMN}`), '%Y-%m-%d %H:%i:%s.%f') AS high FROM `{table}`"
    ).first()
    return None if row is None or row["high"] is None else str(row["high"])


def _cursor_time(cursor: dict[str, Any]) -> datetime:
    value = cursor.get(CURSOR_COLUMN)
    try:
        return datetime.strptime(str(value), _TS_FORMAT)
    except ValueError:
        raise SourceError(f"the stored cursor's {CURSOR_COLUMN} {value!r} is not a time") from None


def _op(table: OltpTable, previous: datetime | None) -> Column:
    """``D`` for a deleted row; ``I`` for a row created after the previous extract's
    upper bound (every row of a full load); ``U`` otherwise."""
    if previous is None:
        op = F.lit("I")
    else:
        created_after = F.col("created_at") > F.lit(previous.strftime(_TS_FORMAT)).cast("timestamp")
        op = F.when(created_after, F.lit("I")).otherwise(F.lit("U"))
    if table.deleted_flag is not None:
        op = F.when(F.col(table.deleted_flag), F.lit("D")).otherwise(op)
    return op


def _land(spark: SparkSession, source: JdbcSource, rows: DataFrame, path: str) -> int:
    """Write ``rows`` as Parquet under ``path`` (a new folder) and count what landed."""
    try:
        rows.write.mode("errorifexists").parquet(path)
    except Exception as error:
        raise source_error(source.dsn, error) from error
    return spark.read.parquet(path).count()


def _require_utc_jvm(spark: SparkSession) -> None:
    """The database's DATETIME values are UTC; the JDBC driver reads them in the JVM's
    default time zone, which must therefore be UTC (as on Glue; locally the session sets
    ``-Duser.timezone=UTC``)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    zone = jvm.java.util.TimeZone.getDefault()
    if int(zone.getRawOffset()) != 0 or bool(zone.useDaylightTime()):
        raise SourceError(
            f"the JVM's time zone is {zone.getID()}, not UTC: the database's UTC times would "
            "shift; start Spark with -Duser.timezone=UTC (spark.driver.extraJavaOptions)"
        )
