"""The extract's cursors: one small JSON file per committed extract, never rewritten.

A table's cursors live under ``<landing>/oltp/_cursors/<table>/`` (hidden from the landing
listing by the ``_``), one file per extract, named by the extract id (sortable: a UTC
timestamp first). The newest file is the table's cursor. A file is written under a hidden
name and renamed when complete, so a kill mid-write leaves no half cursor; on S3 the
object appears whole. Through the session's Hadoop file system: local folders and s3a.
"""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql import SparkSession

SUFFIX = ".json"


class CursorFileError(RuntimeError):
    """A stored cursor cannot be read."""


def _fs(spark: SparkSession, folder: str) -> tuple[Any, Any, Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    path = jvm.org.apache.hadoop.fs.Path(folder)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return jvm, fs, path


def latest_cursor(spark: SparkSession, folder: str) -> dict[str, Any] | None:
    """The newest committed cursor under ``folder``, or None when there is none."""
    from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]

    jvm, fs, root = _fs(spark, folder)
    try:
        if not fs.exists(root):
            return None
        names = sorted(
            str(status.getPath().getName()) for status in fs.listStatus(root) if status.isFile()
        )
        names = [name for name in names if name.endswith(SUFFIX) and not name.startswith(".")]
        if not names:
            return None
        path = jvm.org.apache.hadoop.fs.Path(root, names[-1])
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(fs.open(path), "UTF-8"))
        try:
            lines = []
            line = reader.readLine()
            while line is not None:
                lines.append(str(line))
                line = reader.readLine()
        finally:
            reader.close()
    except Py4JJavaError as error:
        raise OSError(str(error.java_exception.toString())) from None
    try:
        value = json.loads("\n".join(lines))
    except json.JSONDecodeError as error:
        raise CursorFileError(f"{folder}/{names[-1]}: not a cursor ({error})") from None
    if not isinstance(value, dict):
        raise CursorFileError(f"{folder}/{names[-1]}: not a cursor (a JSON object expected)")
    return value


def commit_cursor(spark: SparkSession, folder: str, name: str, cursor: dict[str, Any]) -> str:
    """Write ``cursor`` as ``<folder>/<name>.json``: hidden first, then renamed."""
    from py4j.protocol import Py4JJavaError

    jvm, fs, root = _fs(spark, folder)
    hidden = jvm.org.apache.hadoop.fs.Path(root, f".{name}{SUFFIX}.tmp")
    final = jvm.org.apache.hadoop.fs.Path(root, f"{name}{SUFFIX}")
    data = json.dumps(cursor, sort_keys=True, indent=1).encode("utf-8")
    try:
        fs.mkdirs(root)
        stream = fs.create(hidden, True)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()
        if not fs.rename(hidden, final):
            raise OSError(f"could not rename {hidden.toString()} to {final.toString()}")
    except Py4JJavaError as error:
        raise OSError(str(error.java_exception.toString())) from None
    return str(final.toString())
