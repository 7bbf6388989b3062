"""Build the Spark session: local mode with Delta and a persistent catalog, or Glue's.

All Spark and Delta tuning lives here, in two dictionaries:

- ``RUNTIME_CONF``: SQL settings every session gets, local or on Glue/EMR (applied to the
  session Glue or spark-submit hands over, so they must be runtime-settable).
- ``LOCAL_CONF``: settings for a local session only, sized for a 2-core laptop: few
  shuffle partitions, small Delta snapshot partitioning, the UI off. On Glue/EMR the
  cluster's own defaults (executor count, shuffle partitions, memory) stay in charge.

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
from typing import TYPE_CHECKING

from sales_lakehouse.config import Settings, is_local

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
    "spark.driver.memory": "4g",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
}


DELTA_VERSION = "3.3.2"
DELTA_ARTIFACTS = (
    ("io/delta/delta-spark_2.12", "delta-spark_2.12"),
    ("io/delta/delta-storage", "delta-storage"),
)


def local_delta_jars() -> list[str]:
    """Delta's jars in the local Maven repository (``make jars`` puts them there), if all are."""
    from pathlib import Path

    repo = Path(os.environ.get("MAVEN_REPOSITORY", Path.home() / ".m2" / "repository"))
    jars = [
        repo / folder / DELTA_VERSION / f"{artifact}-{DELTA_VERSION}.jar"
        for folder, artifact in DELTA_ARTIFACTS
    ]
    return [str(jar) for jar in jars] if all(jar.is_file() for jar in jars) else []


def local_conf(settings: Settings) -> dict[str, str]:
    """Local-mode configuration, with the Hive/Derby catalog under the lake root."""
    conf = {**LOCAL_CONF, **RUNTIME_CONF}
    if is_local(settings.lake):
        catalog = settings.catalog_dir
        conf.update(
            {
                "spark.sql.catalogImplementation": "hive",
                "spark.sql.warehouse.dir": f"{catalog}/warehouse",
                "spark.hadoop.javax.jdo.option.ConnectionURL": (
                    f"jdbc:derby:;databaseName={catalog}/metastore_db;create=true"
                ),
                "spark.driver.extraJavaOptions": (
                    f"-Dderby.system.home={catalog} "
                    + os.environ.get("SALES_LAKEHOUSE_JAVA_OPTS", "")
                ).strip(),
            }
        )
    return conf


def build_session(settings: Settings, app_name: str = "sales-lakehouse") -> SparkSession:
    """Reuse the active session (Glue, spark-submit) or start a local one with Delta."""
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
    for key, value in local_conf(settings).items():
        builder = builder.config(key, value)
    if is_local(settings.lake):
        builder = builder.enableHiveSupport()
    jars = local_delta_jars()
    if jars:
        builder = builder.config("spark.jars", ",".join(jars))
    else:  # resolve io.delta:delta-spark with Ivy from Maven Central
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
    from pathlib import Path

    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).exists():
        raise JavaError(f"Java {required} is required but no 'java' was found (set JAVA_HOME)")
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)', result.stderr + result.stdout)
    found = int(match.group(1)) if match else None
    if found != required:
        raise JavaError(f"Java {required} is required, {java} is version {found or 'unknown'}")
