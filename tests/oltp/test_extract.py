"""The extract against a real MariaDB server: full load, increments, late commits, errors.

The oracle is the database itself, read with PyMySQL; the landed files are read with
pyarrow (not Spark), as another consumer of the landing zone would read them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pymysql
import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.lake.jdbc import SourceError
from sales_lakehouse.oltp.dsn import Dsn
from sales_lakehouse.oltp.fill import fill
from sales_lakehouse.pipeline.extract import extract_oltp
from tests.oltp.conftest import execute, query

LINE_COLUMNS = (
    "order_id, line_number, product_id, quantity, unit_price, discount_amount, promotion_id, "
    "deleted, created_at, updated_at"
)
ORDER_COLUMNS = (
    "order_id, store_id, customer_id, order_ts, channel, currency, status, created_at, updated_at"
)
KEYS = {"orders": 1, "order_lines": 2}
COLUMNS = {"orders": ORDER_COLUMNS, "order_lines": LINE_COLUMNS}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def database_rows(dsn: Dsn, table: str) -> set[tuple[Any, ...]]:
    rows = query(dsn, f"SELECT {COLUMNS[table]} FROM {table}")
    if table == "order_lines":  # BOOLEAN is TINYINT(1): PyMySQL gives 0/1
        rows = [(*row[:7], bool(row[7]), *row[8:]) for row in rows]
    return set(rows)


def landed_folders(landing: Path, table: str) -> list[Path]:
    return sorted((landing / "oltp" / table).glob("extract_id=*"))


def landed(landing: Path, table: str) -> list[dict[str, Any]]:
    """Every row of the table's completed extracts (a ``_SUCCESS`` marker), via pyarrow."""
    rows: list[dict[str, Any]] = []
    for folder in landed_folders(landing, table):
        if not (folder / "_SUCCESS").exists():
            continue
        for file in sorted(folder.glob("*.parquet")):
            rows += [
                {k: _plain(v) for k, v in row.items()} for row in pq.read_table(file).to_pylist()
            ]
    return rows


def latest_state(landing: Path, table: str) -> set[tuple[Any, ...]]:
    """The newest landed version of each key (by updated_at): what silver will hold."""
    names = [name.strip() for name in COLUMNS[table].split(",")]
    newest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in landed(landing, table):
        key = tuple(row[n] for n in names[: KEYS[table]])
        if key not in newest or row["updated_at"] > newest[key]["updated_at"]:
            newest[key] = row
    return {tuple(row[n] for n in names) for row in newest.values()}


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


def extract(spark: SparkSession, landing: Path, dsn: Dsn, **options: Any) -> dict[str, Any]:
    settings = Settings(landing=str(landing), lake=str(landing.parent / "lake"))
    stats = extract_oltp(spark, settings, dsn, progress=lambda _line: None, **options)
    return {s.table: s for s in stats}


def test_a_full_load_lands_exactly_the_database_rows(
    spark: SparkSession, dsn: Dsn, landing: Path
) -> None:
    fill(dsn, orders=300, seed=5)

    stats = extract(spark, landing, dsn, partitions=3)

    for table in ("orders", "order_lines"):
        expected = database_rows(dsn, table)
        rows = landed(landing, table)
        assert stats[table].mode == "full" and stats[table].rows == len(rows) == len(expected)
        assert latest_state(landing, table) == expected
        assert {row["_op"] for row in rows} == {"I"}
    # Read in parallel: one file per key slice that holds rows.
    (folder,) = landed_folders(landing, "order_lines")
    assert len(list(folder.glob("*.parquet"))) == 3
    # Money stays exact through JDBC and Parquet.
    assert all(isinstance(row["unit_price"], Decimal) for row in landed(landing, "order_lines"))


def test_three_rounds_of_changes_arrive_and_the_latest_landed_state_is_the_database(
    spark: SparkSession, dsn: Dsn, landing: Path
) -> None:
    fill(dsn, orders=200, seed=6)
    extract(spark, landing, dsn)
    for round_number in range(3):
        changes = fill(dsn, rate=80, duration=1.0, seed=10 + round_number)
        assert changes.corrections + changes.cancellations + changes.deletions > 0
        # A short look-back (nothing commits late here): an increment then reads only the
        # rows changed since the last extract.
        stats = extract(spark, landing, dsn, lookback=timedelta(seconds=1))
        assert stats["order_lines"].mode == "incremental"
        for table in ("orders", "order_lines"):
            assert latest_state(landing, table) == database_rows(dsn, table), (round_number, table)
    rows = landed(landing, "order_lines")
    deleted = {(r["order_id"], r["line_number"]) for r in rows if r["deleted"]}
    assert (
        deleted and {(r["order_id"], r["line_number"]) for r in rows if r["_op"] == "D"} == deleted
    )
    (changed,) = query(dsn, "SELECT COUNT(*) FROM order_lines WHERE updated_at > %s",
                       (datetime.fromisoformat(stats["order_lines"].since),))[0]  # fmt: skip
    (total,) = query(dsn, "SELECT COUNT(*) FROM order_lines")[0]
    assert stats["order_lines"].rows == changed < total


