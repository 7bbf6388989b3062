"""The generation report: what was written and which rows were made defective on purpose.

Tests and the pipeline's integration checks compare their own counts against it, so every
injected defect is listed with its business key and the files holding it.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

Key = list[str | int]


class DefectEntry(BaseModel):
    """Injected rows of one defect kind: how many, their business keys and files."""

    model_config = ConfigDict(frozen=True)

    count: int
    keys: list[Key]
    files: list[str] = Field(default_factory=list)


class GenerationReport(BaseModel):
    """Everything :func:`generate_landing` wrote, serialised as ``_generation_report.json``.

    ``files`` and the keys of ``rows_per_file`` are paths relative to the landing root.
    ``clean_rows`` counts rows that are neither defects nor duplicates nor re-sends;
    ``expected_valid_keys`` counts the distinct business keys a correct pipeline keeps
    (clean rows plus the defect kinds that are kept: unknown_product, unknown_promotion).
    """

    model_config = ConfigDict(frozen=True)

    seed: int
    lines: int
    start: date
    days: int
    batch: str
    files: dict[str, list[str]]
    rows: dict[str, int]
    rows_per_file: dict[str, dict[str, int]]
    clean_rows: dict[str, int]
    expected_valid_keys: dict[str, int]
    defects: dict[str, dict[str, DefectEntry]]
    shuffled_header_files: list[str] = Field(default_factory=list)
    extra_column_files: dict[str, list[str]] = Field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """A short human-readable summary, one line per dataset plus its defects."""
        lines = [
            f"landing set '{self.batch}': seed={self.seed} lines={self.lines} "
            f"start={self.start.isoformat()} days={self.days}"
        ]
        for dataset, files in self.files.items():
            lines.append(
                f"  {dataset}: {len(files)} files, {self.rows.get(dataset, 0)} rows, "
                f"{self.clean_rows.get(dataset, 0)} clean"
            )
            kinds = self.defects.get(dataset, {})
            if kinds:
                detail = ", ".join(f"{kind}={entry.count}" for kind, entry in kinds.items())
                lines.append(f"    defects: {detail}")
        return lines


class DefectLog:
    """Collects injected defects while the datasets are generated (insertion ordered)."""

    def __init__(self) -> None:
        """Start with no defects."""
        self._keys: dict[str, dict[str, list[Key]]] = {}
        self._files: dict[str, dict[str, list[str]]] = {}

    def declare(self, dataset: str, *kinds: str) -> None:
        """Make ``kinds`` appear in the report even when none is injected."""
        for kind in kinds:
            self._keys.setdefault(dataset, {}).setdefault(kind, [])
            self._files.setdefault(dataset, {}).setdefault(kind, [])

    def add(self, dataset: str, kind: str, key: Key, file: str) -> None:
        """Record one injected row: its business key and the file it was written to."""
        self.declare(dataset, kind)
        self._keys[dataset][kind].append(key)
        files = self._files[dataset][kind]
        if file not in files:
            files.append(file)

    def count(self, dataset: str) -> int:
        """Defect rows of a dataset over all kinds."""
        return sum(len(keys) for keys in self._keys.get(dataset, {}).values())

    def entries(self) -> dict[str, dict[str, DefectEntry]]:
        """The report's ``defects`` mapping (built without re-validating thousands of keys)."""
        return {
            dataset: {
                kind: DefectEntry.model_construct(
                    count=len(keys), keys=keys, files=sorted(self._files[dataset][kind])
                )
                for kind, keys in kinds.items()
            }
            for dataset, kinds in self._keys.items()
        }
