"""Kill ``sales-lakehouse run`` at any point, rerun, same result (issue #18).

A small sales batch lands beside the generated set (``interrupt.increment_rows``). The
clean reference is a copy of the first run's lake plus one uninterrupted run over it
(``interrupt.clean_reference``: built once per session, shared with the s3a test).

One real ``sales-lakehouse run`` over another copy is watched from outside, with no hook
in the product: the test polls the lake and, at each kill point (a table's next Delta
commit file, or a data file a stage is writing before that commit), freezes the run's
whole process group (SIGSTOP) and copies the lake, which is then exactly what a SIGKILL at
that moment would have left; at the last point it kills the group with SIGKILL, JVM
included. One child JVM serves every point; each test reruns (in-process) the lake of its
point and compares every data table with the clean run's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sales_lakehouse.config import Settings
from sales_lakehouse.contracts import load_contract
from sales_lakehouse.lake.lock import LOCK_NAME
from sales_lakehouse.pipeline import run
from tests.integration.conftest import FirstRun
from tests.integration.helpers import (
    copy_lake,
    lake_of,
    multiset_difference,
    quiet,
    read_landing_csv,
    row_multiset,
    write_landing_csv,
)
from tests.integration.interrupt import (
    INCREMENT,
    CleanRun,
    Table,
    WatchedRun,
    lake_differences,
    lake_rows,
    landed_increment,
    stop_and_kill,
)

pytestmark = pytest.mark.integration

RUN_TIMEOUT_S = 900


def _version(lake: Path, table: Table) -> int:
    """The table's latest commit, from the file names in its log (-1: no table)."""
    log = lake.joinpath(*table, "_delta_log")
    names = [p.name for p in log.glob("*.json")] if log.is_dir() else []
    return max((int(name[:20]) for name in names if name[:20].isdigit()), default=-1)


def _data_files(lake: Path, table: Table) -> set[str]:
    folder = lake.joinpath(*table)
    return {p.name for p in folder.glob("*.parquet")} if folder.is_dir() else set()


@dataclass(frozen=True)
class KillPoint:
    """Right after ``table``'s next commit, or (``writing``) as soon as a new data file
    appears in it, before that commit. ``untouched``: the table the run commits next,
    which the kill must come before."""

    name: str
    table: Table
    untouched: Table
    writing: bool = False

    def watch(self, lake: Path) -> Callable[[], bool]:
        """Whether a run started now over ``lake`` has reached the point."""
        if self.writing:
            before = _data_files(lake, self.table)
            return lambda: bool(_data_files(lake, self.table) - before)
        version = _version(lake, self.table) + 1
        return lake.joinpath(*self.table, "_delta_log", f"{version:020d}.json").exists


# In the order a run reaches them: bronze appends the batch; silver commits quarantine,
# then silver.sales (MERGE), then its watermark; gold replaces fact_sales, then the others.
POINTS = (
    KillPoint("bronze-writing", ("bronze", "sales"), ("bronze", "sales"), writing=True),
    KillPoint("quarantine-appended", ("quarantine", "sales"), ("silver", "sales")),
    KillPoint("silver-merged", ("silver", "sales"), ("meta", "watermarks")),
    KillPoint("gold-writing", ("gold", "fact_sales"), ("gold", "fact_sales"), writing=True),
    KillPoint("gold-fact-replaced", ("gold", "fact_sales"), ("gold", "daily_sales")),
)


@pytest.fixture(scope="module")
def increment(first_run: FirstRun) -> Iterator[Path]:
    """The batch, in the shared landing folder for this module's tests only."""
    with landed_increment(first_run) as path:
        yield path


@dataclass(frozen=True)
class Killed:
    """The run watched over a copy of the first run's lake: its pid, and the lakes it left
    at the points (filled in as it reaches them)."""

    pid: int
    done: Future[None]
    lakes: dict[str, Path]
    untouched: dict[str, int]

    def result(self) -> dict[str, Path]:
        """The lake of each point, once the run is killed; checks the lakes once."""
        self.done.result()
        for point in POINTS:
            lake = self.lakes[point.name]
            assert _version(lake, point.untouched) == self.untouched[point.name], (
                f"{point.name}: the run had gone on to commit {'.'.join(point.untouched)}"
            )
            holder = json.loads((lake / LOCK_NAME).read_text())
            assert holder["pid"] == self.pid, f"{point.name}: the lock is not the run's"
        return self.lakes


