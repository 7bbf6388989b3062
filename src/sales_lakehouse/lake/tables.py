"""All Delta Lake I/O and catalog registration, in one place.

Tables are path-based (``<lake>/<layer>/<name>``) and registered in the session's catalog
as ``<layer>.<name>`` so they can be queried with SQL. Writes are idempotent where a replay
could otherwise duplicate data: appends carry a Delta transaction id, MERGE only rewrites
rows whose values changed, and per-consumer watermarks say which source versions were
already processed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sales_lakehouse.config import CHECKPOINTS, Settings

CDF_PROPERTY = "delta.enableChangeDataFeed"
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
VACUUM_LOGGING = "spark.databricks.delta.vacuum.logging.enabled"
# Commits read per history page in last_operation_time (the next pages 4x as many).
HISTORY_PAGE = 16
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WATERMARKS = ("meta", "watermarks")
WATERMARK_SCHEMA = T.StructType(
    [
        T.StructField("consumer", T.StringType(), False),
        T.StructField("source", T.StringType(), False),
        T.StructField("version", T.LongType(), False),
        T.StructField("updated_at", T.TimestampType(), False),
    ]
)


def _nullable(schema: T.StructType) -> T.StructType:
    """The same schema with every field, element and value nullable.

    Delta rejects NOT NULL inside arrays and maps, and a table created from a derived
    schema should not inherit nullability Spark inferred from one batch.
    """

    def relax(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: (
                    True
                    if key in ("nullable", "containsNull", "valueContainsNull")
                    else relax(value)
                )
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [relax(item) for item in node]
        return node

    return T.StructType.fromJson(relax(schema.jsonValue()))


@contextmanager
def _session_conf(spark: SparkSession, values: Mapping[str, str]) -> Iterator[None]:
    """Runtime SQL settings for the duration of a block; restored (or unset) afterwards."""
    previous = {key: spark.conf.get(key, None) for key in values}
    for key, value in values.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, old)


def _quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def _bare(location: str) -> str:
    """A location without its scheme and slashes around it, for comparing locations that
    Spark qualified (``file:/lake/x``, ``s3a://bucket/x``) with ones it did not (``/lake/x``)."""
    return re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*:", "", location).strip("/")


def in_dates(column: str, values: Iterable[date]) -> str:
    """A SQL predicate ``column IN (DATE'…', …)`` for ``replace_where`` and ``merge``."""
    return f"{column} IN (" + ", ".join(f"DATE'{value.isoformat()}'" for value in values) + ")"


class Lake:
    """Delta tables of one lake root, bound to a Spark session."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.spark = spark
        self.settings = settings
        self._registered: set[tuple[str, str]] = set()
        self._watermarks: dict[tuple[str, str], int] | None = None

    def path(self, layer: str, name: str) -> str:
        return self.settings.table_path(layer, name)

    def exists(self, layer: str, name: str) -> bool:
        return bool(DeltaTable.isDeltaTable(self.spark, self.path(layer, name)))

    def ensure(
        self,
        layer: str,
        name: str,
        schema: T.StructType,
        *,
        change_feed: bool = False,
        partition_by: Sequence[str] = (),
    ) -> None:
        """Create the table (empty, partitioned by ``partition_by``) when it does not exist,
        and register it. An existing table keeps its partitioning."""
        if not self.exists(layer, name):
            builder = DeltaTable.createIfNotExists(self.spark).location(self.path(layer, name))
            builder = builder.addColumns(_nullable(schema))
            if partition_by:
                builder = builder.partitionedBy(*partition_by)
            if change_feed:
                builder = builder.property(CDF_PROPERTY, "true")
            builder.execute()
        self.register(layer, name)

    def register(self, layer: str, name: str) -> None:
        """Make ``<layer>.<name>`` point at the table's folder in the session catalog.

        Once per table and Lake. When the catalog is this lake's own (``<lake>/_catalog``)
        a registered name always points here, so only missing names are created; a shared
        catalog (tests, Glue) has its entry's location checked and corrected.
        """
        if (layer, name) in self._registered:
            return
        location = self.path(layer, name)
        qualified = f"{_quote(layer)}.{_quote(name)}"
        if self.spark.catalog.tableExists(f"{layer}.{name}"):
            if self._owns_catalog() or self._location_of(qualified) == _bare(location):
                self._registered.add((layer, name))
                return
            self.spark.sql(f"DROP TABLE {qualified}")
        else:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {_quote(layer)}")
        self.spark.sql(f"CREATE TABLE {qualified} USING DELTA LOCATION '{location}'")
        self._registered.add((layer, name))

    def _owns_catalog(self) -> bool:
        warehouse = _bare(self.spark.conf.get("spark.sql.warehouse.dir", "") or "")
        return f"{warehouse}/".startswith(f"{_bare(self.settings.catalog_dir)}/")

    def _location_of(self, qualified: str) -> str:
        row = self.spark.sql(f"DESCRIBE DETAIL {qualified}").first()
        return "" if row is None else _bare(str(row["location"]))

    def read(self, layer: str, name: str, version: int | None = None) -> DataFrame:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.path(layer, name))

    def version(self, layer: str, name: str) -> int:
        """The table's latest version; -1 when it does not exist."""
        if not self.exists(layer, name):
            return -1
        row = DeltaTable.forPath(self.spark, self.path(layer, name)).history(1).first()
        return int(row["version"]) if row is not None else -1

    def changes(self, layer: str, name: str, start: int, end: int) -> DataFrame:
        """Change-data-feed rows between two versions (inclusive)."""
        return (
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", start)
            .option("endingVersion", end)
            .load(self.path(layer, name))
        )

    def append(self, df: DataFrame, layer: str, name: str, *, txn: tuple[str, int]) -> int:
        """Append once (a replay with the same app id and version is skipped by Delta).

        Returns the number of rows the commit wrote (0 when it was skipped).
        """
        before = self.version(layer, name)
        (
            df.write.format("delta")
            .mode("append")
            .option("txnAppId", txn[0])
            .option("txnVersion", txn[1])
            .save(self.path(layer, name))
        )
        self.register(layer, name)
        return self.rows_added_since(layer, name, before)

    def append_rows(self, df: DataFrame, layer: str, name: str, schema: T.StructType) -> None:
        """Append to a log table (created with ``schema`` if absent), without a transaction id.

        For audit logs such as ``quality.dq_results``: every evaluation is a new record, so
        a replay appending again is the truth, not a duplicate to suppress.
        """
        self.ensure(layer, name, schema)
        df.write.format("delta").mode("append").save(self.path(layer, name))

    def overwrite(
        self,
        df: DataFrame,
        layer: str,
        name: str,
        *,
        change_feed: bool = False,
        partition_by: Sequence[str] = (),
    ) -> None:
        """Replace the table's contents (schema and partitioning included) atomically.

        A partitioned table is written one file per partition value (the rows are
        repartitioned by the partition columns first), not one per task and value.
        """
        if partition_by:
            df = df.repartition(*partition_by)
        writer = df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        if change_feed:
            writer = writer.option(CDF_PROPERTY, "true")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(self.path(layer, name))
        self.register(layer, name)

    def replace_where(
        self,
        df: DataFrame,
        layer: str,
        name: str,
        predicate: str,
        *,
        partition_by: Sequence[str] = (),
    ) -> None:
        """Atomically replace the rows matching ``predicate`` with ``df`` (creating the table).

        On a table partitioned by the predicate's columns the old rows go by whole files,
        so the cost follows the size of ``df``, not of the table.
        """
        if not self.exists(layer, name):
            self.overwrite(df, layer, name, partition_by=partition_by)
            return
        if partition_by:
            df = df.repartition(*partition_by)
        (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", predicate)
            .save(self.path(layer, name))
        )

    def checkpoint(self, layer: str, name: str) -> str:
        """Where the streaming query that writes ``<layer>.<name>`` keeps its progress."""
        return f"{self.settings.lake}/{CHECKPOINTS}/{layer}_{name}"

    def append_stream(self, stream: DataFrame, layer: str, name: str) -> int:
        """Append everything a streaming source has not delivered yet, then stop.

        ``Trigger.AvailableNow`` with a checkpoint under the lake: each source file is
        processed once, and the Delta sink commits each micro-batch with the query id and
        batch id as its transaction id, so a batch replayed after a crash between the
        Delta commit and the checkpoint's own commit is skipped, not written twice.
        Returns the rows the query's commits wrote.
        """
        before = self.version(layer, name)
        query = (
            stream.writeStream.format("delta")
            .outputMode("append")
            .option("checkpointLocation", self.checkpoint(layer, name))
            .trigger(availableNow=True)
            .start(self.path(layer, name))
        )
        query.awaitTermination()
        self.register(layer, name)
        return self.rows_added_since(layer, name, before)

    def rows_added_since(self, layer: str, name: str, version: int) -> int:
        """Rows written by the table's commits after ``version``."""
        history = DeltaTable.forPath(self.spark, self.path(layer, name)).history()
        newer = history.filter(F.col("version") > version).select("operationMetrics").collect()
        return sum(int((row[0] or {}).get("numOutputRows", 0)) for row in newer)

    def merge(
        self,
        df: DataFrame,
        layer: str,
        name: str,
        keys: Sequence[str],
        *,
        update_when: str | None = None,
        within: str | None = None,
    ) -> None:
        """Upsert ``df`` on ``keys``: update matched rows (when ``update_when``), insert new ones.

        The source must hold one row per key; the columns must match the table's.
        ``within``: a predicate on the target's columns (alias ``t``) that every stored row
        of the source's keys satisfies, added to the ``ON`` condition so that Delta reads
        and rewrites only the files that can match (on a partitioned table, the partitions
        it names). A stored row outside it would not match, and its key would be inserted
        a second time.
        """
        target = DeltaTable.forPath(self.spark, self.path(layer, name))
        missing = sorted(set(target.toDF().columns) - set(df.columns))
        if missing:
            raise ValueError(f"{layer}.{name} merge source lacks columns: {', '.join(missing)}")
        on = " AND ".join(f"t.{_quote(k)} = s.{_quote(k)}" for k in keys)
        if within:
            on = f"({within}) AND {on}"
        (
            target.alias("t")
            .merge(df.alias("s"), on)
            .whenMatchedUpdateAll(condition=update_when)
            .whenNotMatchedInsertAll()
            .execute()
        )

    def commit_metrics(self, layer: str, name: str, *, since: int) -> dict[str, Any]:
        """Operation metrics of the latest commit if it is newer than version ``since``."""
        row = DeltaTable.forPath(self.spark, self.path(layer, name)).history(1).first()
        if row is None or int(row["version"]) <= since:
            return {}
        return dict(row["operationMetrics"] or {})

    def distinct_values(self, layer: str, name: str, column: str) -> set[str]:
        """Distinct values of one column (small: used for ingested file names)."""
        if not self.exists(layer, name):
            return set()
        rows = self.read(layer, name).select(column).distinct().collect()
        return {str(row[0]) for row in rows}

    def watermark(self, consumer: str, source: str) -> int | None:
        """The last source version ``consumer`` processed, or None.

        The table is read once per Lake (one job instead of one per question) and kept in
        step with :meth:`set_watermarks`; a Lake serves one run of the single writer.
        """
        if self._watermarks is None:
            self._watermarks = {}
            if self.exists(*WATERMARKS):
                rows = (
                    self.read(*WATERMARKS)
                    .groupBy("consumer", "source")
                    .agg(F.max("version").alias("version"))
                    .collect()
                )
                self._watermarks = {(r["consumer"], r["source"]): int(r["version"]) for r in rows}
        return self._watermarks.get((consumer, source))

    def set_watermarks(self, consumer: str, versions: dict[str, int]) -> None:
        """Record, in one commit, the source versions ``consumer`` has processed.

        Watermarks are appended (the highest version per consumer and source counts), which
        is cheaper than a MERGE and keeps the table a log of what each run processed.
        """
        self.ensure(*WATERMARKS, WATERMARK_SCHEMA)
        now = datetime.now(UTC).replace(tzinfo=None)
        rows = self.spark.createDataFrame(
            [(consumer, source, version, now) for source, version in versions.items()],
            WATERMARK_SCHEMA,
        )
        rows.write.format("delta").mode("append").save(self.path(*WATERMARKS))
        if self._watermarks is not None:
            for source, version in versions.items():
                known = self._watermarks.get((consumer, source), version)
                self._watermarks[(consumer, source)] = max(version, known)

    def table_names(self) -> list[tuple[str, str]]:
        """(layer, name) of every Delta table under the lake root's layer folders."""
        found = []
        for database in ("bronze", "silver", "gold", "quarantine", "meta", "quality"):
            if not self.spark.catalog.databaseExists(database):
                continue
            for table in self.spark.catalog.listTables(database):
                found.append((database, table.name))
        return sorted(found)

    # --- maintenance: compaction, cleanup and file counts (see pipeline/maintenance.py) ---

    def file_count(self, layer: str, name: str) -> int:
        """Data files in the table's current snapshot (``DESCRIBE DETAIL`` numFiles).

        Counts the live files a reader must open, not the files on storage: VACUUM is what
        deletes the files older snapshots still reference.
        """
        row = self.spark.sql(f"DESCRIBE DETAIL delta.`{self.path(layer, name)}`").first()
        return 0 if row is None else int(row["numFiles"] or 0)

    def optimize(self, layer: str, name: str, zorder_by: Sequence[str] = ()) -> dict[str, Any]:
        """Compact the table's small files (``OPTIMIZE``), Z-ordered by ``zorder_by`` if given.

        A compaction commit carries ``dataChange = false``, so change-feed readers (silver
        reads bronze's feed, gold reads silver's) skip it. Returns Delta's optimize metrics
        (numFilesAdded, numFilesRemoved, ...).
        """
        builder = DeltaTable.forPath(self.spark, self.path(layer, name)).optimize()
        result = builder.executeZOrderBy(*zorder_by) if zorder_by else builder.executeCompaction()
        row = result.first()
        metrics = None if row is None else row["metrics"]
        return {} if metrics is None else dict(metrics.asDict(recursive=True))

    def vacuum(
        self, layer: str, name: str, retention_hours: float, *, allow_short_retention: bool = False
    ) -> None:
        """Delete files no snapshot younger than ``retention_hours`` needs (``VACUUM``).

        Delta refuses a retention below its table default (7 days) because a reader or
        writer still using an older snapshot would lose its files. Only with
        ``allow_short_retention`` is that check switched off, for this call only.

        The VACUUM is logged in the table's history (empty ``VACUUM START`` and
        ``VACUUM END`` commits) on every storage: Delta 3.3 logs it by default on local
        and HDFS paths but not on S3, and ``VACUUM END`` is what tells
        :meth:`last_operation_time` that an already compact table was maintained.
        """
        conf = {VACUUM_LOGGING: "true"}
        if allow_short_retention:
            conf[RETENTION_CHECK] = "false"
        with _session_conf(self.spark, conf):
            DeltaTable.forPath(self.spark, self.path(layer, name)).vacuum(retention_hours)

    def last_operation_time(
        self,
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
        table = DeltaTable.forPath(self.spark, self.path(layer, name))
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
