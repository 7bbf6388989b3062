"""The benchmark's increment builder, on a tiny hand-written landing set (no Spark)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from bench.landing import (
    IncrementSpec,
    build_increments,
    read_sales_rows,
    sales_columns,
    write_increment,
)

HEADER = "order_id,line_number,order_ts,store_id,product_id,quantity,unit_price,currency"
LINES = [
    "A1,1,2025-06-28T10:00:00Z,S01,P00001,2,10.00,USD",
    "A2,1,2025-06-29T11:00:00Z,S01,P00002,1,5.50,",
    "A3,1,2025-06-30T12:00:00+02:00,S02,P00003,3,7.25,EUR",
    "A4,1,2025-07-01T09:30:00Z,S02,P00001,abc,10.00,USD",  # not correctable: bad quantity
    "A5,1,2025-07-01T13:00:00Z,S01,P00002,1,5.50,USD,extra",  # malformed: one field too many
    "A6,1,2025-05-01T08:00:00Z,S01,P00002,4,5.50,USD",  # outside the one-week window
]


def _landing(tmp_path: Path) -> Path:
    folder = tmp_path / "sales"
    folder.mkdir()
    # Columns in another order than the contract's: matched by header name.
    shuffled = "quantity,order_id,line_number,order_ts,store_id,product_id,unit_price,currency"
    order = [HEADER.split(",").index(name) for name in shuffled.split(",")]
    rows = [[line.split(",")[i] for i in order] + line.split(",")[8:] for line in LINES]
    with (folder / "2025-07-01_sales.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(shuffled.split(","))
        writer.writerows(rows)
    return folder


def test_reads_well_formed_lines_by_header_name(tmp_path: Path) -> None:
    rows = list(read_sales_rows(_landing(tmp_path), sales_columns()))
    assert [row["order_id"] for row in rows] == ["A1", "A2", "A3", "A4", "A6"]
    assert rows[0]["quantity"] == "2"
    assert rows[0]["customer_id"] == ""  # absent from the file


def test_builds_new_and_corrected_lines(tmp_path: Path) -> None:
    rows = list(read_sales_rows(_landing(tmp_path), sales_columns()))
    spec = IncrementSpec("daily", date(2025, 7, 2), 1, new_lines=4, corrections=2, window_days=7)
    (increment,) = build_increments(rows, [spec], seed=1)
    assert len(increment.new) == 4
    assert {row["order_ts"][:10] for row in increment.new} == {"2025-07-02"}
    assert len({row["order_id"] for row in increment.new}) == 4
    assert len(increment.corrected) == 2
    originals = {row["order_id"]: row for row in rows}
    for row in increment.corrected:
        assert row["order_id"] in {"A1", "A2", "A3"}  # correctable, within the week
        assert int(row["quantity"]) == int(originals[row["order_id"]]["quantity"]) + 1


def test_corrections_are_limited_by_the_window(tmp_path: Path) -> None:
    rows = list(read_sales_rows(_landing(tmp_path), sales_columns()))
    spec = IncrementSpec("large", date(2025, 7, 2), 3, new_lines=6, corrections=50, window_days=7)
    (increment,) = build_increments(rows, [spec])
    assert len(increment.corrected) == 3
    assert {row["order_ts"][:10] for row in increment.new} == {
        "2025-07-02",
        "2025-07-03",
        "2025-07-04",
    }


def test_writes_contract_header_and_every_row(tmp_path: Path) -> None:
    rows = list(read_sales_rows(_landing(tmp_path), sales_columns()))
    spec = IncrementSpec("daily", date(2025, 7, 2), 1, new_lines=3, corrections=1, window_days=7)
    (increment,) = build_increments(rows, [spec])
    path = write_increment(tmp_path / "out", increment, sales_columns())
    with path.open(encoding="utf-8", newline="") as handle:
        written = list(csv.reader(handle))
    assert path.name == "2025-07-02_sales_daily.csv"
    assert written[0] == sales_columns()
    assert len(written) == 1 + 3 + 1


def test_the_memory_target_is_the_pipeline_s_peak_not_the_reference_s() -> None:
    """The DuckDB reference runs in the bench's own process after Spark stops: its peak
    (here 6 GiB, as at 10M lines) is reported apart, not as the pipeline's."""
    from bench.reference.engine import ReferenceTimes
    from bench.run import headline

    gib = 2**30

    def record(phase: str, stage: str, seconds: float, peak_gib: float) -> dict[str, object]:
        return {"phase": phase, "stage": stage, "seconds": seconds, "peak_bytes": peak_gib * gib}

    records = [
        record("initial", "session", 3.0, 0.3),
        record("initial", "bronze", 10.0, 1.5),
        record("initial", "silver", 20.0, 3.75),
        record("initial", "gold", 10.0, 3.5),
        record("daily", "silver", 2.0, 3.0),
        record("initial", "reference", 4.0, 6.0),
    ]
    times = {"initial": ReferenceTimes("initial", load=1.0, silver=2.0, gold=1.0)}
    h = headline(records, times)
    assert h["peak_gib"] == 3.75
    assert h["reference_peak_gib"] == 6.0
    assert h["cold_to_gold_seconds"] == 43.0
    assert h["cold_to_gold_vs_reference"] == 10.75
