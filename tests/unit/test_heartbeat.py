"""The progress heartbeat reads Spark's own status tracker while a slow step runs."""

from __future__ import annotations

import re
import time

from pyspark.sql import SparkSession

from sales_lakehouse.pipeline.heartbeat import spark_heartbeat


def test_a_silent_step_reports_spark_stages_and_tasks(spark: SparkSession) -> None:
    lines: list[str] = []
    with spark_heartbeat(spark, lines.append, every=0.7) as progress:
        progress("silver sales: validating")
        # A real Spark job of 6 one-second tasks (pickled by value: stdlib only).
        spark.sparkContext.parallelize(range(6), 6).foreach(
            lambda _row: __import__("time").sleep(1.0)
        )
        progress("silver sales: done")
    assert lines[0] == "silver sales: validating"
    assert lines[-1] == "silver sales: done"
    beats = lines[1:-1]
    pattern = re.compile(
        r"^… silver sales: validating \((\d+) s\): "
        r"(between Spark jobs|Spark stage \d+ \(foreach\) (\d+)/6 tasks, \d+ running)$"
    )
    matched = [pattern.match(line) for line in beats]
    assert beats and all(matched), lines
    done = [int(m.group(3)) for m in matched if m and m.group(3) is not None]
    assert done, lines  # the job itself was seen, with its task counts
    assert done == sorted(done)
    elapsed = [int(m.group(1)) for m in matched if m]
    assert elapsed == sorted(elapsed)


def test_lines_between_steps_keep_it_quiet(spark: SparkSession) -> None:
    lines: list[str] = []
    with spark_heartbeat(spark, lines.append, every=5.0) as progress:
        progress("bronze sales: 8 files")
        time.sleep(1.5)
        progress("bronze products: 8 files")
    assert lines == ["bronze sales: 8 files", "bronze products: 8 files"]
