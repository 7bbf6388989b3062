"""The lake's tables as found in its folders, and their names in the session catalog.

Tables are path-based: the pipeline reads and writes ``<lake>/<layer>/<name>`` and never
needs a metastore. Which tables a lake holds is read from its folders (a Delta log under
``<layer>/<name>``), so a copied or moved lake is complete wherever it is, and any number
of processes can work on one lake without sharing a catalog.

Names exist so that SQL (``sales-lakehouse query``) can say ``gold.daily_sales``: they
are created in the session's catalog (Spark's in-memory one for a local session) when a
command needs them, pointing at the folders found, and live as long as the session.
"""

from __future__ import annotations

import re

from pyspark.sql import SparkSession

from sales_lakehouse.config import LAYERS, Settings


def quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def bare(location: str) -> str:
    """A location without its scheme and slashes around it, for comparing locations that
    Spark qualified (``file:/lake/x``, ``s3a://bucket/x``) with ones it did not (``/lake/x``)."""
    return re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*:", "", location).strip("/")


class TableRegistry:
    """The lake's tables (from its folders) and their ``<layer>.<name>`` names."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.spark = spark
        self.settings = settings
        self._registered: set[tuple[str, str]] = set()

    def table_names(self) -> list[tuple[str, str]]:
        """(layer, name) of every Delta table under the lake's layer folders, sorted.

        One glob of ``<lake>/{layers}/*/_delta_log`` through the session's Hadoop file
        system (local folders and s3a alike); a folder whose log holds no commit yet (a
        create that failed) is not a table.
        """
        jvm = self.spark.sparkContext._jvm
        assert jvm is not None
        pattern = f"{self.settings.lake}/{{{','.join(LAYERS)}}}/*/_delta_log"
        glob = jvm.org.apache.hadoop.fs.Path(pattern)
        fs = glob.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())
        found = []
        for status in fs.globStatus(glob) or []:
            log = status.getPath()
            commits = fs.globStatus(jvm.org.apache.hadoop.fs.Path(log, "*.json")) or []
            if len(commits):
                table = log.getParent()
                found.append((str(table.getParent().getName()), str(table.getName())))
        return sorted(found)

    def register(self, layer: str, name: str) -> None:
        """Make ``<layer>.<name>`` point at the table's folder in the session catalog.

        Once per table and session. A name already there (a session shared by several
        lakes, as in the tests) is checked and moved when it points at another folder.
        """
        if (layer, name) in self._registered:
            return
        location = self.settings.table_path(layer, name)
        qualified = f"{quote(layer)}.{quote(name)}"
        if self.spark.catalog.tableExists(f"{layer}.{name}"):
            if self._location_of(qualified) == bare(location):
                self._registered.add((layer, name))
                return
            self.spark.sql(f"DROP TABLE {qualified}")
        else:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {quote(layer)}")
        self.spark.sql(f"CREATE TABLE {qualified} USING DELTA LOCATION '{location}'")
        self._registered.add((layer, name))

    def register_all(self) -> list[tuple[str, str]]:
        """Name every table of the lake (for SQL); returns the tables found."""
        names = self.table_names()
        for layer, name in names:
            self.register(layer, name)
        return names

    def _location_of(self, qualified: str) -> str:
        row = self.spark.sql(f"DESCRIBE DETAIL {qualified}").first()
        return "" if row is None else bare(str(row["location"]))