@pytest.fixture(scope="module")
def killed(
    first_run: FirstRun, increment: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Killed]:
    del increment  # landed for the watched run
    root = tmp_path_factory.mktemp("killed")
    lake = copy_lake(first_run.lake_dir, root / "lake")
    points = [(point.name, point.watch(lake)) for point in POINTS]
    untouched = {point.name: _version(lake, point.untouched) for point in POINTS}
    lakes = {POINTS[-1].name: lake}  # killed there: the lake itself

    def snapshot(name: str) -> None:
        lakes[name] = copy_lake(lake, root / name)

    watched = WatchedRun(str(first_run.landing), str(lake), root / "run.log")
    done = stop_and_kill(watched, points, snapshot, timeout_s=RUN_TIMEOUT_S)
    yield Killed(watched.pid, done, lakes, untouched)
    watched.close()


@pytest.fixture(scope="module")
def clean(killed: Killed, request: pytest.FixtureRequest) -> CleanRun:
    """The clean reference (``interrupt.clean_reference``, shared with the s3a test): when
    this session has not built it yet, built here while the watched run works in its own
    JVM."""
    del killed  # started first
    reference: CleanRun = request.getfixturevalue("clean_reference")
    return reference


@pytest.mark.parametrize("point", POINTS, ids=[point.name for point in POINTS])
def test_rerun_after_a_kill_equals_the_clean_run(
    spark: SparkSession,
    first_run: FirstRun,
    clean: CleanRun,
    killed: Killed,
    point: KillPoint,
    tmp_path: Path,
) -> None:
    lake_dir = copy_lake(killed.result()[point.name], tmp_path / "lake")
    said: list[str] = []
    run(spark, Settings(landing=str(first_run.landing), lake=str(lake_dir)), progress=said.append)

    # The killed run's lock was left behind; its process is gone, so the rerun took it over.
    taken = [line for line in said if line.startswith("lock: took over")]
    assert len(taken) == 1 and f"its process {killed.pid} " in taken[0], said
    assert not (lake_dir / LOCK_NAME).exists()
    actual = lake_rows(lake_of(spark, first_run.landing, lake_dir), clean.stamps)
    difference = lake_differences(actual, clean.rows)
    assert not difference, (
        f"killed at {point.name}, then rerun: tables differ from the clean run "
        f"(left: rerun, right: clean)\n{difference}"
    )


# Lands after the kill, before the rerun: the rerun's silver batch is then larger than the
# killed run's. Lines of another generated file under new order ids, defects kept.
LATER_FILE, LATER_LINES, LATER_PREFIX = "sales/2099-03-02_sales_later.csv", 60, "L-"


def _quarantined(table: DataFrame, name: str) -> DataFrame:
    """Quarantine rows of one landed file, without the run stamps."""
    return table.filter(F.col("_source_file").endswith(name)).drop(
        "_quarantined_at", "_run_id", "_ingested_at"
    )


def test_a_file_landed_before_the_rerun_does_not_repeat_quarantined_rows(
    spark: SparkSession, first_run: FirstRun, killed: Killed, tmp_path: Path
) -> None:
    """Killed after silver's quarantine commit, before its MERGE and watermark: the rerun
    validates the killed batch again, with a file landed since. Each bad line of the
    killed batch stays in quarantine once (found by this test: it was there twice)."""
    lake_dir = copy_lake(killed.result()["quarantine-appended"], tmp_path / "lake")
    before = lake_of(spark, first_run.landing, lake_dir).read("quarantine", "sales")
    committed = row_multiset(_quarantined(before, Path(INCREMENT).name))
    assert committed, "the killed run had committed no quarantine rows of its batch"

    columns = load_contract("sales").column_names
    source = sorted(first_run.report.files["sales"])[3]
    later = [
        {**row, "order_id": f"{LATER_PREFIX}{row['order_id']}" if row["order_id"] else ""}
        for row in read_landing_csv(first_run.landing / source)[:LATER_LINES]
    ]
    path = write_landing_csv(
        first_run.landing / LATER_FILE,
        columns,
        [{c: r.get(c) or "" for c in columns} for r in later],
    )
    try:
        run(spark, Settings(landing=str(first_run.landing), lake=str(lake_dir)), progress=quiet)
    finally:
        path.unlink()

    after = lake_of(spark, first_run.landing, lake_dir).read("quarantine", "sales")
    again = row_multiset(_quarantined(after, Path(INCREMENT).name))
    difference = multiset_difference(again, committed)
    assert not difference, f"quarantine rows of the killed batch after the rerun:\n{difference}"
    assert _quarantined(after, Path(LATER_FILE).name).count() > 0, "the later file's bad lines"
