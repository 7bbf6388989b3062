"""The job scripts under ``spark-submit`` on a Spark standalone cluster, end to end.

A master and two workers (1 core, 1 GiB each) run on 127.0.0.1 from pyspark's own jars.
The five Spark jobs of the Glue workflow are submitted to that master one after another,
in the workflow's order, against a generated landing set and a local lake folder; the
commands are the ones docs/spark-submit.md shows. The test proves that the work ran in the
cluster's executors and not in a local JVM: the master lists every submit as a finished
application, both workers list an executor of it, and the executor logs in both workers'
work directories show tasks that finished there. The lake is then checked against the
generator's report, read with delta-rs: no Spark runs in the test process itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyspark
import pytest
from deltalake import DeltaTable

from sales_lakehouse.runtime import class_archive
from sales_lakehouse.runtime.session import (
    DELTA_CATALOG,
    DELTA_EXTENSION,
    DELTA_VERSION,
    local_delta_jars,
)
from sales_lakehouse_tools.generate import GenerationReport, generate_landing

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
SPARK_HOME = Path(pyspark.__file__).resolve().parent
# The Glue workflow's order (docs/aws.md, "Workflow order"), with each job's app name.
JOBS = {
    "bronze_ingest": "sales-lakehouse-bronze",
    "silver_products": "sales-lakehouse-silver",
    "silver_promotions": "sales-lakehouse-silver",
    "silver_sales": "sales-lakehouse-silver",
    "gold_sales": "sales-lakehouse-gold",
}
WORKERS = 2
LINES = 2000
SEED = 11
# Sales defect kinds of the generator's report that do not end in quarantine: lines kept
# for a product or promotion that may arrive later, and copies resolved as duplicates.
KEPT_KINDS = frozenset({"unknown_product", "unknown_promotion"})
DUPLICATE_KINDS = frozenset({"exact_duplicate", "corrected_resend"})
SUBMIT_TIMEOUT = 300
# Every JVM here lives a minute or two: C1 alone halved the CPU time of a job's driver
# (silver_products: 28 s against 55 s of user time, 55 s against 100 s of wall time with
# other work on the 2 cores), which matters more than C2's faster code on this small data.
# They start from the class-data archive of `make archive` too, when there is one: the
# daemons, drivers and executors have pyspark's class path (runtime/class_archive.py).
JAVA_OPTS = " ".join(["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", *class_archive.java_options()])
# Sized for 2 cores and 2 single-core executors; the Delta settings are the job's own.
SUBMIT_CONF = {
    "spark.sql.extensions": DELTA_EXTENSION,
    "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
    "spark.executor.cores": "1",
    "spark.executor.memory": "1g",
    "spark.cores.max": str(WORKERS),
    # Start no job before both executors are up, so that both get tasks.
    "spark.scheduler.minRegisteredResourcesRatio": "1.0",
    "spark.scheduler.maxRegisteredResourcesWaitingTime": "60s",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": JAVA_OPTS,
    "spark.executor.extraJavaOptions": JAVA_OPTS,
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _command(args: list[str]) -> list[str]:
    """``args`` such that the process gets SIGTERM when the test process ends.

    A pytest that is killed runs no fixture teardown; util-linux's ``setpriv`` (where it
    exists) keeps the cluster from outliving it even then.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *args] if setpriv else args


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the process and everything it started (its own process group)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return  # nothing of the group is left
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _spark_env() -> dict[str, str]:
    """The environment of the daemons and of spark-submit: pyspark's Spark, the venv's
    Python on the driver and the executors, and nothing of a session in this process."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYSPARK_", "_PYSPARK", "SPARK_", "SALES_LAKEHOUSE_"))
    }
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    return env


@dataclass
class Cluster:
    """A running standalone cluster: its master URL, JSON endpoints and work directories."""

    master_url: str
    master_json: str
    worker_json: list[str]
    work_dirs: list[Path]

    def apps(self) -> dict[str, dict[str, Any]]:
        """The master's completed applications by id."""
        return {app["id"]: app for app in _json(self.master_json)["completedapps"]}

    def finished_executors(self, worker: int, app_id: str) -> list[dict[str, Any]]:
        state = _json(self.worker_json[worker])
        return [e for e in state["finishedexecutors"] if e["appid"] == app_id]


