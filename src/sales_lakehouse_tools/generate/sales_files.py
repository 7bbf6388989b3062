"""The sales landing files: one per month, then the re-send file.

One monthly file has its columns shuffled (order_id stays first so malformed lines can
still be traced) and one carries an extra trailing column ``pos_terminal``, so the
pipeline must map columns by header name and tolerate unknown columns.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

from sales_lakehouse_tools.generate.common import FileOutput, Period
from sales_lakehouse_tools.generate.products import Product
from sales_lakehouse_tools.generate.promotions import PromotionIndex
from sales_lakehouse_tools.generate.report import DefectLog
from sales_lakehouse_tools.generate.sales import DATASET, Order, SalesGenerator, file_path
from sales_lakehouse_tools.generate.sales_defects import (
    COPY_KINDS,
    DEFECT_KINDS,
    OWN_KEY_KINDS,
    RawRow,
    add_copies,
    inject_own_key_defects,
    per_kind,
)

EXTRA_COLUMN = "pos_terminal"


@dataclass
class SalesOutput:
    """The sales files, the clean row count and the files with unusual headers."""

    outputs: list[FileOutput]
    clean_rows: int
    shuffled_header_files: list[str] = field(default_factory=list)
    extra_column_files: dict[str, list[str]] = field(default_factory=dict)


def resend_path(period: Period) -> str:
    """Named the day after the period, so it sorts after every monthly file."""
    return f"{DATASET}/{(period.last + timedelta(days=1)).isoformat()}_{DATASET}_resend.csv"


def _shuffled(rng: random.Random, columns: list[str]) -> list[str]:
    """The columns in another order, order_id kept first (malformed lines stay traceable)."""
    rest = [c for c in columns if c != "order_id"]
    shuffled = list(rest)
    while len(rest) > 1 and shuffled == rest:
        rng.shuffle(shuffled)
    return ["order_id", *shuffled]


def _month_rows(orders: list[Order], columns: list[str], header: list[str]) -> list[list[str]]:
    """Rows in the header's column order; malformed lines get their wrong field count."""
    position = {name: i for i, name in enumerate(columns)}
    order_of = [position[name] for name in header if name in position]
    identity = order_of == list(range(len(columns)))
    terminal = EXTRA_COLUMN in header
    rows: list[list[str]] = []
    for order in orders:
        for line in order.lines:
            row = line if identity else [line[i] for i in order_of]
            if terminal:
                row = [*row, order.terminal]
            if isinstance(line, RawRow):
                row = list(row)
                if line.drop is not None:
                    del row[header.index(line.drop)]
                if line.extra is not None:
                    row.append(line.extra)
            rows.append(row)
    return rows


def build_sales(
    rng: random.Random,
    period: Period,
    lines: int,
    products: list[Product],
    index: PromotionIndex,
    *,
    log: DefectLog,
) -> SalesOutput:
    """All sales files with exactly ``lines`` data rows, defects and copies included."""
    gen = SalesGenerator(rng, period, products, index)
    count = per_kind(lines)
    clean = lines - count * (len(OWN_KEY_KINDS) + len(COPY_KINDS))
    months = gen.orders(clean)
    log.declare(DATASET, *DEFECT_KINDS)
    resend = resend_path(period)
    resend_rows = add_copies(gen, months, count, index, log=log, resend_path=resend)
    inject_own_key_defects(gen, months, count, log)
    shuffled_at, extra_at = min(1, len(months) - 1), min(2, len(months) - 1)
    result = SalesOutput(outputs=[], clean_rows=clean)
    for number, ((first, _), orders) in enumerate(zip(period.months(), months, strict=True)):
        path = file_path(first)
        header = list(gen.columns)
        if number == shuffled_at:
            header = _shuffled(rng, header)
            result.shuffled_header_files.append(path)
        if number == extra_at:
            header.append(EXTRA_COLUMN)
            result.extra_column_files[path] = [EXTRA_COLUMN]
        result.outputs.append(FileOutput(path, header, _month_rows(orders, gen.columns, header)))
    result.outputs.append(FileOutput(resend, list(gen.columns), resend_rows))
    return result
