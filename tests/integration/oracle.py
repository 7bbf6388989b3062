"""The tests' oracle: the shared DuckDB reference plus what the generator says it injected.

Expected silver and gold come from ``bench.reference`` (DuckDB SQL over the landing CSVs,
written from the README and the contracts, never the package's transforms). Which lines
are defects comes from the generator's report (``_generation_report.json``), and the raw
line counts from Python's csv module: two more sources, independent of both engines.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from bench.reference import Reference

from sales_lakehouse_tools.generate import GenerationReport

REPORT_NAME = "_generation_report.json"
# Sales defect kinds that do not end in quarantine: kept lines (their product or promotion
# may arrive later) and copies, resolved as duplicates. Every other kind is quarantined.
NOT_QUARANTINED = frozenset(
    {"unknown_product", "unknown_promotion", "exact_duplicate", "corrected_resend"}
)
MALFORMED_KINDS = frozenset({"malformed_extra_field", "malformed_missing_field"})

SalesKey = tuple[str, int]


def oracle_of(landing: Path) -> Reference:
    """The reference built from every file of ``landing`` (close it when done)."""
    reference = Reference()
    reference.initial(landing)
    return reference


def load_report(landing: Path) -> GenerationReport:
    """The report the generator wrote beside the landing files."""
    return GenerationReport.model_validate_json((landing / REPORT_NAME).read_text("utf-8"))


def quarantine_kinds(report: GenerationReport) -> dict[str, list[SalesKey]]:
    """Sales keys of every defect kind the pipeline must quarantine, per kind."""
    return {
        kind: [(str(key[0]), int(key[1])) for key in entry.keys]
        for kind, entry in report.defects["sales"].items()
        if kind not in NOT_QUARANTINED
    }


def sales_keys(report: GenerationReport, kind: str) -> list[SalesKey]:
    return [(str(key[0]), int(key[1])) for key in report.defects["sales"][kind].keys]


def product_defect_keys(report: GenerationReport) -> list[tuple[str, str]]:
    """(product_id, updated_at as written) of every defective product version."""
    return [
        (str(key[0]), str(key[1]))
        for entry in report.defects["products"].values()
        for key in entry.keys
    ]


@dataclass(frozen=True)
class LandedLines:
    """Sales lines as Python's csv module sees them, independently of Spark and DuckDB."""

    rows: int
    malformed: list[tuple[str, ...]] = field(default_factory=list)


def count_landed_lines(folder: Path) -> LandedLines:
    """Data rows of every CSV in ``folder``; rows whose field count differs from the header
    are the malformed ones (returned as their fields)."""
    rows, malformed = 0, []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            for row in reader:
                rows += 1
                if len(row) != len(header):
                    malformed.append(tuple(row))
    return LandedLines(rows, malformed)
