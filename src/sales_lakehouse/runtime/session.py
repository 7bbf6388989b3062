"""Build the Spark session: local mode with Delta and an in-memory catalog, or Glue's.

All Spark and Delta tuning lives here, in these dictionaries:

- ``RUNTIME_CONF``: SQL settings every session gets, local or on Glue/EMR (applied to the
  session Glue or spark-submit hands over, so they must be runtime-settable).
- ``LOCAL_CONF``: settings for a local session only, sized for a 2-core laptop: few
  shuffle partitions, small Delta snapshot partitioning, the UI off. On Glue/EMR the
  cluster's own defaults (executor count, shuffle partitions, memory) stay in charge.
- ``S3A_CONF`` and ``S3A_ENDPOINT_CONF``: a local session whose lake or landing is on S3
  (``s3a://``), e.g. a laptop against a bucket or against moto. Glue and EMR configure S3
  themselves, so a session they hand over gets none of this.
- ``SMALL_LAKE_CONF``: runtime settings for the silver and gold stages of a lake under
  :func:`interpret_below` rows (no generated code, no AQE, 1 shuffle partition), local
  or on Glue, set for the stage only (``batch_conf``).

A setting is changed only when ``make bench`` measured that it helps (an A/B in the same
run; see docs/benchmark.md). Measured and deliberately left as they are:

- ``spark.sql.shuffle.partitions`` 2 instead of 4: a full gold rebuild took 1.19x the
  mean baseline at 1M lines (0.97x at 100k, inside that run's noise), so 4 stays.
- ``spark.databricks.delta.optimizeWrite.enabled=true``: 1.31x (1M) and 1.6x (100k) the
  baseline for the gold rebuild (an extra shuffle); gold already writes one file per date
  partition, so it gains nothing locally. Worth re-measuring on S3, where files cost more.
- ``spark.databricks.delta.autoCompact.enabled``: not on; compaction is a scheduled job
  instead (``jobs/maintenance.py``), which keeps pipeline stages' times predictable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sales_lakehouse.config import Settings
from sales_lakehouse.runtime import class_archive

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"

# Runtime SQL settings every session needs, local or Glue.
RUNTIME_CONF: dict[str, str] = {
    # Landing timestamps without an offset are UTC; dates are derived in UTC.
    "spark.sql.session.timeZone": "UTC",
    # Column pruning would hide malformed CSV lines when few columns are selected.
    "spark.sql.csv.parser.columnPruning.enabled": "false",
    # AQE coalesces small shuffle partitions and handles skewed joins: on a 2-core machine a
    # tiny groupBy costs ~0.4 s with it against ~1.7 s with 200 fixed partitions.
    "spark.sql.adaptive.enabled": "true",
    # Validation plans are wide (a parsed value, its raw text and a check per rule for
    # every column); constraint propagation over them grows combinatorially: planning the
    # latest version per key of one validated sale event took over 200 s with it, 7 s
    # without (silver.sales' event versions). It only infers extra not-null filters.
    "spark.sql.constraintPropagation.enabled": "false",
    # Parquet timestamps as INT64 microseconds (Delta's own type), not Spark's legacy INT96:
    # other readers (delta-rs, DuckDB, Athena) read INT96 as nanoseconds, which cannot hold
    # silver.products' open-ended valid_to (9999-12-31); delta-rs then fails the whole read.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}

LOCAL_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Two tasks per core; 2 measured slower (see the module docstring).
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    # Delta reads its log with this many partitions (default 50: 50 tiny tasks per read).
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.extensions": DELTA_EXTENSION,
    "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
    # 3 GB of heap: the 3M bench peaked at 3.83 GiB resident (Python + JVM) with it, 4.87
    # GiB with 4g, in stage times within the same session's spread; 2g ran out of heap
    # in the 3M initial silver (docs/benchmark.md, seventh round). 10M ran out with 3g and
    # 4g alike while silver cached its batch serialized; kept deserialized, 10M completes
    # with 3g, peak 4.01 GiB (eighth round).
    "spark.driver.memory": "3g",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
    # Generated classes kept for reuse (default 100). A 4,000-line run generates about 580;
    # with 100 kept, a second run in the same JVM compiled 577 of them again, with 2,000 it
    # compiled 13 (warm runs 0.95x the time: docs/benchmark.md, sixth round). A static
    # setting: Glue's session keeps its own.
    "spark.sql.codegen.cache.maxEntries": "2000",
    # Persisted batches (silver's validated rows) are cached without columnar compression:
    # building the compressed cache of 1M validated sales lines took 29.7 s against 18.4 s
    # uncompressed (same session, docs/benchmark.md); they are read back a few times only.
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
}


# A small lake's silver and gold stages run without generated code. Spark writes and
# compiles Java for every query stage (whole-stage codegen) and for expressions; the
# silver stage's validation plans are wide, and a small lake's queries are each new to
# the JVM, so the compiling (Janino, then HotSpot's C2 compiling Janino itself: 16-22 s
# of C2 time over the tests' 202-line increment, from JFR) outweighs the work. Measured
# (docs/benchmark.md, eleventh round):
# - the tests' 4,000-line lake: its increment 0.85x the time in a new session;
# - the 50,000-line demo lake, each run in a new process: the first run 0.97x, an
#   increment of 500 lines 0.89x;
# - the 3M bench lake, in its warm session: the 2,000-line daily increment 1.12x (silver)
#   and 1.70x (gold) the time without generated code, the 75,000-line one 1.24x (silver):
#   there the generated code pays, so a lake from 100,000 rows keeps it.
# The measure is the lake's size (bronze's rows, from the Delta logs), not the batch's:
# an increment's silver MERGE and gold marts read the dates it touches, whose size
# follows the tables'. Runtime settings: on Glue too, for the stage only.
INTERPRETED_CONF: dict[str, str] = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}
# A small lake's stages also run without adaptive query execution, on 1 shuffle
# partition. AQE runs every shuffle stage of a query as a Spark job of its own and plans
# the query again between them; on a few thousand rows that planning is the work. A
# 228-line increment on the 50,000-line demo lake, in a warm session, alternating (docs/
# benchmark.md, thirteenth round): silver 41 jobs against 83, gold 45 against 69, stage
# times 0.70-0.96x (in a new process no change: its cold JVM's first queries are the
# time); 1 partition against 4 without AQE 0.83-0.98x. The partitions are set because
# AQE off leaves spark.sql.shuffle.partitions to itself: Spark's default (200, Glue's too)
# costs a tiny groupBy 1.7 s against 0.4 s, and with 2 a small table is written in 2
# files where AQE's coalescing wrote one (gold.promotion_performance: 8 rows, 2 files).
SMALL_LAKE_CONF: dict[str, str] = {
    **INTERPRETED_CONF,
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.shuffle.partitions": "1",
}
# Lakes below this many bronze rows run interpreted; $SALES_LAKEHOUSE_INTERPRET_BELOW sets
# another limit (0: always generate code).
INTERPRET_BELOW_ROWS = 100_000
INTERPRET_ENV = "SALES_LAKEHOUSE_INTERPRET_BELOW"


def interpret_below() -> int:
    """The lake size (rows) from which silver and gold generate code:
    :data:`INTERPRET_BELOW_ROWS` or ``$SALES_LAKEHOUSE_INTERPRET_BELOW``."""
    return int(os.environ.get(INTERPRET_ENV, INTERPRET_BELOW_ROWS))


def batch_conf(rows: int) -> dict[str, str]:
    """Runtime settings for a stage over a lake of ``rows`` rows: :data:`SMALL_LAKE_CONF`
    below :func:`interpret_below`, none (the session's) from it."""
    return dict(SMALL_LAKE_CONF) if rows < interpret_below() else {}


# A local session on S3 (s3a). Delta picks its log store by scheme: s3a:// gets
# S3SingleDriverLogStore, right for one writing driver per table (docs/aws.md), so
# spark.delta.logStore.s3a.impl is left alone.
S3A_CONF: dict[str, str] = {
    # The AWS SDK's default chain: environment variables, the shared config and credentials
    # files (AWS_PROFILE), web identity, container and instance roles.
    "spark.hadoop.fs.s3a.aws.credentials.provider": (
        "com.amazonaws.auth.DefaultAWSCredentialsProviderChain"
    ),
}
# Added when $AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL names an endpoint other than AWS's
# (moto, MinIO): such servers take the bucket in the path, not in the host name.
S3A_ENDPOINT_CONF: dict[str, str] = {
    "spark.hadoop.fs.s3a.path.style.access": "true",
}

DELTA_VERSION = "3.3.2"
DELTA_ARTIFACTS = (
    ("io/delta/delta-spark_2.12", "delta-spark_2.12", DELTA_VERSION),
    ("io/delta/delta-storage", "delta-storage", DELTA_VERSION),
)
# The MariaDB Connector/J JDBC driver (MySQL and MariaDB servers): the extract's reader.
# The Glue extract job gets the same jar (--extra-jars; `sales-lakehouse package`).
JDBC_ARTIFACTS = (("org/mariadb/jdbc/mariadb-java-client", "mariadb-java-client", "3.5.6"),)
# hadoop-aws must match pyspark's own Hadoop (3.3.4), and the SDK bundle the version
# hadoop-aws 3.3.4 was built with (hadoop-project 3.3.4: aws-java-sdk 1.12.262).
S3A_ARTIFACTS = (
    ("org/apache/hadoop/hadoop-aws", "hadoop-aws", "3.3.4"),
    ("com/amazonaws/aws-java-sdk-bundle", "aws-java-sdk-bundle", "1.12.262"),
)


class MissingJarsError(RuntimeError):
    """Jars a local session needs are not in the local Maven repository."""


def _maven_repository() -> Path:
    return Path(os.environ.get("MAVEN_REPOSITORY", Path.home() / ".m2" / "repository"))


def _maven_jars(artifacts: tuple[tuple[str, str, str], ...]) -> list[Path]:
    return [
        _maven_repository() / folder / version / f"{artifact}-{version}.jar"
        for folder, artifact, version in artifacts
    ]


def local_delta_jars() -> list[str]:
    """Delta's jars in the local Maven repository (``make jars`` puts them there), if all are."""
    jars = _maven_jars(DELTA_ARTIFACTS)
    return [str(jar) for jar in jars] if all(jar.is_file() for jar in jars) else []


def jdbc_jar_paths() -> list[Path]:
    """Where ``make jars`` puts the JDBC driver's jars, whether they are there or not."""
    return _maven_jars(JDBC_ARTIFACTS)


def local_jdbc_jars() -> list[str]:
    """The JDBC driver from the local Maven repository (``make jars``), if it is there: a
    session without it runs everything but the database extract, which then says so."""
    return [str(jar) for jar in _maven_jars(JDBC_ARTIFACTS) if jar.is_file()]


def uses_s3(settings: Settings) -> bool:
    """Whether the lake or the landing zone is on S3 (roots are normalized to ``s3a://``)."""
    return any(root.startswith("s3a://") for root in (settings.lake, settings.landing))


def local_s3a_jars() -> list[str]:
    """hadoop-aws and the AWS SDK bundle from the local Maven repository (``make jars``)."""
    jars = _maven_jars(S3A_ARTIFACTS)
    missing = [jar.name for jar in jars if not jar.is_file()]
    if missing:
        raise MissingJarsError(
            f"S3 (s3a) needs {', '.join(missing)} in {_maven_repository()}: run `make jars`"
        )
    return [str(jar) for jar in jars]


def s3a_conf(env: Mapping[str, str]) -> dict[str, str]:
    """S3A settings for a local session, from the standard AWS environment variables.

    The endpoint comes from ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL`` (as boto3
    and the AWS CLI read them); plain ``http://`` turns TLS off. The region comes from
    ``AWS_REGION``, then ``AWS_DEFAULT_REGION``; without either the SDK resolves it.
    """
    conf = dict(S3A_CONF)
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        conf.update(S3A_ENDPOINT_CONF)
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(
            not endpoint.startswith("http://")
        ).lower()
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = region
    return conf


# For a command that reads a few tables and stops (dashboard, quality page, query, tables):
# HotSpot's C1 compiler only. Such a JVM lives a minute at most, and C2's optimising
# compiles of Spark's code paths (over 100 ms each, on the 2 cores the queries need) do not
# pay off before it exits. The dashboard at 3M lines: see docs/dashboard.md. Not for
# `run`: a whole pipeline run in a warm JVM took 1.8x as long without C2.
SHORT_LIVED_JAVA_OPTS = "-XX:TieredStopAtLevel=1"


def local_conf(settings: Settings, *, short_lived: bool = False) -> dict[str, str]:
    """Local-mode configuration: Spark's in-memory catalog, S3A when a root is on S3.

    No metastore: tables are path-based, and names for SQL are made from the lake's
    folders when a command needs them (``lake/registry.py``). A Derby metastore cost 22-30 s
    on a fresh lake and allowed one process per lake. The warehouse (unused: no managed
    tables) is a scratch folder, so that ``CREATE DATABASE`` leaves nothing behind.
    """
    conf = {**LOCAL_CONF, **RUNTIME_CONF}
    memory = os.environ.get("SALES_LAKEHOUSE_DRIVER_MEMORY")
    if memory:
        conf["spark.driver.memory"] = memory
    if uses_s3(settings):
        conf.update(s3a_conf(os.environ))
    conf["spark.sql.warehouse.dir"] = _scratch_folder("sales-lakehouse-warehouse-")
    # The JVM in UTC, as on Glue: the JDBC driver reads the order database's DATETIME
    # (UTC) values in the JVM's default time zone (pipeline/extract.py).
    # $SALES_LAKEHOUSE_JAVA_OPTS last: a flag given there wins over the same flag here.
    # The class-data archive, when `make archive` made one for this Java and these jars.
    java_opts = [
        "-Duser.timezone=UTC",
        *class_archive.java_options(),
        SHORT_LIVED_JAVA_OPTS if short_lived else "",
        os.environ.get("SALES_LAKEHOUSE_JAVA_OPTS", ""),
    ]
    conf["spark.driver.extraJavaOptions"] = " ".join(o for o in java_opts if o)
    return conf


def _scratch_folder(prefix: str) -> str:
    """A new temporary folder, removed when the process exits."""
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def build_session(
    settings: Settings, app_name: str = "sales-lakehouse", *, short_lived: bool = False
) -> SparkSession:
    """Reuse the active session (Glue, spark-submit) or start a local one with Delta.

    ``short_lived``: a local JVM for a command that reads and stops (``SHORT_LIVED_JAVA_OPTS``).
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is None and "PYSPARK_GATEWAY_PORT" in os.environ:
        # Under spark-submit (or Glue) the JVM is already up with the submitter's conf:
        # keep its master, packages and catalog, add only what the pipeline needs.
        active = SparkSession.builder.appName(app_name).getOrCreate()
    if active is not None:
        for key, value in RUNTIME_CONF.items():
            active.conf.set(key, value)
        return active

    builder = SparkSession.builder.appName(app_name).master(
        os.environ.get("SALES_LAKEHOUSE_MASTER", "local[*]")
    )
    for key, value in local_conf(settings, short_lived=short_lived).items():
        builder = builder.config(key, value)
    delta_jars = local_delta_jars()
    jars = delta_jars + local_jdbc_jars() + (local_s3a_jars() if uses_s3(settings) else [])
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    if not delta_jars:  # resolve io.delta:delta-spark with Ivy from Maven Central
        from delta import configure_spark_with_delta_pip

        builder = configure_spark_with_delta_pip(builder)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SALES_LAKEHOUSE_SPARK_LOG", "ERROR"))
    return spark


class JavaError(RuntimeError):
    """Java is missing or is not the version Spark 3.5 / Glue 5.1 runs on."""


def check_java(required: int = 17) -> None:
    """Fail with a clear message unless ``java`` (``$JAVA_HOME/bin/java`` first) is ``required``."""
    import re
    import shutil
    import subprocess

    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise JavaError(f"Java {required} is required but no 'java' was found (set JAVA_HOME)")
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', result.stderr + result.stdout)
    found = int(match.group(1)) if match else None
    if found != required:
        raise JavaError(f"Java {required} is required, {java} is version {found or 'unknown'}")


@contextmanager
def session_conf(spark: SparkSession, values: Mapping[str, str]) -> Iterator[None]:
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
