"""``python -m bench``: generate, run every stage timed, run the reference, verify, report.

One process, in this order: generate (or reuse) the landing set and build the increment
files; start Spark and run the initial build, a one-day increment and a 30-day increment
stage by stage, then the A/B gold rebuilds and maintenance; stop Spark; run the DuckDB
reference over the same files phase by phase, each followed by the comparison with our
tables read through delta-rs; write the results. Exit code 1 when any table differs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from bench.landing import (
    Increment,
    IncrementSpec,
    base_landing,
    build_increments,
    link_landing,
    read_sales_rows,
    sales_columns,
    write_increment,
)
from bench.memory import PeakMemory
from bench.reference import Reference, ReferenceTimes
from bench.report import GIB, simple_table, stage_table, write_results
from bench.spark_run import SparkBench, StageRun
from bench.verify import Comparison, commits, compare, summarize

MIN_SCALE, MAX_SCALE = 100_000, 30_000_000
DAILY_SHARE, DAILY_CORRECTIONS, LARGE_DAYS, LARGE_CORRECTED_SHARE = 0.0005, 500, 30, 0.01
# A/B candidates, each a full gold rebuild with the setting changed for that rebuild only.
AB_VARIANTS: tuple[tuple[str, dict[str, str]], ...] = (
    ("baseline", {}),
    ("shuffle.partitions=2", {"spark.sql.shuffle.partitions": "2"}),
    ("optimizeWrite=true", {"spark.databricks.delta.optimizeWrite.enabled": "true"}),
    ("baseline-again", {}),
)
TARGETS = {
    "cold_to_gold_seconds": 90.0,
    "daily_seconds": 15.0,
    "daily_vs_full": 0.10,
    "nothing_new_seconds": 8.0,
    "increment_jobs_max": 20,
    "peak_gib": 4.0,
}


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", type=int, default=3_000_000, help="sales lines generated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--days", type=int, default=182)
    parser.add_argument("--work", type=Path, default=Path("bench/.work"))
    parser.add_argument("--results", type=Path, default=Path("bench/results"))
    parser.add_argument("--no-ab", action="store_true", help="skip the A/B gold rebuilds")
    options = parser.parse_args(argv)
    if not MIN_SCALE <= options.scale <= MAX_SCALE:
        parser.error(f"--scale must be within {MIN_SCALE:,}..{MAX_SCALE:,}")
    return options


def increment_specs(scale: int, last_day: date) -> list[IncrementSpec]:
    """The daily increment (one day, ~0.05 % new lines, 500 corrections within a week) and
    the large one (30 days of new lines, 1 % of the lines corrected within 30 days)."""
    daily_new = max(1, round(scale * DAILY_SHARE))
    daily = IncrementSpec("daily", last_day + timedelta(days=1), 1, daily_new, DAILY_CORRECTIONS, 7)
    large = IncrementSpec(
        "large",
        daily.first_day + timedelta(days=1),
        LARGE_DAYS,
        daily_new * LARGE_DAYS,
        round(scale * LARGE_CORRECTED_SHARE),
        LARGE_DAYS,
    )
    return [daily, large]


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text("utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / GIB, 1),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def run_spark(
    options: argparse.Namespace,
    landing: Path,
    lake: Path,
    staged: dict[str, Path],
    memory: PeakMemory,
) -> tuple[SparkBench, list[dict[str, Any]], list[dict[str, Any]]]:
    """Every Spark phase, the A/B rebuilds and maintenance; Spark is stopped at the end."""
    bench = SparkBench(landing, lake, memory, log)
    try:
        bench.start()
        bench.phase("initial")
        for name in ("daily", "large"):
            shutil.copy2(staged[name], landing / "sales" / staged[name].name)
            bench.phase(name)
        ab: list[dict[str, Any]] = []
        if not options.no_ab:
            for label, conf in AB_VARIANTS:
                result = bench.gold_rebuild(label, conf)
                ab.append({"label": label, "conf": conf, "seconds": result.seconds})
        _, maintenance = bench.maintenance()
    finally:
        bench.stop()
    bench.runs.append(nothing_new_run(landing, lake, memory))
    bench.runs += page_runs(lake, lake.parent / "pages", memory)
    return bench, ab, maintenance


def cli_run(phase: str, stage: str, arguments: list[str], memory: PeakMemory) -> StageRun:
    """``sales-lakehouse <arguments>`` in a new process, timed from the process start (JVM
    and session start included) to its exit."""
    import subprocess

    import sales_lakehouse

    source = str(Path(sales_lakehouse.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "sales_lakehouse.runtime.cli", *arguments]
    memory.take()
    started = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # The new process's own tree: the benchmark's process still holds its stopped
    # session's JVM, which is no part of this run.
    own = PeakMemory(pid=child.pid).start()
    stdout, stderr = child.communicate()
    seconds = time.perf_counter() - started
    own.stop()
    memory.take()
    if child.returncode != 0:
        raise RuntimeError(f"{phase} {stage} failed: {stdout}{stderr}")
    last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    log(f"{phase:8} {stage:8} {seconds:8.2f} s  (new process: {last})")
    return StageRun(phase, stage, seconds, 0, own.peak)


def nothing_new_run(landing: Path, lake: Path, memory: PeakMemory) -> StageRun:
    """``sales-lakehouse run`` in a new process on the lake with nothing new landed."""
    return cli_run(
        "nothing", "run", ["run", "--landing", str(landing), "--lake", str(lake)], memory
    )


def page_runs(lake: Path, pages: Path, memory: PeakMemory) -> list[StageRun]:
    """The sales dashboard and the quality page (from recorded results), each in a new
    process over the finished lake (docs/dashboard.md)."""
    pages.mkdir(parents=True, exist_ok=True)
    return [
        cli_run(
            "pages",
            "dashboard",
            ["dashboard", "--lake", str(lake), "--out", str(pages / "dashboard.html")],
            memory,
        ),
        cli_run(
            "pages",
            "quality",
            ["quality", "--lake", str(lake), "--recorded", "--html", str(pages / "quality.html")],
            memory,
        ),
    ]


def stage_of(runs: list[StageRun], phase: str, stage: str) -> StageRun:
    return next(r for r in runs if r.phase == phase and r.stage == stage)


def run_reference(
    base: Path, staged: dict[str, Path], bench: SparkBench, memory: PeakMemory
) -> tuple[dict[str, ReferenceTimes], list[Comparison], dict[str, int]]:
    """The reference phase by phase, each compared with our tables at that phase's versions."""
    reference = Reference()
    times: dict[str, ReferenceTimes] = {}
    comparisons: list[Comparison] = []
    peaks: dict[str, int] = {}
    try:
        for phase in ("initial", "daily", "large"):
            memory.take()
            if phase == "initial":
                times[phase] = reference.initial(base)
            else:
                times[phase] = reference.increment(phase, [staged[phase]])
            memory.take()
            peaks[phase] = memory.last_self_peak
            log(f"reference {phase}: {times[phase].total:.2f} s")
            silver = stage_of(bench.runs, phase, "silver").after
            gold = stage_of(bench.runs, phase, "gold").after
            for table, versions in (
                ("silver.sales", silver),
                ("gold.fact_sales", gold),
                ("gold.daily_sales", gold),
            ):
                result = compare(reference.con, bench.lake, phase, table, versions[table])
                comparisons.append(result)
                status = "ok" if result.ok else "MISMATCH"
                log(f"verify {phase} {table} v{result.version}: {result.ours} rows, {status}")
    finally:
        reference.close()
    return times, comparisons, peaks


