"""Table names in the session catalog: ``<layer>.<name>`` pointing at the table's folder.

Tables are path-based; names exist so that SQL (``sales-lakehouse query``, the quality
suite) can say ``gold.daily_sales``. A local lake keeps its own catalog under
``<lake>/_catalog``; on S3 and in tests the session's catalog is shared or in memory.
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
    """Registers the lake's tables under their names, once per table and run."""

    def __init__(self, spark: SparkSession, settings: Settings) -> None:
        self.spark = spark
        self.settings = settings
        self._registered: set[tuple[str, str]] = set()

    def register(self, layer: str, name: str) -> None:
        """Make ``<layer>.<name>`` point at the table's folder in the session catalog.

        Once per table and run. When the catalog is this lake's own (``<lake>/_catalog``)
        a registered name always points here, so only missing names are created; a shared
        catalog (tests, Glue) has its entry's location checked and corrected.
        """
        if (layer, name) in self._registered:
            return
        location = self.settings.table_path(layer, name)
        qualified = f"{quote(layer)}.{quote(name)}"
        if self.spark.catalog.tableExists(f"{layer}.{name}"):
            if self._owns_catalog() or self._location_of(qualified) == bare(location):
                self._registered.add((layer, name))
                return
            self.spark.sql(f"DROP TABLE {qualified}")
        else:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {quote(layer)}")
        self.spark.sql(f"CREATE TABLE {qualified} USING DELTA LOCATION '{location}'")
        self._registered.add((layer, name))

    def table_names(self) -> list[tuple[str, str]]:
        """(layer, name) of every table registered under the lake's layers."""
        found = []
        for database in LAYERS:
            if not self.spark.catalog.databaseExists(database):
                continue
            for table in self.spark.catalog.listTables(database):
                found.append((database, table.name))
        return sorted(found)

    def _owns_catalog(self) -> bool:
        warehouse = bare(self.spark.conf.get("spark.sql.warehouse.dir", "") or "")
        return f"{warehouse}/".startswith(f"{bare(self.settings.catalog_dir)}/")

    def _location_of(self, qualified: str) -> str:
        row = self.spark.sql(f"DESCRIBE DETAIL {qualified}").first()
        return "" if row is None else bare(str(row["location"]))
