"""What a run did, per stage and dataset, and how it is printed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

Progress = Callable[[str], None]


def console_progress(message: str) -> None:
    """Default progress sink: a timestamped line on stdout."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


@dataclass
class StageStats:
    """Counts of one stage for one dataset.

    For silver: rows_in = accepted + quarantined + duplicates + held (rows of the files
    held back, which stay in bronze until an operator releases or rejects them).
    """

    stage: str
    dataset: str
    files: int = 0
    rows_in: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    warnings: int = 0
    rejected_files: list[tuple[str, str]] = field(default_factory=list)
    held: int = 0
    held_files: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    # "<rule>: <message>" of every quality rule that broke without stopping the stage.
    quality_warnings: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        if self.stage != "silver":
            return True
        return self.rows_in == self.accepted + self.quarantined + self.duplicates + self.held


class AccountingError(RuntimeError):
    """Rows were lost or counted twice between a stage's input and its outputs."""


class StageFailedError(RuntimeError):
    """A rule with action ``fail`` fired: the stage stopped before committing anything.

    Only ``quality.dq_results``, the audit log of rule evaluations, records the failure.
    """


@dataclass
class RunSummary:
    run_id: str
    stats: list[StageStats] = field(default_factory=list)
    gold_rows: dict[str, int] = field(default_factory=dict)
    quality_warnings: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """What an operator must look at: rejected and held-back files (exit 1)."""
        return self.rejected + self.held

    @property
    def rejected(self) -> list[str]:
        return [
            f"{stat.dataset}: {path}: {reason}"
            for stat in self.stats
            for path, reason in stat.rejected_files
        ]

    @property
    def held(self) -> list[str]:
        return [
            f"{stat.dataset}: {path}: {why}" for stat in self.stats for path, why in stat.held_files
        ]

    def lines(self) -> list[str]:
        """The end-of-run summary table."""
        header: tuple[str, ...] = (
            "stage",
            "dataset",
            "files",
            "rows in",
            "accepted",
            "quarantined",
            "duplicates",
        )
        rows: list[tuple[str, ...]] = [
            (
                s.stage,
                s.dataset,
                str(s.files) if s.stage == "bronze" else "-",
                str(s.rows_in),
                str(s.accepted) if s.stage == "silver" else "-",
                str(s.quarantined) if s.stage == "silver" else "-",
                str(s.duplicates) if s.stage == "silver" else "-",
            )
            for s in self.stats
        ]
        if any(s.held for s in self.stats):  # rows in = accepted + ... + held
            header += ("held",)
            rows = [
                (*row, str(s.held) if s.stage == "silver" else "-")
                for row, s in zip(rows, self.stats, strict=True)
            ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
        out = [f"run {self.run_id}", fmt.format(*header), fmt.format(*("-" * w for w in widths))]
        out += [fmt.format(*row) for row in rows]
        if self.gold_rows:
            out.append(
                "gold rows written: " + ", ".join(f"{k} {v}" for k, v in self.gold_rows.items())
            )
        warnings = [f"{s.dataset}.{w}" for s in self.stats for w in s.quality_warnings]
        out += [f"quality warning: {w}" for w in warnings + self.quality_warnings]
        out += [f"rejected file: {error}" for error in self.rejected]
        out += [f"held file: {held}" for held in self.held]
        if self.held:
            out.append(
                "held files stay in bronze, out of silver: `sales-lakehouse held list`, "
                "then `held release` or `held reject` (docs/runbook.md)"
            )
        return out
