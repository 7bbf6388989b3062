"""``python -m bench.oltp``: how fast the order database is extracted into the landing zone.

One process, one throwaway MariaDB server (``sales_lakehouse_tools.mariadb``), in this
order: fill the database to ``--lines`` order lines; a full extract with one connection
and a full extract with ``--partitions`` connections, side by side, each into a fresh
landing folder; then a burst of changes and an incremental extract. Every landed row count
is checked against ``COUNT(*)`` in the database. Results go to ``bench/results/`` as
``<date>-oltp-<lines>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sales_lakehouse.config import Settings
from sales_lakehouse.oltp.dsn import Dsn
from sales_lakehouse.oltp.fill import FillStats, OrderSystem, connect, default_catalogue, fill
from sales_lakehouse.pipeline.extract import ExtractStats, extract_oltp
from sales_lakehouse.runtime.session import build_session
from sales_lakehouse_tools.mariadb import throwaway_server

LINES_PER_ORDER = 13 / 6  # the fill's mean: (1 + 1 + 2 + 2 + 3 + 4) / 6


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.oltp", description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000, help="order lines to fill")
    parser.add_argument("--partitions", type=int, default=4, help="parallel full-load reads")
    parser.add_argument("--work", type=Path, default=Path("bench/.work/oltp"))
    parser.add_argument("--results", type=Path, default=Path("bench/results"))
    options = parser.parse_args(argv)
    if options.lines < 1000:
        parser.error("--lines must be at least 1000")
    return options


def _count(dsn: Dsn, table: str) -> int:
    with connect(dsn) as db, db.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        return int(cursor.fetchone()[0])


def _timed_extract(
    spark: Any, work: Path, name: str, dsn: Dsn, **options: Any
) -> tuple[float, dict[str, ExtractStats]]:
    landing = work / name
    settings = Settings(landing=str(landing), lake=str(work / "lake"))
    started = time.perf_counter()
    stats = extract_oltp(spark, settings, dsn, progress=log, **options)
    return time.perf_counter() - started, {s.table: s for s in stats}


def main(argv: list[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    work: Path = options.work
    shutil.rmtree(work, ignore_errors=True)
    (work / "mariadb").mkdir(parents=True)
    result: dict[str, Any] = {"lines_asked": options.lines, "partitions": options.partitions}
    with throwaway_server(work / "mariadb", buffer_pool="1G") as server:
        dsn = server.create_database("shop")
        log(f"fill: {options.lines:,} order lines")
        started = time.perf_counter()
        fill(dsn, orders=round(options.lines / LINES_PER_ORDER), seed=7)
        result["fill_seconds"] = round(time.perf_counter() - started, 1)
        rows = {table: _count(dsn, table) for table in ("orders", "order_lines")}
        result["rows"] = rows
        log(f"fill: {rows} in {result['fill_seconds']} s")

        spark = build_session(Settings(landing=str(work / "one"), lake=str(work / "lake")))
        runs: dict[str, Any] = {}
        # A first extract warms the JVM (class loading, JIT); it is timed but not compared.
        seconds, _ = _timed_extract(spark, work, "warmup", dsn, partitions=options.partitions)
        result["warmup_seconds"] = round(seconds, 2)
        # Alternated twice, so that a drift of the machine shows as a difference between
        # the two rounds rather than between the two variants.
        for round_number in (1, 2):
            for name, partitions in (("one", 1), ("parallel", options.partitions)):
                folder = f"{name}-{round_number}"
                seconds, stats = _timed_extract(spark, work, folder, dsn, partitions=partitions)
                landed = {table: s.rows for table, s in stats.items()}
                if landed != rows:
                    log(f"MISMATCH: landed {landed}, database {rows}")
                    return 1
                runs[folder] = {
                    "connections": partitions,
                    "seconds": round(seconds, 2),
                    "rows_per_second": round(sum(landed.values()) / seconds),
                }
        with connect(dsn) as db:
            system = OrderSystem(db, default_catalogue(), seed=8)
            changes = FillStats()
            system.place_orders(1000, changes)
            system.correct_lines(1000, changes)
            system.cancel_orders(200, changes)
            system.delete_lines(100, changes)
        # No look-back: what the changes themselves cost (the whole database was written
        # minutes ago, so a 15-minute look-back would read all of it again).
        seconds, stats = _timed_extract(spark, work, "parallel-2", dsn, lookback=timedelta(0))
        runs["incremental"] = {
            "seconds": round(seconds, 2),
            "rows": {table: s.rows for table, s in stats.items()},
            "changes": (
                f"{changes.orders} new orders ({changes.lines} lines), {changes.corrections} "
                f"corrections, {changes.cancellations} cancellations, {changes.deletions} deletions"
            ),
        }
        spark.stop()
    result["runs"] = runs
    one = runs["one-1"]["seconds"] + runs["one-2"]["seconds"]
    parallel = runs["parallel-1"]["seconds"] + runs["parallel-2"]["seconds"]
    result["ratio_parallel_vs_one"] = round(one / parallel, 2)
    _write(options.results, result)
    return 0


def _write(folder: Path, result: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{datetime.now(UTC):%Y-%m-%d}-oltp-{result['lines_asked']}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    runs, rows = result["runs"], result["rows"]
    lines = [
        f"# Order-database extract, {rows['order_lines']:,} order lines "
        f"({rows['orders']:,} orders)",
        "",
        f"Fill (PyMySQL, batches of 1,000 orders): {result['fill_seconds']} s. "
        f"A first extract warmed the JVM: {result['warmup_seconds']} s (not compared).",
        "",
        "| extract | connections | seconds | rows/s (both tables) |",
        "|---|---|---|---|",
        *(
            f"| full load, round {name[-1]} | {runs[name]['connections']} | "
            f"{runs[name]['seconds']} | {runs[name]['rows_per_second']:,} |"
            for name in ("one-1", "parallel-1", "one-2", "parallel-2")
        ),
        f"| incremental, no look-back | 1 | {runs['incremental']['seconds']} | "
        f"landed {runs['incremental']['rows']} |",
        "",
        f"The increment followed {runs['incremental']['changes']}.",
        "",
        f"One connection's time over the parallel time (both rounds), same run: "
        f"{result['ratio_parallel_vs_one']} (above 1: the parallel read is faster).",
        "Every full load landed exactly the database's COUNT(*) of each table.",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    log(f"results: {stem}.md")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