def stage_records(
    bench: SparkBench, times: dict[str, ReferenceTimes], lake: Path
) -> list[dict[str, Any]]:
    """One record per timed stage, with its reference time and Delta commit metrics."""
    records = []
    for item in bench.runs:
        entries = [
            entry
            for table, (before, after) in item.changed.items()
            for entry in commits(lake, table, before + 1, after)
        ]
        reference = times.get(item.phase)
        seconds_of = {"bronze": "load", "silver": "silver", "gold": "gold"}
        ref_seconds = (
            float(getattr(reference, seconds_of[item.stage]))
            if reference and item.stage in seconds_of
            else None
        )
        records.append(
            {
                "phase": item.phase,
                "stage": item.stage,
                "rows": item.rows,
                "seconds": round(item.seconds, 3),
                "reference_seconds": None if ref_seconds is None else round(ref_seconds, 3),
                "peak_bytes": item.peak_bytes,
                "jobs": item.jobs,
                "jvm": item.jvm,
                "python_peak_bytes": item.python_peak_bytes,
                "jvm_rss_peak_bytes": item.jvm_rss_peak_bytes,
                "delta": summarize(entries),
                "commits": entries,
            }
        )
    return records


def headline(records: list[dict[str, Any]], times: dict[str, ReferenceTimes]) -> dict[str, Any]:
    """The targets: cold start to gold vs the reference and 60 s, daily vs full, memory.

    The memory target is the pipeline's (Python + JVM): the DuckDB reference runs in the
    bench's own process after Spark has stopped, and its peak is reported apart.
    """

    def seconds(phase: str, stages: tuple[str, ...]) -> float:
        return float(
            sum(r["seconds"] for r in records if r["phase"] == phase and r["stage"] in stages)
        )

    def peak(stage: str, *, exclude: bool = False) -> int:
        return max(
            (r["peak_bytes"] for r in records if (r["stage"] == stage) != exclude), default=0
        )

    pipeline = ("bronze", "silver", "gold")
    cold = seconds("initial", ("session", *pipeline))
    full, daily, large = (seconds(p, pipeline) for p in ("initial", "daily", "large"))
    return {
        "cold_to_gold_seconds": round(cold, 2),
        "reference_initial_seconds": round(times["initial"].total, 2),
        "cold_to_gold_vs_reference": round(cold / times["initial"].total, 2),
        "full_build_seconds": round(full, 2),
        "daily_seconds": round(daily, 2),
        "daily_vs_full": round(daily / full, 3),
        "large_seconds": round(large, 2),
        "large_vs_full": round(large / full, 3),
        "nothing_new_seconds": round(seconds("nothing", ("run",)), 2),
        "dashboard_seconds": round(seconds("pages", ("dashboard",)), 2),
        "quality_page_seconds": round(seconds("pages", ("quality",)), 2),
        "increment_jobs_max": max(
            (r.get("jobs") or 0 for r in records if r["phase"] in ("daily", "large")), default=0
        ),
        "peak_gib": round(peak("reference", exclude=True) / GIB, 2),
        "reference_peak_gib": round(peak("reference") / GIB, 2),
        "targets": TARGETS,
    }


