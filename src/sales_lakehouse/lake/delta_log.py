"""A table's version and commit metrics read straight from its ``_delta_log``, without Spark jobs.

``DeltaTable.history()`` answers the same questions with a Spark job each (a DataFrame
over the log), and a pipeline stage asked them a few dozen times: each job costs a
scheduling round trip, which on a small increment was most of the stage. Here a version
is one listing of the log folder and a commit's metrics one read of its JSON file,
through the session's Hadoop file system (local folders and s3a alike).

Delta writes every commit as ``<version>.json`` and keeps the newest ones (log cleanup
only deletes files older than the latest checkpoint and the log retention), so the
highest JSON file is the table's version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # this module is also read by lake/peek.py, before any Spark session
    from pyspark.sql import SparkSession

_COMMIT = re.compile(r"^(\d{20})\.json$")


def _fs_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs, hadoop_path


def latest_version(spark: SparkSession, table: str) -> int:
    """The table's latest committed version; -1 when it has no log or no commit yet."""
    fs, log = _fs_path(spark, f"{table}/_delta_log")
    if not fs.exists(log):
        return -1
    versions = [
        int(match.group(1))
        for status in fs.listStatus(log)
        if (match := _COMMIT.match(str(status.getPath().getName())))
    ]
    return max(versions, default=-1)


def _lines(spark: SparkSession, table: str, version: int) -> Iterator[str]:
    """The JSON lines (actions) of one commit, read through Hadoop."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    fs, path = _fs_path(spark, f"{table}/_delta_log/{version:020d}.json")
    reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(fs.open(path), "UTF-8"))
    try:
        while (line := reader.readLine()) is not None:
            yield str(line)
    finally:
        reader.close()


def commit_info(spark: SparkSession, table: str, version: int) -> dict[str, Any]:
    """The ``commitInfo`` action of one commit (operation, operationMetrics, …); {} if none."""
    for line in _lines(spark, table, version):
        if '"commitInfo"' in line:
            return dict(json.loads(line).get("commitInfo") or {})
    return {}


# Actions after which the table holds the same rows with the same schema: the commit's
# own record, a transaction id, and files added or removed with dataChange false (OPTIMIZE
# rewrites rows into other files so). VACUUM's commits hold commitInfo alone.
_SAME_ROWS = ("commitInfo", "txn")


def changes_data(lines: Iterable[str]) -> bool:
    """Whether a commit (its JSON lines) may change the table's rows or schema: any action
    but ``commitInfo``, ``txn`` and files added or removed with ``dataChange`` false. Such a
    commit adds nothing to the change data feed."""
    for line in lines:
        if not line.strip():
            continue
        for kind, body in json.loads(line).items():
            if kind in _SAME_ROWS:
                continue
            if kind in ("add", "remove") and body.get("dataChange") is False:
                continue
            return True
    return False


def data_changed(spark: SparkSession, table: str, since: int, until: int) -> bool:
    """Whether a commit after version ``since``, up to ``until``, may change the table's rows
    (:func:`changes_data`); a commit whose file is gone counts as a change."""
    for version in range(since + 1, until + 1):
        fs, path = _fs_path(spark, f"{table}/_delta_log/{version:020d}.json")
        if not fs.exists(path) or changes_data(_lines(spark, table, version)):
            return True
    return False


def operation_metrics(spark: SparkSession, table: str, version: int) -> dict[str, int]:
    """A commit's ``operationMetrics`` as integers (Delta stores them as strings)."""
    metrics = commit_info(spark, table, version).get("operationMetrics") or {}
    return {key: int(value) for key, value in metrics.items() if str(value).lstrip("-").isdigit()}
