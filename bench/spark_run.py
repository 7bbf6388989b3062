"""The pipeline under test: each stage of each phase run and timed in one Spark session.

Every stage is a real ``sales_lakehouse.pipeline.run(spark, settings, stage=…)`` and ends
with its Delta commits, so its time includes the writes. Table versions before and after
each stage are read from the ``_delta_log`` folders (no Spark job), so the commits a stage
made can be looked up afterwards with an independent reader.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from bench.memory import PeakMemory
from sales_lakehouse.config import Settings
from sales_lakehouse.lake import Lake
from sales_lakehouse.pipeline import DATA_TABLES, RunSummary, run
from sales_lakehouse.pipeline.maintenance import maintain
from sales_lakehouse.pipeline.summary import Progress
from sales_lakehouse.runtime.session import session_conf

TABLES: tuple[tuple[str, str], ...] = (
    *DATA_TABLES,
    ("meta", "watermarks"),
    ("quality", "dq_results"),
)
PIPELINE_STAGES = ("bronze", "silver", "gold")
MAINTAINED = ("silver", "gold")


def delta_version(lake: Path, layer: str, name: str) -> int:
    """The table's latest committed version from its log folder; -1 when there is none."""
    log = lake / layer / name / "_delta_log"
    versions = [int(path.stem) for path in log.glob("*.json") if path.stem.isdigit()]
    return max(versions, default=-1)


def versions(lake: Path) -> dict[str, int]:
    return {f"{layer}.{name}": delta_version(lake, layer, name) for layer, name in TABLES}


@dataclass
class StageRun:
    """One timed stage: seconds, rows it processed, peak memory, table versions it made."""

    phase: str
    stage: str
    seconds: float
    rows: int
    peak_bytes: int
    before: dict[str, int] = field(default_factory=dict)
    # Spark jobs the stage ran, and the JVM's peak heap / off-heap bytes during it.
    jobs: int = 0
    jvm: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    # Peak resident bytes of the Python driver alone and of the JVM alone.
    python_peak_bytes: int = 0
    jvm_rss_peak_bytes: int = 0
    commits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> dict[str, tuple[int, int]]:
        """Tables this stage committed to: (version before, version after)."""
        return {
            table: (self.before.get(table, -1), version)
            for table, version in self.after.items()
            if version > self.before.get(table, -1)
        }


def jobs_submitted(spark: SparkSession) -> int:
    """Spark jobs submitted so far in this session: the DAG scheduler's job id counter.

    Counts every job, also those Delta starts from its own threads (which a job group set
    on this thread would miss).
    """
    return int(spark.sparkContext._jsc.sc().dagScheduler().nextJobId())


