"""Reading the operational database with Spark JDBC (MariaDB Connector/J).

Every failure the database or the driver reports (unreachable server, access denied, a
missing table) becomes a :class:`SourceError` with one line: the driver's own message,
without the Java stack. The contract check (:func:`check_columns`) turns a missing column
or a changed type into the same kind of error before any row is read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from sales_lakehouse.contracts import Contract, spark_type
from sales_lakehouse.oltp.dsn import Dsn

# The first line of the driver's exception in a Py4J error: "java.sql.SQLXxxException: ..."
_SQL_ERROR = re.compile(r"(java\.sql\.\w+|java\.net\.\w+|java\.lang\.ClassNotFoundException)"
                        r":\s*(?:\(conn=\d+\)\s*)?(.+)")  # fmt: skip


class SourceError(RuntimeError):
    """The database refused or failed a read; the message is one line."""


def source_error(dsn: Dsn, error: Exception) -> SourceError:
    """A one-line :class:`SourceError` for a driver or Spark exception."""
    text = str(error)
    match = _SQL_ERROR.search(text)
    if match and match.group(1) == "java.lang.ClassNotFoundException":
        detail = f"JDBC driver {match.group(2).strip()} not found (run `make jars`)"
    elif match:
        detail = match.group(2).strip()
    else:
        detail = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return SourceError(f"{dsn.redacted()}: {detail}")


class JdbcSource:
    """One database, read through the session's JDBC data source."""

    def __init__(self, spark: SparkSession, dsn: Dsn) -> None:
        self.spark, self.dsn = spark, dsn

    def _reader(self, **options: str) -> DataFrame:
        reader = self.spark.read.format("jdbc").option("url", self.dsn.jdbc_url)
        for key, value in {**self.dsn.jdbc_properties(), **options}.items():
            reader = reader.option(key, value)
        return reader.load()

    def query(self, sql: str) -> DataFrame:
        """A query run by the database (read at once)."""
        try:
            return self._reader(query=sql)
        except Exception as error:
            raise source_error(self.dsn, error) from error

    def schema(self, table: str) -> T.StructType:
        """The table's columns as Spark maps them (no row is read)."""
        try:
            return self._reader(dbtable=table).schema
        except Exception as error:
            raise source_error(self.dsn, error) from error

    def max_value(self, table: str, column: str) -> datetime | None:
        """``MAX(column)`` of ``table``: the extract's upper bound (None when empty)."""
        try:
            row = self.query(f"SELECT MAX(`{column}`) AS high FROM `{table}`").first()
        except SourceError:
            raise
        except Exception as error:
            raise source_error(self.dsn, error) from error
        return None if row is None else row["high"]

    def read(self, table: str, predicates: Sequence[str]) -> DataFrame:
        """The table's rows, one Spark partition (and one connection) per predicate."""
        try:
            return self.spark.read.jdbc(
                self.dsn.jdbc_url,
                f"`{table}`",
                predicates=list(predicates),
                properties={**self.dsn.jdbc_properties(), "fetchsize": "10000"},
            )
        except Exception as error:
            raise source_error(self.dsn, error) from error


def check_columns(table: str, found: T.StructType, contract: Contract) -> list[str]:
    """Problems of the database's columns against the contract (empty: all as expected).

    A contract column must exist with the contract's type; an integer column read as a
    wider integer is accepted (MySQL ``INT UNSIGNED`` reads as long). Columns the contract
    does not name are allowed: the extract lands them too.
    """
    by_name = {field.name.lower(): field for field in found.fields}
    problems = []
    for column in contract.columns:
        field = by_name.get(column.name.lower())
        expected = spark_type(column.type)
        if field is None:
            problems.append(f"{table}.{column.name} is missing")
        elif field.dataType != expected and not _widened(expected, field.dataType):
            problems.append(
                f"{table}.{column.name} is {field.dataType.simpleString()}, "
                f"the contract says {expected.simpleString()}"
            )
    return problems


def _widened(expected: T.DataType, found: T.DataType) -> bool:
    return isinstance(expected, T.IntegerType) and isinstance(found, T.LongType)
