"""Kill ``sales-lakehouse run`` at chosen points and judge the lakes its reruns leave.

Shared by ``tests/integration/test_kill_rerun.py`` (a local lake) and
``tests/aws/test_s3a_kill_rerun.py`` (an ``s3a://`` lake on the moto server). The run is
the real CLI in a child process started in a session of its own, watched from outside:
nothing in the product knows. One ``SIGKILL`` to its process group takes the Python
driver and its JVM down together, as ``kill -9`` or the OOM killer would; at earlier
points the group is frozen instead while its lake is copied (see :class:`WatchedRun`),
so that one child JVM serves every point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from sales_lakehouse.contracts import load_contract
from sales_lakehouse.lake import Lake
from tests.generated_lake import FirstRun
from tests.integration.helpers import (
    TABLES,
    copy_lake,
    lake_of,
    multiset_difference,
    read_landing_csv,
    row_multiset,
    run_pipeline,
    stats,
    write_landing_csv,
)

# Columns a run stamps with its own id or clock: bronze's and silver's ``_run_id`` and
# ``_ingested_at`` (the run that ingested the row), quarantine's ``_quarantined_at`` (when
# silver rejected it). A row a killed run ingested keeps that run's stamps, so they differ
# from a clean run's. They are not dropped: a value the first run stamped must still be
# there (a rerun must not rewrite old rows), any other value only counts as "a later run".
# Gold stamps nothing and is compared whole.
STAMPS = ("_run_id", "_ingested_at", "_quarantined_at")
LATER_RUN = "<a later run>"
# silver.sales' ``_changed_at`` is a batch line's ``_ingested_at`` (an event's time for
# sale events: silver/sales.py), so it is compared as "its ingest time" or as its value.
CHANGED_AT, SAME_AS_INGEST = "_changed_at", "<its _ingested_at>"

Table = tuple[str, str]
FirstStamps = dict[Table, dict[str, list[str]]]

POLL_S = 0.02
# The batch: new lines under new order ids, and clean lines sent again, corrected.
INCREMENT = "sales/2099-03-01_sales_kill.csv"
NEW_LINES, RESENT = 200, 2
NEW_ORDER_PREFIX = "K-"


def first_run_stamps(lake: Lake) -> FirstStamps:
    """The stamp values each table holds before the increment (all of the first run)."""
    found: FirstStamps = {}
    for table in TABLES:
        df = lake.read(*table)
        stamps = [name for name in STAMPS if name in df.columns]
        if not stamps:
            continue
        rows = df.select(*[F.col(name).cast("string") for name in stamps]).distinct().collect()
        found[table] = {
            name: sorted({row[i] for row in rows if row[i] is not None})
            for i, name in enumerate(stamps)
        }
    return found


def _comparable_column(df: DataFrame, name: str, first: Mapping[str, list[str]]) -> Column:
    value = F.col(name)
    if name in STAMPS:
        known = value.cast("string").isin(first.get(name, [])) if first.get(name) else F.lit(False)
        return (
            F.when(value.isNull(), F.lit(None).cast("string"))
            .when(known, value.cast("string"))
            .otherwise(F.lit(LATER_RUN))
            .alias(name)
        )
    if name == CHANGED_AT and "_ingested_at" in df.columns:
        return (
            F.when(value == F.col("_ingested_at"), F.lit(SAME_AS_INGEST))
            .otherwise(value.cast("string"))
            .alias(name)
        )
    return value


def comparable(df: DataFrame, first: Mapping[str, list[str]]) -> DataFrame:
    """The table with its run stamps reduced to "the first run's value" or "a later run"."""
    return df.select(*[_comparable_column(df, name, first) for name in df.columns])


def lake_rows(lake: Lake, first: FirstStamps) -> dict[Table, Counter[Any]]:
    """Every data table of the lake as a row multiset, run stamps made comparable."""
    return {
        table: row_multiset(comparable(lake.read(*table), first.get(table, {}))) for table in TABLES
    }


def lake_differences(
    actual: Mapping[Table, Counter[Any]], clean: Mapping[Table, Counter[Any]]
) -> str:
    """Per table, how ``actual`` (left) differs from the clean run (right); '' when equal."""
    parts = []
    for table in TABLES:
        difference = multiset_difference(actual[table], clean[table])
        if difference:
            parts.append(f"{'.'.join(table)}:\n{difference}")
    return "\n".join(parts)


def increment_rows(run: FirstRun) -> list[dict[str, str]]:
    """A small sales batch: ``NEW_LINES`` landed lines under new order ids (their defects
    kept, so quarantine and the duplicate count get work too) and ``RESENT`` clean lines
    of another file sent again with one more unit (silver updates them, gold rebuilds
    their dates)."""
    columns = load_contract("sales").column_names
    files = sorted(run.report.files["sales"])
    reported = {
        (str(key[0]), int(key[1]))
        for entry in run.report.defects["sales"].values()
        for key in entry.keys
    }

    def contract_only(row: dict[str, str]) -> dict[str, str]:
        return {name: row.get(name) or "" for name in columns}

    rows = []
    for row in read_landing_csv(run.landing / files[2])[:NEW_LINES]:
        order_id = row["order_id"]
        new_id = f"{NEW_ORDER_PREFIX}{order_id}" if order_id else ""
        rows.append({**contract_only(row), "order_id": new_id})
    corrected = [
        row
        for row in read_landing_csv(run.landing / files[4])
        if row["line_number"].isdigit()  # a malformed line's fields are shifted
        and (row["order_id"], int(row["line_number"])) not in reported
        and row["quantity"].isdigit()
    ][:RESENT]
    assert len(corrected) == RESENT
    rows += [{**contract_only(row), "quantity": str(int(row["quantity"]) + 1)} for row in corrected]
    return rows


@contextmanager
def landed_increment(run: FirstRun) -> Iterator[Path]:
    """The batch in the shared landing folder for the duration of the block. Nested in a
    block that landed it already (the clean reference is built inside a test's block), it
    checks that the landed file is the batch and leaves it to the outer block."""
    rows = increment_rows(run)
    path = run.landing / INCREMENT
    if path.exists():
        assert read_landing_csv(path) == rows, f"{path} is not the batch"
        yield path
        return
    write_landing_csv(path, load_contract("sales").column_names, rows)
    try:
        yield path
    finally:
        path.unlink()


@dataclass(frozen=True)
class CleanRun:
    """The clean run's tables (run stamps made comparable) and the first run's stamps."""

    stamps: FirstStamps
    rows: dict[Table, Counter[Any]]


def clean_run(spark: SparkSession, run: FirstRun, lake_dir: Path, increment: Path) -> CleanRun:
    """Run the pipeline once, uninterrupted, over ``lake_dir`` (a copy of the first run's
    lake) with the batch landed; check that the batch gives every stage work."""
    summary = run_pipeline(spark, run.landing, lake_dir)
    silver = stats(summary, "silver", "sales")
    assert silver.rows_in == NEW_LINES + RESENT and silver.quarantined > 0, silver
    assert summary.gold_rows.get("fact_sales", 0) > 0, summary.gold_rows
    lake = lake_of(spark, run.landing, lake_dir)
    from_batch = lake.read("silver", "sales").filter(F.col("_source_file").endswith(increment.name))
    assert from_batch.filter(~F.col("order_id").startswith(NEW_ORDER_PREFIX)).count() == RESENT
    stamps = first_run_stamps(run.lake)
    return CleanRun(stamps, lake_rows(lake, stamps))


@pytest.fixture(scope="session")
def clean_reference(
    spark: SparkSession, first_run: FirstRun, tmp_path_factory: pytest.TempPathFactory
) -> CleanRun:
    """The clean reference of the kill tests, local and s3a: one uninterrupted run over a
    copy of the first run's lake with the batch landed. Both kill the same run (the same
    generated landing folder, the same batch, landed at the same path), and the reference
    is compared by table contents, which do not depend on where the lake is stored, so one
    session builds it once. Request it (``request.getfixturevalue``) once the watched run
    is started: it then builds while the watched run works in its own JVM."""
    lake_dir = copy_lake(first_run.lake_dir, tmp_path_factory.mktemp("clean") / "lake")
    with landed_increment(first_run) as increment:
        return clean_run(spark, first_run, lake_dir, increment)


def start_run(
    landing: str, lake: str, log: IO[str], env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """``sales-lakehouse run`` in a new session (its pid is its process group's id)."""
    cli = Path(sys.executable).parent / "sales-lakehouse"
    java_opts = os.environ.get("SALES_LAKEHOUSE_JAVA_OPTS", "-XX:+UseSerialGC")
    return subprocess.Popen(
        [str(cli), "run", "--landing", landing, "--lake", lake],
        env={
            **os.environ,
            "SPARK_LOCAL_IP": "127.0.0.1",
            # A run in a cold JVM: C1 only took ~100 CPU s for the whole incremental run
            # against ~145 s with C2 (it is the warm, shared session that C1 slows down).
            "SALES_LAKEHOUSE_JAVA_OPTS": f"{java_opts} -XX:TieredStopAtLevel=1",
            **(env or {}),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _group(pgid: int) -> list[tuple[int, str, str]]:
    """(pid, command name, state) of the processes of a process group that have not
    exited (from /proc; a zombie has exited)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, _ppid, group = stat[stat.rindex(")") + 2 :].split()[:3]
        if int(group) == pgid and state not in ("Z", "X"):
            members.append((int(entry.name), comm, state))
    return members


def _wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class WatchedRun:
    """``sales-lakehouse run`` in a child process group, watched from outside.

    ``stopped()`` freezes the whole group (SIGSTOP) while the caller copies the lake: the
    copy holds exactly what a SIGKILL at that moment would leave (what the processes had
    written is in the files; what they had not, a kill loses too), and the run then goes
    on. ``kill()`` ends it with SIGKILL. Every copy's lock names this run's pid, which is
    dead once it is killed, so a rerun of any copy takes the lock over as after a kill.
    """

    def __init__(self, landing: str, lake: str, log: Path, env: Mapping[str, str] | None = None):
        self.log = log
        with log.open("w") as out:
            self.child = start_run(landing, lake, out, env)
        self.pid = self.child.pid

    def output(self) -> str:
        return self.log.read_text()

    def wait_for(self, reached: Callable[[], bool], what: str, *, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not reached():
            if self.child.poll() is not None:
                raise AssertionError(
                    f"the run ended (exit {self.child.returncode}) before {what}:\n"
                    f"{self.output()[-4000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} after {timeout_s:.0f} s:\n{self.output()[-4000:]}")
            time.sleep(POLL_S)

    @contextmanager
    def stopped(self) -> Iterator[None]:
        os.killpg(self.pid, signal.SIGSTOP)
        try:
            frozen = _wait_until(
                lambda: all(state in "Tt" for _, _, state in _group(self.pid)), seconds=10
            )
            assert frozen, f"the run's processes did not stop: {_group(self.pid)}"
            yield
        finally:
            os.killpg(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the whole group; check that no process of it, the JVM above all, lives on."""
        java = [pid for pid, comm, _ in _group(self.pid) if comm == "java"]
        os.killpg(self.pid, signal.SIGKILL)
        self.child.wait()
        gone = _wait_until(lambda: not _group(self.pid), seconds=10)
        assert gone, f"survived the SIGKILL of the run's process group: {_group(self.pid)}"
        assert java, "no JVM in the run's process group when it was killed"

    def close(self) -> None:
        """Kill the run if a failed check left it running."""
        if self.child.poll() is None:
            os.killpg(self.pid, signal.SIGKILL)
            self.child.wait()


Point = tuple[str, Callable[[], bool]]  # a kill point's name, and whether the run is there


def stop_and_kill(
    watched: WatchedRun,
    points: Sequence[Point],
    snapshot: Callable[[str], None],
    *,
    timeout_s: float,
) -> Future[None]:
    """In a background thread: at each point but the last, freeze the run and call
    ``snapshot(name)`` (copy its lake); at the last, SIGKILL it. The future fails when a
    point is not reached or a check fails; the run never outlives it.

    In the background so that the run's JVM works while the test session's runs the clean
    reference: on two cores the two mostly overlap.
    """

    def watch() -> None:
        try:
            for name, reached in points[:-1]:
                watched.wait_for(reached, name, timeout_s=timeout_s)
                with watched.stopped():
                    snapshot(name)
            name, reached = points[-1]
            watched.wait_for(reached, name, timeout_s=timeout_s)
            watched.kill()
        finally:
            watched.close()

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kill-points")
    future = pool.submit(watch)
    pool.shutdown(wait=False)  # the thread ends with ``watch``
    return future


def run_all(
    landing: str,
    lakes: Mapping[str, str],
    logs: Path,
    env: Mapping[str, str] | None = None,
    *,
    timeout_s: float,
) -> dict[str, str]:
    """One whole ``sales-lakehouse run`` over each lake, side by side (reruns the test
    session cannot run itself: s3a); their outputs, by the lakes' names."""
    children = {}
    for name, lake in lakes.items():
        with (logs / f"{name}.log").open("w") as out:
            children[name] = start_run(landing, lake, out, env)
    deadline = time.monotonic() + timeout_s
    try:
        codes = {
            name: child.wait(timeout=max(deadline - time.monotonic(), 1))
            for name, child in children.items()
        }
    finally:
        for child in children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
    outputs = {name: (logs / f"{name}.log").read_text() for name in lakes}
    for name, code in codes.items():
        assert code == 0, f"the run over {name} failed (exit {code}):\n{outputs[name][-4000:]}"
    return outputs
