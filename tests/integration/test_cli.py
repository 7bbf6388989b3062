"""The CLI run in-process (the test session is reused): ``run``'s errors, ``query``, ``tables``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.contracts import load_contract
from sales_lakehouse.runtime.cli import main
from tests.integration.conftest import FirstRun
from tests.integration.helpers import copy_lake, lake_of, write_landing_csv

pytestmark = pytest.mark.integration


def _error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_cli_errors_missing_landing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-landing"
    code = main(["run", "--landing", str(missing), "--lake", str(tmp_path / "lake")])
    assert code == 2
    errors = _error_lines(capsys)
    assert len(errors) == 1
    assert str(missing.resolve()) in errors[0]
    assert not (tmp_path / "lake").exists()


def test_cli_errors_unknown_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "landing").mkdir()
    code = main(
        [
            "run",
            "--landing",
            str(tmp_path / "landing"),
            "--lake",
            str(tmp_path / "lake"),
            "--stage",
            "nope",
        ]
    )
    assert code == 2
    errors = _error_lines(capsys)
    assert len(errors) == 1
    assert "nope" in errors[0]


GOOD = [
    {
        "order_id": f"O{number}",
        "line_number": "1",
        "order_ts": "2025-01-05T10:00:00Z",
        "store_id": "S001",
        "product_id": "P1",
        "quantity": "2",
        "unit_price": "10.00",
        "channel": "store",
    }
    for number in (1, 2, 3)
]


def test_cli_errors_bad_header_file(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    landing, lake_dir = tmp_path / "landing", tmp_path / "lake"
    columns = load_contract("sales").column_names
    good = write_landing_csv(landing / "sales" / "2025-01-01_sales.csv", columns, GOOD)
    bad = write_landing_csv(
        landing / "sales" / "2025-01-02_sales.csv",
        [name for name in columns if name != "quantity"],
        [{**GOOD[0], "order_id": "B1"}],
    )
    argv = ["run", "--landing", str(landing), "--lake", str(lake_dir)]

    def reported(output: str) -> list[str]:
        return [line for line in output.splitlines() if bad.name in line]

    assert main(argv) == 1
    first = capsys.readouterr()
    assert any("quantity" in line for line in reported(first.out + first.err)), first.out
    assert good.name not in "\n".join(
        line for line in (first.out + first.err).splitlines() if "reject" in line.lower()
    )
    lake = lake_of(spark, landing, lake_dir)
    bronze = lake.read("bronze", "sales")
    assert bronze.count() == len(GOOD)
    sources = {row[0] for row in bronze.select("_source_file").distinct().collect()}
    assert len(sources) == 1
    assert sources.pop().endswith(good.name)
    assert lake.read("silver", "sales").count() == len(GOOD)

    assert main(argv) == 1
    second = capsys.readouterr()
    assert any("quantity" in line for line in reported(second.out + second.err)), second.out
    assert lake.read("bronze", "sales").count() == len(GOOD)
    assert lake.read("silver", "sales").count() == len(GOOD)


def test_query_and_tables_name_the_tables_of_a_copied_lake(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No metastore: `query` and `tables` find a lake's tables in its folders, so a copy of
    a lake answers for itself (names point at the copy, not at the original)."""
    copy = copy_lake(first_run.lake_dir, tmp_path / "copy")
    lake = lake_of(spark, first_run.landing, copy)
    lake.overwrite(lake.read("gold", "fact_sales").limit(3), "gold", "fact_sales")
    capsys.readouterr()

    sql = "select count(*) as copied_lines from gold.fact_sales"
    assert main(["query", sql, "--lake", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "copied_lines" in out and "|3           |" in out

    assert main(["tables", "--lake", str(copy)]) == 0
    listed = {
        line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[1:]
    }
    original = first_run.lake.read("silver", "sales").count()
    assert listed["gold.fact_sales"][1] == "3"
    assert listed["silver.sales"][1] == str(original)
    assert set(listed) >= {"bronze.sales", "quality.dq_results", "meta.watermarks"}


def test_a_second_run_on_a_busy_lake_stops_at_once_and_writes_nothing(
    first_run: FirstRun, tmp_path: Path, spark: SparkSession, capsys: pytest.CaptureFixture[str]
) -> None:
    """While another run holds the lake, ``run`` and ``maintain`` exit 3 with one line
    naming it; no table gets a new version."""
    from sales_lakehouse.lake.lock import lake_lock

    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    lake = lake_of(spark, first_run.landing, lake_dir)
    versions = {name: lake.version(*name) for name in lake.registry.table_names()}
    with lake_lock(str(lake_dir), "20261130T010203Z-other", "run --stage all") as holder:
        for command in (
            ["run", "--landing", str(first_run.landing), "--lake", str(lake_dir)],
            ["maintain", "--lake", str(lake_dir)],
        ):
            assert main(command) == 3
            (line,) = _error_lines(capsys)
            assert line.startswith(
                f"sales-lakehouse {command[0]}: error: lake {lake_dir} is in use by run "
                f"20261130T010203Z-other (run --stage all, pid {holder.pid} on {holder.host}, "
            )
    assert {name: lake.version(*name) for name in lake.registry.table_names()} == versions
