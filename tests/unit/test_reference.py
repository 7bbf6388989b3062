"""The reference's CSV reading (DuckDB's reader) on tiny hand-written files (no Spark)."""

from __future__ import annotations

from pathlib import Path

import duckdb
from bench.reference.landed import Landed, load_landed

COLUMNS = ["order_id", "quantity", "currency"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_every_line_with_a_wrong_field_count_is_malformed(tmp_path: Path) -> None:
    first = _write(
        tmp_path / "2025-01-01_sales.csv",
        "\ufeffOrder_ID, quantity ,currency\n"
        "A,1,USD\n"
        "B,2,\n"  # last value empty: well-formed
        "C,3,USD,\n"  # one empty field too many (a trailing delimiter)
        "D,4,USD,see note\n"  # one field too many
        "E,5\n"  # one field too few
        "F,6,USD,,\n"  # two fields too many
        '"G,H",7,"EUR"\n',  # a quoted comma is no delimiter
    )
    # Another column order, quantity absent: matched by header name.
    second = _write(tmp_path / "2025-01-02_sales.csv", "currency,order_id\nGBP,I\n,J,x\n")
    con = duckdb.connect()

    landed = load_landed(con, "landed", [first, second], COLUMNS)

    assert landed == Landed(rows=4, malformed=5)
    rows = con.execute("SELECT * FROM landed ORDER BY order_id").fetchall()
    assert rows == [
        ("A", "1", "USD", first.name),
        ("B", "2", "", first.name),
        ("G,H", "7", "EUR", first.name),
        ("I", None, "GBP", second.name),
    ]
    con.close()