def _start(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            _command([str(SPARK_HOME / "bin" / "spark-class"), *args]),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A master and two workers on 127.0.0.1; stopped (with their executors) at the end."""
    root = tmp_path_factory.mktemp("cluster")
    env = {
        **_spark_env(),
        "SPARK_DAEMON_MEMORY": "256m",
        "SPARK_DAEMON_JAVA_OPTS": JAVA_OPTS,
    }
    port, ui_port = _free_port(), _free_port()
    master_url = f"spark://127.0.0.1:{port}"
    worker_ports = [_free_port() for _ in range(WORKERS)]
    work_dirs = [root / f"worker{i}" for i in range(WORKERS)]
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        master_log = root / "master.log"
        master_args = ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1"]
        master_args += ["--port", str(port), "--webui-port", str(ui_port)]
        processes.append((_start(master_args, master_log, env), master_log))
        for work_dir, worker_port in zip(work_dirs, worker_ports, strict=True):
            work_dir.mkdir()
            log = root / f"{work_dir.name}.log"
            args = ["org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1"]
            args += ["--cores", "1", "--memory", "1g", "--webui-port", str(worker_port)]
            args += ["--work-dir", str(work_dir)]
            processes.append((_start(args, log, env), log))
        master_json = f"http://127.0.0.1:{ui_port}/json/"
        deadline = time.monotonic() + 120
        while True:
            dead = [(p, log) for p, log in processes if p.poll() is not None]
            if dead:
                pytest.fail(f"a cluster daemon exited:\n{_tail(dead[0][1])}")
            try:
                if _json(master_json)["aliveworkers"] == WORKERS:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no {WORKERS} workers after 120 s:\n{_tail(master_log)}")
            time.sleep(0.5)
        yield Cluster(
            master_url=master_url,
            master_json=master_json,
            worker_json=[f"http://127.0.0.1:{p}/json/" for p in worker_ports],
            work_dirs=work_dirs,
        )
    finally:
        # Workers first (their executors go with them), then the master.
        for process, _log in reversed(processes):
            _stop(process)


def _submit_args(cluster: Cluster, job: str, landing: Path, lake: Path) -> list[str]:
    jars = local_delta_jars()  # without `make jars`, Ivy fetches Delta, as session.py would
    classpath = (
        ["--jars", ",".join(jars)]
        if jars
        else ["--packages", f"io.delta:delta-spark_2.12:{DELTA_VERSION}"]
    )
    conf = {**SUBMIT_CONF, "spark.pyspark.python": sys.executable}
    conf["spark.sql.warehouse.dir"] = str(lake.parent / "spark-warehouse")
    return [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--master",
        cluster.master_url,
        *classpath,
        *(item for key, value in conf.items() for item in ("--conf", f"{key}={value}")),
        str(ROOT / "jobs" / f"{job}.py"),
        "--landing",
        str(landing),
        "--lake",
        str(lake),
    ]


@dataclass
class Submitted:
    """One job's spark-submit: its output and the application the master recorded."""

    job: str
    stdout: str
    app: dict[str, Any]


@dataclass
class PipelineRun:
    landing: Path
    lake: Path
    report: GenerationReport
    submits: list[Submitted]

    def output(self, job: str) -> str:
        return next(s.stdout for s in self.submits if s.job == job)


def _submit(cluster: Cluster, job: str, landing: Path, lake: Path) -> Submitted:
    """spark-submit one job script (in its own folder, as a fresh driver) and wait for it."""
    run_dir = lake.parent / "submits" / job
    run_dir.mkdir(parents=True)
    before = set(cluster.apps())
    stdout, stderr = run_dir / "stdout", run_dir / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            _command(_submit_args(cluster, job, landing, lake)),
            cwd=run_dir,
            stdout=out,
            stderr=err,
            env=_spark_env(),
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=SUBMIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            _stop(process)
            pytest.fail(f"{job}: spark-submit took over {SUBMIT_TIMEOUT} s:\n{_tail(stderr)}")
    assert code == 0, f"{job}: spark-submit exited {code}:\n{_tail(stdout)}\n{_tail(stderr)}"
    deadline = time.monotonic() + 30
    while not (new := [app for key, app in cluster.apps().items() if key not in before]):
        assert time.monotonic() < deadline, f"{job}: the master lists no finished application"
        time.sleep(0.5)
    assert len(new) == 1, f"{job}: several new applications {[a['id'] for a in new]}"
    return Submitted(job=job, stdout=stdout.read_text(encoding="utf-8"), app=new[0])


@pytest.fixture(scope="module")
def pipeline(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> PipelineRun:
    """A generated landing set, then every workflow job submitted to the cluster in order."""
    root = tmp_path_factory.mktemp("submitted")
    landing, lake = root / "landing", root / "lake"
    generate_landing(landing, lines=LINES, seed=SEED)
    submits = [_submit(cluster, job, landing, lake) for job in JOBS]
    report = GenerationReport.model_validate_json(
        (landing / "_generation_report.json").read_text(encoding="utf-8")
    )
    return PipelineRun(landing=landing, lake=lake, report=report, submits=submits)


def _count(stderr: Path, pattern: str) -> int:
    text = stderr.read_text(encoding="utf-8", errors="replace") if stderr.exists() else ""
    return text.count(pattern)


def test_every_job_ran_in_executors_on_both_workers(
    cluster: Cluster, pipeline: PipelineRun
) -> None:
    assert [s.app["name"] for s in pipeline.submits] == list(JOBS.values())
    python_runs = [0] * WORKERS
    for submitted in pipeline.submits:
        app_id = submitted.app["id"]
        assert submitted.app["state"] == "FINISHED", submitted.app
        assert submitted.app["cores"] == WORKERS, submitted.app
        for worker, work_dir in enumerate(cluster.work_dirs):
            deadline = time.monotonic() + 30
            while not (executors := cluster.finished_executors(worker, app_id)):
                assert time.monotonic() < deadline, f"{submitted.job}: no executor on {work_dir}"
                time.sleep(0.5)
            logs = [work_dir / app_id / str(e["id"]) / "stderr" for e in executors]
            tasks = sum(_count(log, "Executor: Finished task") for log in logs)
            assert tasks > 0, f"{submitted.job}: no task finished in {work_dir.name}'s executor"
            python_runs[worker] += sum(_count(log, "PythonRunner: Times:") for log in logs)
    # Local rows become DataFrames through a Python RDD (watermarks, quality results):
    # the executors of both workers started Python workers with spark.pyspark.python.
    assert all(python_runs), f"Python workers ran per worker: {python_runs}"


def _silver_sales_counts(output: str) -> dict[str, int]:
    """rows in, accepted, quarantined and duplicates from the job's summary table."""
    for line in output.splitlines():
        fields = line.split()
        if fields[:2] == ["silver", "sales"]:
            names = ("rows_in", "accepted", "quarantined", "duplicates")
            return dict(zip(names, map(int, fields[3:7]), strict=True))
    raise AssertionError(f"no silver sales line in the summary:\n{output}")


def test_silver_sales_accounts_for_every_landed_row(pipeline: PipelineRun) -> None:
    report = pipeline.report
    counts = _silver_sales_counts(pipeline.output("silver_sales"))
    defects = report.defects["sales"]
    assert set(defects) >= DUPLICATE_KINDS | KEPT_KINDS
    assert counts == {
        "rows_in": report.rows["sales"],
        "accepted": report.expected_valid_keys["sales"],
        "quarantined": sum(
            entry.count
            for kind, entry in defects.items()
            if kind not in DUPLICATE_KINDS | KEPT_KINDS
        ),
        "duplicates": sum(defects[kind].count for kind in DUPLICATE_KINDS),
    }
    assert counts["rows_in"] == counts["accepted"] + counts["quarantined"] + counts["duplicates"]
    silver = DeltaTable(str(pipeline.lake / "silver" / "sales"))
    assert silver.to_pyarrow_table(columns=["order_id"]).num_rows == counts["accepted"]


def _net_total(table: DeltaTable, status: str | None = None) -> tuple[int, Decimal]:
    columns = ["net_amount"] + (["line_status"] if status else [])
    rows = table.to_pyarrow_table(columns=columns).to_pylist()
    amounts = [r["net_amount"] for r in rows if status is None or r["line_status"] == status]
    return len(amounts), sum(amounts, Decimal(0))


def test_gold_fact_sales_holds_the_sold_lines_of_silver(pipeline: PipelineRun) -> None:
    lines, total = _net_total(DeltaTable(str(pipeline.lake / "gold" / "fact_sales")))
    sold_lines, sold_total = _net_total(
        DeltaTable(str(pipeline.lake / "silver" / "sales")), status="sold"
    )
    assert lines > 0
    assert (lines, total) == (sold_lines, sold_total)
