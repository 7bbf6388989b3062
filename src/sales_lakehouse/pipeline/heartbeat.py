"""Never silent for minutes: while a step runs, say what Spark is doing.

The pipeline prints a line when a step starts (``silver sales: validating …``). A step can
then run for minutes in Spark without a word. :func:`spark_heartbeat` wraps the progress
sink: after ``every`` seconds without a line it prints what the running step is doing,
read from Spark's own status tracker (no extra Spark job):

    … silver sales: validating (62 s): Spark stage 14 (mergeInto at …) 37/200 tasks, 2 running

At most one such line every ``every`` seconds: 5 s on a terminal, 15 s in a log.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from sales_lakehouse.background import repeating
from sales_lakehouse.pipeline.summary import Progress

TERMINAL_SECONDS = 5.0
LOG_SECONDS = 15.0


def spark_activity(spark: SparkSession) -> str:
    """The running Spark stages as ``stage N (name) done/total tasks, k running``, or ''."""
    tracker = spark.sparkContext.statusTracker()
    parts = []
    for stage_id in sorted(tracker.getActiveStageIds()):
        info = tracker.getStageInfo(stage_id)
        if info is None:
            continue
        name = info.name.split(" at ", 1)[0]
        parts.append(
            f"Spark stage {stage_id} ({name}) {info.numCompletedTasks}/{info.numTasks} tasks, "
            f"{info.numActiveTasks} running"
        )
    return "; ".join(parts)


@dataclass
class _Step:
    """The step the pipeline last announced, and when a line was last printed."""

    line: str = ""
    since: float = field(default_factory=time.monotonic)
    said: float = field(default_factory=time.monotonic)


@contextmanager
def spark_heartbeat(
    spark: SparkSession, progress: Progress, every: float | None = None
) -> Iterator[Progress]:
    """A progress sink that passes lines on and, between them, reports Spark's progress."""
    if every is None:
        every = TERMINAL_SECONDS if sys.stdout.isatty() else LOG_SECONDS
    lock = threading.Lock()
    state = _Step()

    def sink(line: str) -> None:
        with lock:
            state.line, state.since = line, time.monotonic()
            state.said = state.since
            progress(line)

    def watch() -> bool:
        with lock:
            now = time.monotonic()
            if now - state.said < every or not state.line:
                return True
            state.said = now
            step, since = state.line, state.since
        activity = spark_activity(spark) or "between Spark jobs"
        with lock:
            # A line the pipeline printed while Spark was asked makes this one stale: a
            # report of the step before must not follow the line of the next.
            if state.since == since:
                progress(f"… {step} ({now - since:.0f} s): {activity}")
        return True

    with repeating(min(1.0, every), watch, "spark-heartbeat"):
        yield sink