def _memory_pools(spark: SparkSession) -> list[Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    return list(jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans())


def reset_jvm_peaks(spark: SparkSession) -> None:
    """Start a new peak window for every JVM memory pool."""
    for pool in _memory_pools(spark):
        pool.resetPeakUsage()


def jvm_peaks(spark: SparkSession) -> dict[str, int]:
    """The JVM's memory since :func:`reset_jvm_peaks`: peak heap and non-heap (metaspace,
    code cache) as the pools report them, and NIO direct buffers now (no peak is kept).

    Pool peaks are per pool, so their sum can exceed the heap's true peak (the pools do
    not peak at the same moment): an upper bound, good for placing a regression. The
    process RSS (``PeakMemory``) also holds what no pool counts: thread stacks, the JIT,
    GC structures, and native buffers of Parquet's codecs.
    """
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    heap = nonheap = 0
    for pool in _memory_pools(spark):
        used = int(pool.getPeakUsage().getUsed())
        if str(pool.getType().toString()) == "Heap memory":
            heap += used
        else:
            nonheap += used
    direct = 0
    buffers = jvm.java.lang.management.ManagementFactory.getPlatformMXBeans(
        jvm.java.lang.management.BufferPoolMXBean._java_lang_class
    )
    for pool in buffers:
        direct += int(pool.getMemoryUsed())
    runtime = jvm.java.lang.Runtime.getRuntime()
    return {
        "heap_peak": heap,
        "heap_max": int(runtime.maxMemory()),
        "nonheap_peak": nonheap,
        "direct": direct,
    }


def stage_rows(stage: str, summary: RunSummary) -> int:
    """Rows a stage handled: rows in for bronze and silver, rows written for gold."""
    if stage == "gold":
        return sum(summary.gold_rows.values())
    return sum(s.rows_in for s in summary.stats if s.stage == stage)


class SparkBench:
    """Runs and times pipeline stages on one lake, recording memory and versions."""

    def __init__(self, landing: Path, lake: Path, memory: PeakMemory, progress: Progress):
        self.landing, self.lake, self.memory, self.progress = landing, lake, memory, progress
        self.spark: SparkSession | None = None
        self.driver_memory = ""
        self.runs: list[StageRun] = []

    def settings(self) -> Settings:
        """Fresh settings: a new run id and ingest time, as a new scheduled run would have."""
        return Settings(landing=str(self.landing), lake=str(self.lake))

    def start(self) -> StageRun:
        """Start the session (JVM, Delta jars, catalog) and time it."""
        from sales_lakehouse.runtime.session import build_session

        self.memory.take()
        started = time.perf_counter()
        self.spark = build_session(self.settings(), app_name="sales-lakehouse-bench")
        seconds = time.perf_counter() - started
        self.driver_memory = self.spark.sparkContext.getConf().get("spark.driver.memory", "")
        result = StageRun("initial", "session", seconds, 0, self.memory.take())
        self.runs.append(result)
        return result

    def _timed(
        self, phase: str, stage: str, action: Callable[[], RunSummary | int]
    ) -> tuple[StageRun, RunSummary | int]:
        assert self.spark is not None
        before = versions(self.lake)
        reset_jvm_peaks(self.spark)
        self.memory.take()
        jobs_before = jobs_submitted(self.spark)
        started = time.perf_counter()
        outcome = action()
        seconds = time.perf_counter() - started
        rows = outcome if isinstance(outcome, int) else stage_rows(stage, outcome)
        result = StageRun(phase, stage, seconds, rows, self.memory.take(), before)
        result.python_peak_bytes = self.memory.last_self_peak
        result.jvm_rss_peak_bytes = self.memory.last_children_peak
        result.jobs = jobs_submitted(self.spark) - jobs_before
        result.jvm = jvm_peaks(self.spark)
        result.after = versions(self.lake)
        self.runs.append(result)
        self.progress(f"{phase:8} {stage:8} {seconds:8.2f} s  {rows} rows  {result.jobs} jobs")
        return result, outcome

    def phase(self, phase: str) -> list[StageRun]:
        """Bronze, silver and gold of one scheduled run, each timed on its own."""
        assert self.spark is not None
        settings, spark, results = self.settings(), self.spark, []
        for stage in PIPELINE_STAGES:
            action = partial(run, spark, settings, stage=stage, progress=self.quiet)
            result, summary = self._timed(phase, stage, action)
            if isinstance(summary, RunSummary) and summary.errors:
                raise RuntimeError(f"{phase} {stage} failed: {summary.errors}")
            results.append(result)
        return results

    def gold_rebuild(self, label: str, conf: dict[str, str]) -> StageRun:
        """A full gold rebuild with ``conf`` set for its duration (an A/B measurement)."""
        assert self.spark is not None
        spark = self.spark
        with session_conf(spark, conf):
            settings = self.settings()
            result, _ = self._timed(
                f"ab:{label}",
                "gold",
                lambda: run(spark, settings, stage="gold", full_refresh=True, progress=self.quiet),
            )
        return result

    def maintenance(self) -> tuple[StageRun, list[dict[str, Any]]]:
        """OPTIMIZE + VACUUM (168 h, so nothing recent is deleted) of the silver and gold
        tables and the watermark log every run reads, timed."""
        assert self.spark is not None
        lake = Lake(self.spark, self.settings())
        present = [
            t
            for t in TABLES
            if (t[0] in MAINTAINED or t == ("meta", "watermarks"))
            and delta_version(self.lake, *t) >= 0
        ]
        done: list[Any] = []

        def work() -> int:
            done.extend(maintain(lake, tables=present, progress=self.quiet))
            return sum(item.files_before for item in done)

        result, _ = self._timed("maint", "optimize", work)
        tables = [
            {
                "table": item.table,
                "files_before": item.files_before,
                "files_after": item.files_after,
                "metrics": {k: v for k, v in item.metrics.items() if isinstance(v, int | float)},
            }
            for item in done
        ]
        return result, tables

    def stop(self) -> None:
        if self.spark is not None:
            self.spark.stop()
            self.spark = None

    def quiet(self, message: str) -> None:
        """Pipeline progress lines, indented under the benchmark's own."""
        self.progress(f"    {message}")
