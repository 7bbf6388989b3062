"""``generate_landing``: write a deterministic landing set and its generation report."""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sales_lakehouse_tools.generate import products as products_module
from sales_lakehouse_tools.generate import promotions as promotions_module
from sales_lakehouse_tools.generate import sales as sales_module
from sales_lakehouse_tools.generate.common import FileOutput, Period, write_csv
from sales_lakehouse_tools.generate.promotions import PromotionIndex
from sales_lakehouse_tools.generate.report import DefectLog, GenerationReport
from sales_lakehouse_tools.generate.sales_defects import KEPT_KINDS
from sales_lakehouse_tools.generate.sales_files import SalesOutput, build_sales

BATCHES = ("initial",)
MIN_LINES = 100
REPORT_NAME = "_generation_report.json"


def _stream(seed: int, dataset: str) -> random.Random:
    """An independent random stream per dataset (string seeds hash with SHA-512, stably)."""
    return random.Random(f"sales-lakehouse:{seed}:{dataset}")


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of short lists.

    The generator creates no reference cycles, but the collector would still rescan the
    growing heap over and over; pausing it makes generation markedly faster.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _validate(lines: int, days: int, batch: str) -> None:
    """Reject arguments the generator cannot honour, before anything is written."""
    if batch not in BATCHES:
        raise ValueError(f"unknown batch {batch!r}; expected one of {', '.join(BATCHES)}")
    if lines < MIN_LINES:
        raise ValueError(f"lines must be at least {MIN_LINES}, got {lines}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")


def _check_no_stale_files(landing: Path, outputs: dict[str, list[FileOutput]]) -> None:
    """Refuse to mix with CSVs of another run: they would silently join the landing set."""
    planned = {output.path for files in outputs.values() for output in files}
    for dataset in outputs:
        folder = landing / dataset
        if not folder.is_dir():
            continue
        stale = sorted(
            path.relative_to(landing).as_posix()
            for path in folder.glob("*.csv")
            if path.relative_to(landing).as_posix() not in planned
        )
        if stale:
            raise FileExistsError(f"{landing} already holds other landing files: {stale[:5]}")


def _report(
    *,
    seed: int,
    lines: int,
    start: date,
    days: int,
    batch: str,
    rows_per_file: dict[str, dict[str, int]],
    clean_rows: dict[str, int],
    log: DefectLog,
    sales: SalesOutput,
) -> GenerationReport:
    """The report of one run: arguments, files and row counts, defects and expectations."""
    defects = log.entries()
    kept = sum(defects[sales_module.DATASET][kind].count for kind in KEPT_KINDS)
    return GenerationReport(
        seed=seed,
        lines=lines,
        start=start,
        days=days,
        batch=batch,
        files={dataset: sorted(files) for dataset, files in rows_per_file.items()},
        rows={dataset: sum(files.values()) for dataset, files in rows_per_file.items()},
        rows_per_file=rows_per_file,
        clean_rows=clean_rows,
        # Distinct keys a correct pipeline keeps: clean rows plus the kept defect kinds.
        expected_valid_keys={
            **clean_rows,
            sales_module.DATASET: clean_rows[sales_module.DATASET] + kept,
        },
        defects=defects,
        shuffled_header_files=sales.shuffled_header_files,
        extra_column_files=sales.extra_column_files,
    )


def generate_landing(
    landing: Path,
    *,
    lines: int = 50_000,
    seed: int = 7,
    start: date = date(2025, 1, 1),
    days: int = 182,
    batch: str = "initial",
) -> GenerationReport:
    """Write products, promotions and sales CSVs under ``landing`` and return the report.

    The same arguments always produce byte-identical files. The sales files hold exactly
    ``lines`` data rows, defects and copies included; every defect is listed in the
    report, which is also written to ``<landing>/_generation_report.json``.
    """
    _validate(lines, days, batch)
    landing = Path(landing)
    period = Period(start, days)
    log = DefectLog()
    with _without_cyclic_gc():
        catalogue = products_module.build_catalogue(_stream(seed, "products"), period, lines, log)
        promotions, promotion_files, promotion_clean = promotions_module.build_promotions(
            _stream(seed, "promotions"), period, lines, catalogue.products, log
        )
        index = PromotionIndex(promotions)
        sales = build_sales(
            _stream(seed, "sales"), period, lines, catalogue.products, index, log=log
        )
        outputs = {
            sales_module.DATASET: sales.outputs,
            products_module.DATASET: catalogue.outputs,
            promotions_module.DATASET: promotion_files,
        }
        _check_no_stale_files(landing, outputs)
        rows_per_file = {
            dataset: {output.path: write_csv(landing, output) for output in files}
            for dataset, files in outputs.items()
        }
    report = _report(
        seed=seed,
        lines=lines,
        start=start,
        days=days,
        batch=batch,
        rows_per_file=rows_per_file,
        clean_rows={
            sales_module.DATASET: sales.clean_rows,
            products_module.DATASET: catalogue.clean_rows,
            promotions_module.DATASET: promotion_clean,
        },
        log=log,
        sales=sales,
    )
    report_text = report.model_dump_json(indent=2) + "\n"
    (landing / REPORT_NAME).write_text(report_text, encoding="utf-8")
    return report
