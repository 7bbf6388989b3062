"""Landing CSVs as text tables, read with DuckDB's own CSV reader.

Every value is read as VARCHAR and matched to the contract by header name (files group by
header, as in bronze). A line whose field count differs from its file's header is
malformed: bronze keeps it flagged and silver quarantines it, so it is only counted here.
The reader is given the header's columns plus one sentinel column, pads short lines with
NULL and reads no text as NULL, which makes every such line visible: one field too many
fills the sentinel (even an empty one, which the reader would otherwise drop as a trailing
delimiter), a missing field leaves the header's last column NULL, and more fields than
that land in the reader's rejects table.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bench.reference.rules import literal

SENTINEL = "__extra_field"
REJECTS, SCANS = "csv_rejects", "csv_scans"
READER_OPTIONS = (
    "header = true, auto_detect = false, delim = ',', quote = '\"', escape = '\"', "
    "strict_mode = true, null_padding = true, nullstr = chr(0), filename = true, "
    f"store_rejects = true, rejects_table = '{REJECTS}', rejects_scan = '{SCANS}'"
)


@dataclass(frozen=True)
class Landed:
    """Lines of a set of landing files: well-formed ones (in the table) and malformed ones."""

    rows: int = 0
    malformed: int = 0


def header_of(path: Path) -> tuple[str, ...]:
    """The file's column names as bronze matches them: trimmed, lower case, BOM removed."""
    with path.open(encoding="utf-8", newline="") as handle:
        names = next(csv.reader(handle), [])
    return tuple(name.strip().lstrip("\ufeff").strip().lower() for name in names)


def _read(header: tuple[str, ...], columns: list[str]) -> str:
    """SQL reading the files (one parameter) that share ``header``, with a malformed flag."""
    spec = ", ".join(f"{literal(name)}: 'VARCHAR'" for name in (*header, SENTINEL))
    values = ", ".join(f'"{c}"' if c in header else f'NULL AS "{c}"' for c in columns)
    return (
        f"SELECT {values}, parse_filename(filename) AS file_name, "
        f'("{SENTINEL}" IS NOT NULL OR "{header[-1]}" IS NULL) AS malformed '
        f"FROM read_csv(?, columns = {{{spec}}}, {READER_OPTIONS})"
    )


def load_landed(
    con: duckdb.DuckDBPyConnection, table: str, files: Iterable[Path], columns: list[str]
) -> Landed:
    """``table``: the well-formed lines of ``files``, contract ``columns`` as text (null
    where a file lacks the column) plus ``file_name``; and how many lines were malformed."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for path in files:
        header = header_of(path)
        if header:  # no header row: bronze rejects the whole file
            groups.setdefault(header, []).append(str(path))
    names = ", ".join(f'"{name}" VARCHAR' for name in [*columns, "file_name"])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({names}, malformed BOOLEAN)")
    rejected = 0
    for header, paths in groups.items():
        con.execute(f"DROP TABLE IF EXISTS {REJECTS}")
        con.execute(f"DROP TABLE IF EXISTS {SCANS}")
        con.execute(f"INSERT INTO {table} {_read(header, columns)}", [paths])
        found = con.execute(f"SELECT count(DISTINCT (file_id, line)) FROM {REJECTS}").fetchall()
        rejected += int(found[0][0])
    counts = con.execute(f"SELECT count(*) FILTER (malformed), count(*) FROM {table}").fetchall()
    flagged, total = int(counts[0][0]), int(counts[0][1])
    con.execute(f"DELETE FROM {table} WHERE malformed")
    con.execute(f"ALTER TABLE {table} DROP COLUMN malformed")
    return Landed(rows=total - flagged, malformed=flagged + rejected)