@pytest.mark.parametrize(("lookback_minutes", "arrives"), [(15, True), (0, False)])
def test_a_row_committed_late_with_an_older_updated_at_arrives_within_the_lookback(
    spark: SparkSession, dsn: Dsn, landing: Path, lookback_minutes: int, arrives: bool
) -> None:
    fill(dsn, orders=20, seed=7)
    extract(spark, landing, dsn)
    # A long transaction stamps its row two minutes ago but commits only now, after an
    # extract has moved the cursor past that time.
    late = pymysql.connect(
        host=dsn.host, port=dsn.port, user=dsn.user, password=dsn.password,
        database=dsn.database, autocommit=False,
    )  # fmt: skip
    stamped = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=2)
    with late.cursor() as cursor:
        cursor.execute(
            "INSERT INTO orders VALUES ('DB-LATE', 'S001', NULL, %s, 'web', 'USD', 'placed', %s, %s)",
            (stamped, stamped, stamped),
        )
    fill(dsn, orders=1, seed=8)  # a row stamped now: the cursor moves past `stamped`
    extract(spark, landing, dsn, lookback=timedelta(minutes=lookback_minutes))
    late.commit()
    late.close()

    extract(spark, landing, dsn, lookback=timedelta(minutes=lookback_minutes))

    ids = {row["order_id"] for row in landed(landing, "orders")}
    assert ("DB-LATE" in ids) is arrives
    if arrives:
        assert latest_state(landing, "orders") == database_rows(dsn, "orders")


def test_rows_read_again_in_the_lookback_are_identical_versions(
    spark: SparkSession, dsn: Dsn, landing: Path
) -> None:
    fill(dsn, orders=30, seed=9)
    extract(spark, landing, dsn)
    second = extract(spark, landing, dsn)  # nothing changed: the window is read again

    rows = landed(landing, "orders")
    assert second["orders"].rows == 30 and len(rows) == 60
    values = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    assert len({tuple(sorted(v.items())) for v in values}) == 30  # duplicates, not versions


def test_a_new_column_is_landed_and_a_missing_or_retyped_one_stops_the_extract(
    spark: SparkSession, dsn: Dsn, landing: Path
) -> None:
    fill(dsn, orders=10, seed=11)
    execute(dsn, "ALTER TABLE orders ADD COLUMN gift_wrap BOOLEAN NOT NULL DEFAULT FALSE")
    extract(spark, landing, dsn)
    assert all(row["gift_wrap"] is False for row in landed(landing, "orders"))
    cursors = sorted((landing / "oltp" / "_cursors" / "orders").glob("*.json"))

    execute(dsn, "ALTER TABLE order_lines DROP COLUMN promotion_id")
    with pytest.raises(SourceError, match=r"order_lines\.promotion_id is missing"):
        extract(spark, landing, dsn)
    execute(dsn, "ALTER TABLE order_lines ADD COLUMN promotion_id VARCHAR(20) NULL",
            "ALTER TABLE order_lines MODIFY quantity VARCHAR(10) NOT NULL")  # fmt: skip
    with pytest.raises(
        SourceError, match=r"order_lines\.quantity is string, the contract says int"
    ):
        extract(spark, landing, dsn)
    # Nothing landed and no cursor moved for the refused extracts.
    assert sorted((landing / "oltp" / "_cursors" / "orders").glob("*.json")) == cursors
    assert len(landed_folders(landing, "orders")) == 1


def test_an_unreachable_server_or_a_missing_table_is_one_line(
    spark: SparkSession, dsn: Dsn, landing: Path
) -> None:
    closed = Dsn(dsn.user, dsn.password, dsn.host, 1, dsn.database)
    with pytest.raises(SourceError, match=r"Socket fail to connect to 127\.0\.0\.1:1") as caught:
        extract(spark, landing, closed)
    assert "\n" not in str(caught.value)
    with pytest.raises(SourceError, match=r"Table '\w+\.orders' doesn't exist"):
        extract(spark, landing, dsn)
    assert not landing.exists()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "sales_lakehouse.runtime.cli", *args]


def test_the_cli_refuses_wrong_credentials_with_one_line_and_no_cursor(
    dsn: Dsn, landing: Path
) -> None:
    fill(dsn, orders=5, seed=12)
    wrong = f"mysql://{dsn.user}:wrong-pw@{dsn.host}:{dsn.port}/{dsn.database}"
    done = subprocess.run(
        _cli("extract", "--dsn", wrong, "--landing", str(landing)),
        check=False, capture_output=True, text=True, timeout=300, env=os.environ.copy(),
    )  # fmt: skip
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert errors == [
        f"sales-lakehouse extract: error: mysql://{dsn.user}@{dsn.host}:{dsn.port}/"
        f"{dsn.database}: Access denied for user '{dsn.user}'@'127.0.0.1' (using password: YES)"
    ]
    assert "wrong-pw" not in done.stderr + done.stdout
    assert not (landing / "oltp" / "_cursors").exists()


@pytest.fixture
def big(dsn: Dsn) -> Iterator[Dsn]:
    fill(dsn, orders=4000, seed=13)
    yield dsn


def test_a_kill_in_the_middle_of_an_extract_then_a_rerun_lands_everything_once(
    spark: SparkSession, big: Dsn, landing: Path
) -> None:
    dsn = big
    url = f"mysql://{dsn.user}:{dsn.password}@{dsn.host}:{dsn.port}/{dsn.database}"
    process = subprocess.Popen(
        _cli("extract", "--dsn", url, "--landing", str(landing), "--partitions", "2"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    # Killed (JVM included) as soon as the first table's files are being written.
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if list((landing / "oltp").glob("*/extract_id=*")):
            break
        time.sleep(0.05)
    assert process.poll() is None, "the extract ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not list((landing / "oltp" / "_cursors").glob("*/*.json"))

    extract(spark, landing, dsn)

    for table in ("orders", "order_lines"):
        assert latest_state(landing, table) == database_rows(dsn, table)
        # Whatever the killed extract completed is the same versions again, never others.
        names = [name.strip() for name in COLUMNS[table].split(",")]
        versions = {tuple(row[n] for n in names) for row in landed(landing, table)}
        assert versions == database_rows(dsn, table)
