"""Reading the landing zone: list the files of a dataset and read CSV files as strings.

Files are read through Spark (a header line through Spark's Hadoop file system) so that
local folders and S3 (s3a) behave the same. Every
value is read as a string (typing is silver's job) with RFC 4180 quoting, and lines the
CSV parser cannot fit to the header are kept with their raw text.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from sales_lakehouse.bronze.csv import CORRUPT_COLUMN, SOURCE_FILE, normalize_header

CSV_OPTIONS: dict[str, str] = {
    "header": "true",
    "sep": ",",
    "quote": '"',
    "escape": '"',
    "encoding": "UTF-8",
    "multiLine": "true",
    "mode": "PERMISSIVE",
    "columnNameOfCorruptRecord": CORRUPT_COLUMN,
    "ignoreLeadingWhiteSpace": "false",
    "ignoreTrailingWhiteSpace": "false",
}


@dataclass(frozen=True, order=True)
class LandedFile:
    """A landed file: ``path`` to read it by, its size, and ``source``: the file's URI as
    Spark records it in ``_metadata.file_path`` (and bronze in ``_source_file``), which
    escapes what ``path`` does not (a space is ``%20``)."""

    path: str
    size: int
    source: str


def _hidden(name: str) -> bool:
    """A file or folder name Spark's file listing skips: ``_`` or ``.`` prefix (a ``_`` name
    with ``=`` is a partition folder and is kept), or an upload still being copied."""
    return (
        (name.startswith("_") and "=" not in name)
        or name.startswith(".")
        or name.endswith("._COPYING_")
    )


def list_files(spark: SparkSession, folder: str, suffix: str = ".csv") -> list[LandedFile]:
    """The dataset's landed files under ``folder`` (sub-folders included), sorted by path;
    empty when the folder does not exist.

    Listed through the session's Hadoop file system (local, s3a): no Spark job, which a
    ``binaryFile`` read cost (three jobs and, in a new process, seconds of warm-up). Files
    and folders Spark would skip as hidden are skipped.
    Raises OSError with the file system's message when the folder cannot be listed.
    """
    from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]

    jvm = spark.sparkContext._jvm
    assert jvm is not None
    root = jvm.org.apache.hadoop.fs.Path(folder)
    found: list[LandedFile] = []
    try:
        fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        if not fs.exists(root):
            return []
        root = fs.makeQualified(root)
        base = str(root.toUri().getPath()).rstrip("/") + "/"
        listing = fs.listFiles(root, True)
        while listing.hasNext():
            status = listing.next()
            path = status.getPath()
            relative = str(path.toUri().getPath()).removeprefix(base)
            if relative.endswith(suffix) and not any(_hidden(p) for p in relative.split("/")):
                text = str(path.toString())
                # As Spark makes it from the path it is given to read (file:/…, not
                # the listing's file:///…).
                uri = str(jvm.org.apache.hadoop.fs.Path(text).toUri().toString())
                found.append(LandedFile(text, int(status.getLen()), uri))
    except Py4JJavaError as error:
        raise OSError(str(error.java_exception.toString())) from None
    return sorted(found)


def completed(spark: SparkSession, folders: set[str], marker: str = "_SUCCESS") -> set[str]:
    """The ``folders`` holding ``marker``: written to the end by a Spark job's commit."""
    from py4j.protocol import Py4JJavaError

    jvm = spark.sparkContext._jvm
    assert jvm is not None
    done = set()
    try:
        for folder in folders:
            path = jvm.org.apache.hadoop.fs.Path(folder, marker)
            if path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path):
                done.add(folder)
    except Py4JJavaError as error:
        raise OSError(str(error.java_exception.toString())) from None
    return done


def read_parquet_files(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Rows of Parquet files of one schema, plus the source file (as ``_metadata``)."""
    return spark.read.parquet(*paths).withColumn(SOURCE_FILE, F.col("_metadata.file_path"))


def read_header(spark: SparkSession, path: str) -> list[str]:
    """The header row of one CSV file, as written but without a byte order mark (an empty
    file gives []).

    Only the first line is read, through the session's Hadoop file system (local, s3a),
    and parsed with the landing CSV dialect: no Spark job, which cost about 0.4 s per file
    (``make bench``). Raises OSError with the file system's message when it cannot be read.
    """
    from py4j.protocol import Py4JJavaError

    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    try:
        fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        stream = jvm.java.io.InputStreamReader(fs.open(hadoop_path), CSV_OPTIONS["encoding"])
        reader = jvm.java.io.BufferedReader(stream)
        try:
            line = reader.readLine()
        finally:
            reader.close()
    except Py4JJavaError as error:
        raise OSError(str(error.java_exception.toString())) from None
    if line is None:
        return []
    text = str(line).removeprefix("\ufeff")
    parsed = csv.reader([text], delimiter=CSV_OPTIONS["sep"], quotechar=CSV_OPTIONS["quote"])
    return next(parsed, [])


def read_csv_files(spark: SparkSession, paths: list[str], header: list[str]) -> DataFrame:
    """Rows of CSV files sharing one header, every column a string, plus the source file.

    The header is given explicitly (normalized) so that columns may come in any order and
    extra columns survive; the parser still skips each file's own header line.
    """
    fields = [T.StructField(name, T.StringType(), True) for name in normalize_header(header)]
    schema = T.StructType([*fields, T.StructField(CORRUPT_COLUMN, T.StringType(), True)])
    return (
        spark.read.options(**CSV_OPTIONS)
        .option("enforceSchema", "true")
        .schema(schema)
        .csv(paths)
        .withColumn(SOURCE_FILE, F.col("_metadata.file_path"))
    )


def stream_text_files(
    spark: SparkSession, folder: str, *, max_files_per_trigger: int | None = None
) -> DataFrame:
    """A streaming read of every file under ``folder`` as text lines, with their file.

    Sub-folders (``ingest_date=…``) are read recursively; files of any name are taken,
    since Kinesis Data Firehose writes objects without an extension; ``.gz`` files are
    decompressed. Hidden files (``.`` or ``_`` prefix) are skipped, as Spark always does.
    """
    reader = spark.readStream.format("text").option("recursiveFileLookup", "true")
    if max_files_per_trigger is not None:
        reader = reader.option("maxFilesPerTrigger", str(max_files_per_trigger))
    return reader.load(folder).withColumn(SOURCE_FILE, F.col("_metadata.file_path"))
