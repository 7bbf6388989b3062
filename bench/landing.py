"""Landing data for the benchmark: the generated base set and the increments built from it.

The base set comes from the package generator and is cached per scale and seed (it takes
minutes at millions of lines). Increments are extra sales CSV files in the contract's
columns, built here from the generated lines read with Python's csv module: lines of new
days (copies of sampled lines with new order ids and dates) and re-sent lines of the
previous days with a corrected quantity.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sales_lakehouse.contracts import load_contract
from sales_lakehouse_tools.generate import generate_landing

DATASETS = ("sales", "products", "promotions")
GENERATION_NOTE = "_bench_generation.json"
MAX_QUANTITY = 10_000

Row = dict[str, str]


def sales_columns() -> list[str]:
    """The sales contract's columns, in contract order (the increment files' header)."""
    return load_contract("sales").column_names


def base_landing(
    work: Path, *, lines: int, seed: int, start: date, days: int
) -> tuple[Path, float]:
    """The generated landing set for these arguments (cached) and how long generating took."""
    root = work / f"base-{lines}-s{seed}-{start.isoformat()}-{days}d"
    note = root / GENERATION_NOTE
    if note.is_file():
        return root, float(json.loads(note.read_text("utf-8"))["seconds"])
    if root.exists():
        shutil.rmtree(root)
    started = time.perf_counter()
    generate_landing(root, lines=lines, seed=seed, start=start, days=days)
    seconds = time.perf_counter() - started
    note.write_text(json.dumps({"seconds": round(seconds, 2), "lines": lines}), "utf-8")
    return root, seconds


def link_landing(base: Path, landing: Path) -> None:
    """A fresh landing folder holding the base CSVs (hard links, copies across devices)."""
    if landing.exists():
        shutil.rmtree(landing)
    for dataset in DATASETS:
        (landing / dataset).mkdir(parents=True)
        for source in sorted((base / dataset).glob("*.csv")):
            target = landing / dataset / source.name
            try:
                os.link(source, target)
            except OSError:
                shutil.copy2(source, target)


def read_sales_rows(folder: Path, columns: list[str]) -> Iterator[Row]:
    """Well-formed lines of every sales CSV in ``folder`` (field count = header), by column.

    Headers are matched by name, so shuffled and extra columns are handled; a column a
    file lacks is empty.
    """
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = [name.strip().lstrip("\ufeff").lower() for name in next(reader, [])]
            for line in reader:
                if len(line) == len(header):
                    row = dict(zip(header, line, strict=True))
                    yield {name: row.get(name, "") for name in columns}


@dataclass(frozen=True)
class IncrementSpec:
    """One increment: ``new_lines`` lines over ``days`` new days from ``first_day``, plus
    ``corrections`` re-sent lines of sales in the ``window_days`` days before ``first_day``."""

    name: str
    first_day: date
    days: int
    new_lines: int
    corrections: int
    window_days: int

    @property
    def file_name(self) -> str:
        return f"{self.first_day.isoformat()}_sales_{self.name}.csv"


@dataclass
class Increment:
    """The lines of one increment file: new sales and corrected re-sends."""

    spec: IncrementSpec
    new: list[Row] = field(default_factory=list)
    corrected: list[Row] = field(default_factory=list)

    @property
    def rows(self) -> list[Row]:
        return [*self.new, *self.corrected]


def _day_of(row: Row) -> date | None:
    try:
        return date.fromisoformat(row.get("order_ts", "")[:10])
    except ValueError:
        return None


def _correctable(row: Row) -> bool:
    """A line whose quantity can be raised by one and stay valid (the correction made)."""
    quantity = row.get("quantity", "")
    return quantity.isdigit() and 1 <= int(quantity) < MAX_QUANTITY


class _Reservoir:
    """A uniform sample of up to ``size`` items from a stream (Algorithm R), distinct keys."""

    def __init__(self, size: int, rng: random.Random) -> None:
        self.size, self.rng, self.seen = size, rng, 0
        self.items: list[Row] = []
        self.keys: set[tuple[str, str]] = set()

    def offer(self, row: Row) -> None:
        key = (row.get("order_id", ""), row.get("line_number", ""))
        if key in self.keys or self.size == 0:
            return
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append(row)
            self.keys.add(key)
            return
        slot = self.rng.randrange(self.seen)
        if slot < self.size:
            old = self.items[slot]
            self.keys.discard((old.get("order_id", ""), old.get("line_number", "")))
            self.items[slot] = row
            self.keys.add(key)


def _new_line(template: Row, spec: IncrementSpec, number: int, rng: random.Random) -> Row:
    """A copy of ``template`` as a one-line order of a new day, with a new order id."""
    day = spec.first_day + timedelta(days=number % spec.days)
    second = rng.randrange(8 * 3600, 22 * 3600)
    clock = f"{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
    return {
        **template,
        "order_id": f"BENCH-{spec.name}-{day:%Y%m%d}-{number:07d}",
        "line_number": "1",
        "order_ts": f"{day.isoformat()}T{clock}Z",
    }


def build_increments(
    rows: Iterable[Row], specs: list[IncrementSpec], *, seed: int = 7
) -> list[Increment]:
    """Build every increment in one pass over ``rows`` (deterministic for a seed).

    New lines copy a uniform sample of the lines (defective ones included, so validation
    is exercised too); corrections re-send distinct lines of the window with quantity + 1.
    Fewer corrections come out than asked only when the window holds fewer lines.
    """
    rng = random.Random(f"bench:{seed}")
    templates = [_Reservoir(spec.new_lines, rng) for spec in specs]
    candidates = [_Reservoir(spec.corrections, rng) for spec in specs]
    windows = [(s.first_day - timedelta(days=s.window_days), s.first_day) for s in specs]
    for row in rows:
        day = _day_of(row)
        for index, (start, end) in enumerate(windows):
            templates[index].offer(row)
            if day is not None and start <= day < end and _correctable(row):
                candidates[index].offer(row)
    increments = []
    for spec, template, candidate in zip(specs, templates, candidates, strict=True):
        increment = Increment(spec)
        if template.items:
            increment.new = [
                _new_line(template.items[n % len(template.items)], spec, n, rng)
                for n in range(spec.new_lines)
            ]
        increment.corrected = [
            {**row, "quantity": str(int(row["quantity"]) + 1)} for row in candidate.items
        ]
        increments.append(increment)
    return increments


def write_increment(folder: Path, increment: Increment, columns: list[str]) -> Path:
    """Write the increment as one landing CSV (header = contract columns) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / increment.spec.file_name
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row.get(name, "") for name in columns] for row in increment.rows)
    return path