def markdown(result: dict[str, Any]) -> str:
    m, h = result["machine"], result["headline"]
    parts = [
        f"# Benchmark {result['date']}, scale {result['scale']:,} lines",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM; load average "
        f"{m['load_average_start']} at start, {m['load_average_end']} at end (a load above "
        f"the {m['nproc']} cores means other processes competed: absolute times are noisy; "
        "ratios measured in the same run are the figures to trust). "
        f"Spark driver memory: {m.get('spark_driver_memory') or 'default'}.",
        f"Landing generation: {result['generation_seconds']:.1f} s (not pipeline time); "
        f"increment files built in {result['increment_seconds']:.1f} s; both in a child "
        f"process whose peak ({result.get('preparation_peak_bytes', 0) / GIB:.2f} GiB with "
        "this process) is not a pipeline figure.",
        "",
        stage_table(result["stages"]),
        "",
        "Reference = DuckDB (its CSV reader = `bronze`, SQL silver = `silver`, "
        "fact + daily SQL = `gold`); it builds only silver sales, fact_sales and daily_sales.",
        "",
        "## Targets",
        "",
        simple_table(
            ["measure", "value", "target"],
            [
                [
                    "cold start to all gold tables",
                    f"{h['cold_to_gold_seconds']} s",
                    "<= 90 s",
                ],
                ["… vs reference (initial)", f"{h['cold_to_gold_vs_reference']}x", "-"],
                ["daily increment", f"{h['daily_seconds']} s", "<= 15 s"],
                ["daily increment vs full build", f"{h['daily_vs_full']:.1%}", "<= 10 %"],
                ["large increment vs full build", f"{h['large_vs_full']:.1%}", "-"],
                [
                    "a run with nothing new (new process)",
                    f"{h.get('nothing_new_seconds', '-')} s",
                    "<= 8 s",
                ],
                [
                    "the sales dashboard (new process)",
                    f"{h.get('dashboard_seconds', '-')} s",
                    "seconds",
                ],
                [
                    "the quality page from recorded results (new process)",
                    f"{h.get('quality_page_seconds', '-')} s",
                    "seconds",
                ],
                [
                    "Spark jobs, most in one increment stage",
                    h.get("increment_jobs_max", "-"),
                    "<= 20",
                ],
                ["peak memory (Python + JVM)", f"{h['peak_gib']} GiB", "<= 4 GiB"],
                [
                    "peak memory of the DuckDB reference (the bench's process)",
                    f"{h.get('reference_peak_gib', '-')} GiB",
                    "-",
                ],
            ],
        ),
        "",
        "## Delta commits per stage",
        "",
        simple_table(
            ["phase", "stage", "commits", "files +", "files -", "rows written", "rows copied"],
            [
                [
                    s["phase"],
                    s["stage"],
                    s["delta"]["commits"],
                    s["delta"]["files_added"],
                    s["delta"]["files_removed"],
                    s["delta"]["rows_written"],
                    s["delta"]["rows_copied"],
                ]
                for s in result["stages"]
                if s["delta"]["commits"]
            ],
        ),
    ]
    if result["ab"]:
        parts += ["", "## A/B: full gold rebuild", "", ab_table(result["ab"])]
    parts += [
        "",
        "## Maintenance (OPTIMIZE, VACUUM 168 h)",
        "",
        simple_table(
            ["table", "files before", "files after"],
            [[t["table"], t["files_before"], t["files_after"]] for t in result["maintenance"]],
        ),
        "",
        "## Verification (delta-rs reader vs DuckDB reference, EXCEPT ALL both ways)",
        "",
        simple_table(
            ["phase", "table", "version", "ours", "reference", "only ours", "only ref", "ok"],
            [
                [
                    c["phase"],
                    c["table"],
                    c["version"],
                    c["ours"],
                    c["reference"],
                    c["only_ours"],
                    c["only_reference"],
                    "yes" if c["ok"] else "NO",
                ]
                for c in result["verification"]
            ],
        ),
        "",
        f"Delta protocol as read by delta-rs: {result['protocol']}",
    ]
    return "\n".join(parts)


