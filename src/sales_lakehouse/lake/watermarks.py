"""Which source table version each stage has processed (``meta.watermarks``).

Watermarks are appended (the highest version per consumer and source counts), which is
cheaper than a MERGE and keeps the table a log of what each run processed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql import types as T

if TYPE_CHECKING:
    from sales_lakehouse.lake.tables import Lake

TABLE = ("meta", "watermarks")
SCHEMA = T.StructType(
    [
        T.StructField("consumer", T.StringType(), False),
        T.StructField("source", T.StringType(), False),
        T.StructField("version", T.LongType(), False),
        T.StructField("updated_at", T.TimestampType(), False),
    ]
)


class Watermarks:
    """The watermark store of one lake, read once per run and kept in step by :meth:`record`.

    A run is the lake's single writer, so what it records is all that changes meanwhile.
    """

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._known: dict[tuple[str, str], int] | None = None

    def get(self, consumer: str, source: str) -> int | None:
        """The last version of ``source`` that ``consumer`` processed, or None."""
        if self._known is None:
            self._known = {}
            if self._lake.exists(*TABLE):
                rows = (
                    self._lake.read(*TABLE)
                    .groupBy("consumer", "source")
                    .agg(F.max("version").alias("version"))
                    .collect()
                )
                self._known = {(r["consumer"], r["source"]): int(r["version"]) for r in rows}
        return self._known.get((consumer, source))

    def record(self, consumer: str, versions: dict[str, int]) -> None:
        """Record, in one commit, the source versions ``consumer`` has processed."""
        self.record_all({consumer: versions})

    def record_all(self, processed: Mapping[str, Mapping[str, int]]) -> None:
        """Record, in one commit, what each consumer has processed (consumer -> source ->
        version): a stage with several datasets commits its watermarks once."""
        lake = self._lake
        now = datetime.now(UTC).replace(tzinfo=None)
        records = [
            (consumer, source, version, now)
            for consumer, versions in processed.items()
            for source, version in versions.items()
        ]
        if not records:
            return
        lake.append_rows(lake.spark.createDataFrame(records, SCHEMA), *TABLE, SCHEMA)
        if self._known is not None:
            for consumer, source, version, _ in records:
                known = self._known.get((consumer, source), version)
                self._known[(consumer, source)] = max(version, known)
