"""Check our Delta tables against the reference with an independent reader (delta-rs).

The tables are read with the ``deltalake`` package at the versions a phase produced, as
Arrow, and compared with the reference's tables in DuckDB: row counts, and an empty
difference both ways (``EXCEPT ALL``, so duplicates count) over the keys and the money
columns, cast to their exact contract types (decimals compare exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable

from bench.reference import DAILY_SALES_TYPES, FACT_SALES_TYPES, SILVER_SALES_TYPES

SAMPLE_ROWS = 10

# Per table of ours: the reference's table and the columns compared, with the exact type
# both sides are cast to.
COMPARED: dict[str, tuple[str, dict[str, str]]] = {
    "silver.sales": ("silver_sales", SILVER_SALES_TYPES),
    "gold.fact_sales": ("fact_sales", FACT_SALES_TYPES),
    "gold.daily_sales": ("daily_sales", DAILY_SALES_TYPES),
}


@dataclass
class Comparison:
    """One table at one phase: counts, differences both ways, a sample of each."""

    phase: str
    table: str
    version: int
    ours: int
    reference: int
    only_ours: int
    only_reference: int
    protocol: str = ""
    arrow_types: dict[str, str] = field(default_factory=dict)
    sample_ours: list[tuple[Any, ...]] = field(default_factory=list)
    sample_reference: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.ours == self.reference and self.only_ours == self.only_reference == 0


def read_delta(path: Path, version: int, columns: list[str]) -> tuple[Any, str]:
    """The table at ``version`` as an Arrow table, and its protocol as text."""
    table = DeltaTable(str(path), version=version)
    protocol = table.protocol()
    text = f"reader v{protocol.min_reader_version}, writer v{protocol.min_writer_version}"
    features = sorted({*(protocol.reader_features or []), *(protocol.writer_features or [])})
    if features:
        text += f" ({', '.join(features)})"
    return table.to_pyarrow_table(columns=columns), text


def compare(
    con: duckdb.DuckDBPyConnection, lake: Path, phase: str, table: str, version: int
) -> Comparison:
    """Compare ``table`` of our lake at ``version`` with the reference's current table."""
    reference_table, columns = COMPARED[table]
    layer, name = table.split(".")
    arrow, protocol = read_delta(lake / layer / name, version, list(columns))
    con.register("ours", arrow)
    select = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in columns.items())
    ours_sql, reference_sql = (
        f"SELECT {select} FROM ours",
        f"SELECT {select} FROM {reference_table}",
    )

    def scalar(sql: str) -> int:
        row = con.execute(sql).fetchall()
        return int(row[0][0]) if row else 0

    only_ours = f"{ours_sql} EXCEPT ALL {reference_sql}"
    only_reference = f"{reference_sql} EXCEPT ALL {ours_sql}"
    result = Comparison(
        phase=phase,
        table=table,
        version=version,
        ours=arrow.num_rows,
        reference=scalar(f"SELECT count(*) FROM {reference_table}"),
        only_ours=scalar(f"SELECT count(*) FROM ({only_ours})"),
        only_reference=scalar(f"SELECT count(*) FROM ({only_reference})"),
        protocol=protocol,
        arrow_types={f.name: str(f.type) for f in arrow.schema},
    )
    if result.only_ours:
        result.sample_ours = con.execute(f"{only_ours} LIMIT {SAMPLE_ROWS}").fetchall()
    if result.only_reference:
        result.sample_reference = con.execute(f"{only_reference} LIMIT {SAMPLE_ROWS}").fetchall()
    con.unregister("ours")
    return result


def commits(lake: Path, table: str, first: int, last: int) -> list[dict[str, Any]]:
    """Operation and metrics of the table's commits ``first``..``last`` (delta-rs history)."""
    layer, name = table.split(".")
    history = DeltaTable(str(lake / layer / name)).history()
    found = []
    for entry in history:
        version = int(entry.get("version", -1))
        if first <= version <= last:
            metrics = entry.get("operationMetrics") or {}
            found.append(
                {
                    "table": table,
                    "version": version,
                    "operation": entry.get("operation", ""),
                    "metrics": {key: _number(value) for key, value in metrics.items()},
                }
            )
    return sorted(found, key=lambda item: item["version"])


def _number(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


# Key names differ by operation: WRITE numFiles, MERGE numTarget…, OPTIMIZE num…Files.
FILES_ADDED = ("numAddedFiles", "numTargetFilesAdded", "numFilesAdded", "numFiles")
FILES_REMOVED = ("numRemovedFiles", "numTargetFilesRemoved", "numFilesRemoved")


def summarize(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Totals over commits: files added/removed, rows written/copied/updated/inserted."""

    def total(*keys: str) -> int:
        count = 0
        for entry in entries:
            metrics = entry["metrics"]
            count += next((int(metrics[k]) for k in keys if isinstance(metrics.get(k), int)), 0)
        return count

    return {
        "commits": len(entries),
        "files_added": total(*FILES_ADDED),
        "files_removed": total(*FILES_REMOVED),
        "rows_written": total("numOutputRows"),
        "rows_copied": total("numTargetRowsCopied", "numCopiedRows"),
        "rows_updated": total("numTargetRowsUpdated"),
        "rows_inserted": total("numTargetRowsInserted"),
    }