def ab_table(ab: list[dict[str, Any]]) -> str:
    baselines = [a["seconds"] for a in ab if a["label"].startswith("baseline")]
    base = sum(baselines) / len(baselines) if baselines else 0.0
    rows = [
        [a["label"], f"{a['seconds']:.2f}", f"{a['seconds'] / base:.2f}" if base else "-"]
        for a in ab
    ]
    return simple_table(["variant", "seconds", "ratio to mean baseline"], rows)


@dataclass(frozen=True)
class Prepared:
    """What the data preparation hands back: the landing set, the increment files."""

    base: Path
    generation_seconds: float
    increment_seconds: float
    staged: dict[str, Path]
    increments: list[dict[str, Any]]


def prepare(options: argparse.Namespace, run_dir: Path) -> Prepared:
    """Generate (or reuse) the landing set and write the increment files.

    Run in a child process by :func:`main`: building the increments holds every generated
    line in Python objects (GiBs at 3M), and memory a process freed is not always given
    back to the system, so done in the benchmark's own process it would inflate the
    pipeline stages' measured peak.
    """
    base, generation = base_landing(
        options.work, lines=options.scale, seed=options.seed, start=options.start, days=options.days
    )
    started = time.perf_counter()
    specs = increment_specs(options.scale, options.start + timedelta(days=options.days - 1))
    columns = sales_columns()
    built: list[Increment] = build_increments(
        read_sales_rows(base / "sales", columns), specs, seed=options.seed
    )
    shutil.rmtree(run_dir, ignore_errors=True)
    staged = {
        inc.spec.name: write_increment(run_dir / "increments" / inc.spec.name, inc, columns)
        for inc in built
    }
    increments = [
        {**i.spec.__dict__, "new": len(i.new), "corrected": len(i.corrected)} for i in built
    ]
    return Prepared(base, generation, time.perf_counter() - started, staged, increments)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    memory, info = PeakMemory().start(), machine()
    log(f"generating {options.scale:,} lines (cached under {options.work})")
    run_dir = options.work / f"run-{options.scale}"
    landing, lake = (run_dir / "landing").resolve(), (run_dir / "lake").resolve()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        prepared = pool.submit(prepare, options, run_dir).result()
    preparation_peak = memory.take()
    base, staged = prepared.base, prepared.staged
    link_landing(base, landing)
    log(
        ", ".join(
            f"{i['name']}: {i['new']} new + {i['corrected']} corrected" for i in prepared.increments
        )
    )
    bench, ab, maintenance = run_spark(options, landing, lake, staged, memory)
    times, comparisons, reference_peaks = run_reference(base, staged, bench, memory)
    records = stage_records(bench, times, lake)
    for phase, timing in times.items():
        records.append(
            {
                "phase": phase,
                "stage": "reference",
                "rows": timing.rows_in,
                "seconds": round(timing.total, 3),
                "reference_seconds": None,
                "peak_bytes": reference_peaks.get(phase, 0),
                "delta": summarize([]),
                "commits": [],
            }
        )
    memory.stop()
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    info["spark_driver_memory"] = bench.driver_memory
    result = {
        "date": f"{datetime.now(UTC):%Y-%m-%d}",
        "scale": options.scale,
        "seed": options.seed,
        "machine": info,
        "generation_seconds": round(prepared.generation_seconds, 2),
        "increment_seconds": round(prepared.increment_seconds, 2),
        "preparation_peak_bytes": preparation_peak,
        "increments": prepared.increments,
        "stages": records,
        "headline": headline(records, times),
        "ab": ab,
        "maintenance": maintenance,
        "verification": [{**c.__dict__, "ok": c.ok} for c in comparisons],
        "protocol": sorted({c.protocol for c in comparisons}),
        "reference_extra": {p: t.extra for p, t in times.items()},
    }
    text = markdown(result)
    stem = f"{result['date']}-{options.scale}"
    paths = write_results(options.results, stem, result, text)
    print(text)
    log("wrote " + ", ".join(str(p) for p in paths))
    failed = [c for c in comparisons if not c.ok]
    for item in failed:
        print(f"\nMISMATCH {item.phase} {item.table}: {item.ours} ours vs {item.reference} ref")
        print(f"  only ours ({item.only_ours}): {item.sample_ours}")
        print(f"  only reference ({item.only_reference}): {item.sample_reference}")
    return 1 if failed else 0
