"""Delta tables of one lake: reads, the change feed, writes, MERGE and streaming appends.

Tables are path-based (``<lake>/<layer>/<name>``): no metastore on the run path; names for
SQL are made from the lake's folders when a command needs them
(:mod:`sales_lakehouse.lake.registry`). Writes are idempotent where a
replay could otherwise duplicate data: appends carry a Delta transaction id, MERGE only
rewrites rows whose values changed, and per-consumer watermarks
(:mod:`sales_lakehouse.lake.watermarks`) say which source versions were processed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from functools import reduce
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sales_lakehouse.config import CHECKPOINTS, Settings
from sales_lakehouse.lake import delta_log
from sales_lakehouse.lake.held_files import HeldFiles
from sales_lakehouse.lake.registry import TableRegistry, quote
from sales_lakehouse.lake.watermarks import Watermarks

CDF_PROPERTY = "delta.enableChangeDataFeed"
# A MERGE condition: given the source's and the target's column references, a Column.
ColumnOf = Callable[[str], Column]
MergeCondition = Callable[[ColumnOf, ColumnOf], Column]
_SOURCE, _TARGET = "s", "t"


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


# Rows per file of a clustered table: at 3M sale lines ~12 files of about two weeks each,
# so a daily increment rewrites one or two of them (docs/benchmark.md).
CLUSTERED_FILE_ROWS = 250_000


def _clustered(df: DataFrame, column: str | None, ranged: bool = False) -> DataFrame:
    """Rows in ranges of ``column``, sorted within each range (None: as they are).
    ``ranged``: ``df`` is in such ranges already (:func:`in_ranges`), only sort them."""
    if column is None:
        return df
    if not ranged:
        df = df.repartitionByRange(column)
    return df.sortWithinPartitions(column)


def in_ranges(df: DataFrame, by: str | Column) -> DataFrame:
    """``df`` partitioned in ranges of ``by``, for a table built from it and written with
    ``ranged=True`` clustered by ``by`` (or by a column that is ``by``, aliased).

    An aggregation or window of the built table whose keys include ``by`` then needs no
    shuffle of its own, and its write none either: one shuffle instead of two or three
    (gold.daily_sales from the fact: docs/benchmark.md, ninth round).
    """
    return df.repartitionByRange(by)


def in_dates(column: str, values: Iterable[date]) -> str:
    """A SQL predicate ``column IN (DATE'…', …)`` for ``replace_where``."""
    return f"{column} IN (" + ", ".join(f"DATE'{value.isoformat()}'" for value in values) + ")"


def in_strings(column: str, values: Iterable[str]) -> str:
    """A SQL predicate ``column IN ('…', …)`` for ``replace_where`` (quotes escaped)."""
    quoted = (value.replace("\\", "\\\\").replace("'", "\\'") for value in values)
    return f"`{column}` IN (" + ", ".join(f"'{value}'" for value in quoted) + ")"


class Lake:
    """Delta tables of one lake root, bound to a Spark session."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.spark = spark
        self.settings = settings
        self.registry = TableRegistry(spark, settings)
        self.watermarks = Watermarks(self)
        self.held = HeldFiles(self)

    def path(self, layer: str, name: str) -> str:
        return self.settings.table_path(layer, name)

    def exists(self, layer: str, name: str) -> bool:
        """Whether the table has a commit (from its log folder: no snapshot, no job)."""
        return self.version(layer, name) >= 0

    def ensure(
        self,
        layer: str,
        name: str,
        schema: T.StructType,
        *,
        change_feed: bool = False,
    ) -> None:
        """Create the table (empty) when it does not exist."""
        if not self.exists(layer, name):
            builder = DeltaTable.createIfNotExists(self.spark).location(self.path(layer, name))
            builder = builder.addColumns(_nullable(schema))
            if change_feed:
                builder = builder.property(CDF_PROPERTY, "true")
            builder.execute()

    def read(self, layer: str, name: str, version: int | None = None) -> DataFrame:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.path(layer, name))

    def version(self, layer: str, name: str) -> int:
        """The table's latest version; -1 when it does not exist (from the log: no job)."""
        return delta_log.latest_version(self.spark, self.path(layer, name))

    def changes(self, layer: str, name: str, start: int, end: int) -> DataFrame:
        """Change-data-feed rows between two versions (inclusive)."""
        return (
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", start)
            .option("endingVersion", end)
            .load(self.path(layer, name))
        )

    def append(
        self,
        df: DataFrame,
        layer: str,
        name: str,
        *,
        txn: tuple[str, int],
        change_feed: bool = False,
    ) -> int:
        """Append once (a replay with the same app id and version is skipped by Delta).

        A missing table is created by the append itself (with the change data feed when
        ``change_feed``): no separate commit of an empty table first.
        Returns the number of rows the commit wrote (0 when it was skipped).
        """
        before = self.version(layer, name)
        writer = (
            df.write.format("delta")
            .mode("append")
            .option("txnAppId", txn[0])
            .option("txnVersion", txn[1])
        )
        if change_feed and before < 0:
            writer = writer.option(CDF_PROPERTY, "true")
        writer.save(self.path(layer, name))
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
        cluster_by: str | None = None,
        ranged: bool = False,
    ) -> None:
        """Replace the table's contents (schema included; no partitions) atomically.

        ``cluster_by``: the rows are written in ranges of that column (each file holds a
        short, sorted range, at most ``CLUSTERED_FILE_ROWS`` rows), so that a predicate on
        it (``replace_where``, a MERGE ``within``) skips the other files by their min/max
        statistics. A table partitioned before (by ``sale_date``) loses its partitions.
        ``ranged``: ``df`` is in ranges of ``cluster_by`` already (:func:`in_ranges`).
        """
        clustered = _clustered(df, cluster_by, ranged)
        writer = clustered.write.format("delta").mode("overwrite")
        writer = writer.option("overwriteSchema", "true")
        if cluster_by is not None:
            writer = writer.option("maxRecordsPerFile", CLUSTERED_FILE_ROWS)
        if change_feed:
            writer = writer.option(CDF_PROPERTY, "true")
        writer.save(self.path(layer, name))

    def replace_where(
        self,
        df: DataFrame,
        layer: str,
        name: str,
        predicate: str,
        *,
        cluster_by: str | None = None,
        ranged: bool = False,
    ) -> None:
        """Atomically replace the rows matching ``predicate`` with ``df`` (creating the table).

        Only the files whose statistics admit ``predicate`` are read and rewritten (their
        other rows copied), so on a table clustered by the predicate's column the cost
        follows the size of ``df``, not of the table. ``cluster_by``, ``ranged``: as
        :meth:`overwrite`.
        """
        if not self.exists(layer, name):
            self.overwrite(df, layer, name, cluster_by=cluster_by, ranged=ranged)
            return
        (
            _clustered(df, cluster_by, ranged)
            .write.format("delta")
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
        return self.rows_added_since(layer, name, before)

    def rows_added_since(
        self, layer: str, name: str, version: int, *, enough: int | None = None
    ) -> int:
        """Rows written by the table's commits after ``version`` (from the log: no job).

        ``enough``: stop reading commits once the sum reaches it (a caller that only
        needs to know whether there are at least that many).
        """
        path = self.path(layer, name)
        latest = delta_log.latest_version(self.spark, path)
        rows = 0
        for v in range(version + 1, latest + 1):
            rows += delta_log.operation_metrics(self.spark, path, v).get("numOutputRows", 0)
            if enough is not None and rows >= enough:
                break
        return rows

    def merge(
        self,
        df: DataFrame,
        layer: str,
        name: str,
        keys: Sequence[str],
        *,
        update_when: MergeCondition | None = None,
        within: MergeCondition | None = None,
    ) -> None:
        """Upsert ``df`` on ``keys``: update matched rows (when ``update_when``), insert new ones.

        The source must hold one row per key; the columns must match the table's.
        Conditions are functions of the two sides' column references, e.g.
        ``lambda source, target: source("x") > target("x")``.
        ``within``: a condition on the target's columns that every stored row of the
        source's keys satisfies, added to the ``ON`` condition so that Delta reads and
        rewrites only the files that can match (on a partitioned table, the partitions it
        names). A stored row outside it would not match, and its key would be inserted a
        second time.
        """
        target = DeltaTable.forPath(self.spark, self.path(layer, name))
        missing = sorted(set(target.toDF().columns) - set(df.columns))
        if missing:
            raise ValueError(f"{layer}.{name} merge source lacks columns: {', '.join(missing)}")

        def source_col(column: str) -> Column:
            return F.col(f"{_SOURCE}.{quote(column)}")

        def target_col(column: str) -> Column:
            return F.col(f"{_TARGET}.{quote(column)}")

        on = reduce(Column.__and__, [target_col(key) == source_col(key) for key in keys])
        if within is not None:
            on = within(source_col, target_col) & on
        update = None if update_when is None else update_when(source_col, target_col)
        (
            target.alias(_TARGET)
            .merge(df.alias(_SOURCE), on)
            .whenMatchedUpdateAll(condition=update)
            .whenNotMatchedInsertAll()
            .execute()
        )

    def commit_metrics(self, layer: str, name: str, *, since: int) -> dict[str, int]:
        """Operation metrics of the latest commit if it is newer than version ``since``."""
        path = self.path(layer, name)
        latest = delta_log.latest_version(self.spark, path)
        if latest <= since:
            return {}
        return delta_log.operation_metrics(self.spark, path, latest)

    def rows_written(self, layer: str, name: str) -> int:
        """Rows the table's latest commit wrote as new, not counting rows it copied from
        rewritten files (a ``replace_where`` on a clustered table copies the other dates'
        rows of the files it replaces)."""
        metrics = self.commit_metrics(layer, name, since=-1)
        return metrics.get("numOutputRows", 0) - metrics.get("numCopiedRows", 0)

    def distinct_values(self, layer: str, name: str, column: str) -> set[str]:
        """Distinct values of one column (small: used for ingested file names)."""
        if not self.exists(layer, name):
            return set()
        rows = self.read(layer, name).select(column).distinct().collect()
        return {str(row[0]) for row in rows}
