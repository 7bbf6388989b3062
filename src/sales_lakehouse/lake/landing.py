"""Reading the landing zone: list the files of a dataset and read CSV files as strings.

Files are read through Spark (a header line through Spark's Hadoop file system) so that
local folders and S3 (s3a) behave the same. Every
value is read as a string (typing is silver's job) with RFC 4180 quoting, and lines the
CSV parser cannot fit to the header are kept with their raw text.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

from pyspark.errors import AnalysisException
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
    path: str
    size: int


def list_files(spark: SparkSession, folder: str, suffix: str = ".csv") -> list[LandedFile]:
    """The dataset's landed files, sorted by path; empty when the folder does not exist."""
    try:
        listing = (
            spark.read.format("binaryFile")
            .option("pathGlobFilter", f"*{suffix}")
            .option("recursiveFileLookup", "true")
            .load(folder)
            .select("path", "length")
            .collect()
        )
    except AnalysisException as error:
        if "PATH_NOT_FOUND" in str(error) or "Path does not exist" in str(error):
            return []
        raise
    return sorted(LandedFile(row["path"], int(row["length"])) for row in listing)


def read_header(spark: SparkSession, path: str) -> list[str]:
    """The header row of one CSV file, as written but without a byte order mark (an empty
    file gives []).

    Only the first line is read, through the session's Hadoop file system (local, s3a),
    and parsed with the landing CSV dialect: no Spark job, which cost about 0.4 s per file
    (``make bench``). Raises OSError with the file system's message when it cannot be read.
    """
    from py4j.protocol import Py4JJavaError  # type: ignore[import-untyped]

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
