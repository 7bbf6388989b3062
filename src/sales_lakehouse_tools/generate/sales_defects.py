"""Deliberate problems in the sales files, each logged with its key in the report.

Two families:

* own-key defects: an extra line appended to a clean order (next line number), so its
  (order_id, line_number) is used by no clean row; every such line has exactly one problem.
* copies: exact duplicates of clean lines (same file, right after the original, or in the
  re-send file) and corrected re-sends (same key, changed quantity and/or unit_price).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import accumulate

from sales_lakehouse.contracts import load_contract
from sales_lakehouse_tools.generate.common import cents_of, discount_cents, iso_timestamp, money
from sales_lakehouse_tools.generate.promotions import PromotionIndex
from sales_lakehouse_tools.generate.report import DefectLog
from sales_lakehouse_tools.generate.sales import DATASET, Order, SalesGenerator, file_path

OWN_KEY_KINDS = (
    "malformed_extra_field",
    "malformed_missing_field",
    "missing_required",
    "negative_quantity",
    "unparsable_number",
    "bad_date",
    "discount_above_gross",
    "unknown_currency",
    "unknown_product",
    "unknown_promotion",
)
COPY_KINDS = ("exact_duplicate", "corrected_resend")
DEFECT_KINDS = OWN_KEY_KINDS + COPY_KINDS
# The pipeline keeps these lines (the product or promotion may arrive later).
KEPT_KINDS = ("unknown_product", "unknown_promotion")
MISSING_CANDIDATES = ("store_id", "product_id", "order_ts", "quantity", "unit_price")
UNKNOWN_CURRENCIES = ("XYZ", "EURO", "US$", "BTC")
EXTRA_VALUES = ("", "1", "N/A", "see note")


def per_kind(lines: int) -> int:
    """Rows per defect kind: about 0.3% of the lines, at least 2."""
    return max(2, (lines * 3 + 500) // 1000)


class RawRow(list[str]):
    """A line written with a wrong field count: ``drop`` a column or append ``extra``."""

    def __init__(
        self, values: Iterable[str], *, drop: str | None = None, extra: str | None = None
    ) -> None:
        """Copy ``values`` (contract order) and remember how to break the line."""
        super().__init__(values)
        self.drop = drop
        self.extra = extra


Mutator = Callable[[SalesGenerator, Order, list[str], int], list[str]]


def _set(gen: SalesGenerator, row: list[str], column: str, value: str) -> list[str]:
    """Set one contract column of a contract-ordered row; return the row."""
    row[gen.position[column]] = value
    return row


def _extra_field(gen: SalesGenerator, order: Order, row: list[str], n: int) -> list[str]:
    """One field too many: a stray trailing value."""
    return RawRow(row, extra=EXTRA_VALUES[n % len(EXTRA_VALUES)])


def _missing_field(gen: SalesGenerator, order: Order, row: list[str], n: int) -> list[str]:
    """One field too few: a column other than order_id is left out entirely."""
    # The order_id stays the first field so the line can still be traced.
    candidates = [c for c in gen.columns if c != "order_id"]
    return RawRow(row, drop=candidates[gen.rng.randrange(len(candidates))])


def _missing_required(gen: SalesGenerator, order: Order, row: list[str], n: int) -> list[str]:
    """A required value left empty: store_id, product_id, order_ts, quantity, unit_price."""
    required = set(load_contract(DATASET).required_columns)
    fields = [c for c in MISSING_CANDIDATES if c in required]
    return _set(gen, row, fields[n % len(fields)], "")


def _negative_quantity(gen: SalesGenerator, order: Order, row: list[str], n: int) -> list[str]:
    """A return keyed as a sale: quantity -1..-5."""
    return _set(gen, row, "quantity", str(-gen.rng.randint(1, 5)))


def _unparsable_number(gen: SalesGenerator, order: Order, row: list[str], n: int) -> list[str]:
    """A quantity or unit price that is not a number (typo, text, decimal comma)."""
    quantity, price = row[gen.position["quantity"]], row[gen.position["unit_price"]]
    column, value = (
        ("quantity", f"{quantity}a"),
        ("unit_price", "abc"),
        ("quantity", "abc"),
        ("unit_price", price.replace(".", ",")),
    )[n % 4]
    return _set(gen, row, column, value)


def _bad_date(gen: SalesGenerator, order: Order, row: list[str], n: int) -> list[str]:
    """An order_ts that is not a valid ISO-8601 timestamp."""
    text = iso_timestamp(order.epoch, "naive")
    year, month, day, hour, minute = text[:4], text[5:7], text[8:10], text[11:13], text[14:16]
    value = (
        f"{year}-02-30T{hour}:{minute}:00",
        f"{day}/{month}/{year} {hour}:{minute}",
        "yesterday",
        f"{year}-13-{day}T{hour}:{minute}:00Z",
    )[n % 4]
    return _set(gen, row, "order_ts", value)


def _discount_above_gross(gen: SalesGenerator, order: Order, row: list[str], n: int) -> list[str]:
    """A discount larger than quantity x unit_price."""
    gross = int(row[gen.position["quantity"]]) * cents_of(row[gen.position["unit_price"]])
    return _set(gen, row, "discount_amount", money(gross + gen.rng.randint(100, gross // 2 + 101)))


def _unknown_currency(gen: SalesGenerator, order: Order, row: list[str], n: int) -> list[str]:
    """A currency code outside the contract's allowed list."""
    return _set(gen, row, "currency", UNKNOWN_CURRENCIES[n % len(UNKNOWN_CURRENCIES)])


def _unknown_product(gen: SalesGenerator, order: Order, row: list[str], n: int) -> list[str]:
    """A valid line for a product id the catalogue never had (the pipeline keeps it)."""
    # Catalogue ids are P00001..P03000: a P99 prefix never exists there.
    price = gen.rng.randint(5, 300) * 100 + 99
    return gen.row(
        order,
        int(row[gen.position["line_number"]]),
        product_id=f"P99{n + 1:03d}",
        quantity=gen.quantity(price),
        price=price,
        discount=order.zero_discount,
    )


def _unknown_promotion(gen: SalesGenerator, order: Order, row: list[str], n: int) -> list[str]:
    """A valid line citing a promotion id not in the calendar (the pipeline keeps it)."""
    # Calendar ids are PR0001..PR0204 at most: a PR9 prefix never exists there.
    quantity = int(row[gen.position["quantity"]])
    discount = discount_cents(quantity, cents_of(row[gen.position["unit_price"]]), 1000)
    _set(gen, row, "discount_amount", money(discount))
    return _set(gen, row, "promotion_id", f"PR9{n + 1:03d}")


MUTATORS: dict[str, Mutator] = {
    "malformed_extra_field": _extra_field,
    "malformed_missing_field": _missing_field,
    "missing_required": _missing_required,
    "negative_quantity": _negative_quantity,
    "unparsable_number": _unparsable_number,
    "bad_date": _bad_date,
    "discount_above_gross": _discount_above_gross,
    "unknown_currency": _unknown_currency,
    "unknown_product": _unknown_product,
    "unknown_promotion": _unknown_promotion,
}


def inject_own_key_defects(
    gen: SalesGenerator, months: list[list[Order]], count: int, log: DefectLog
) -> None:
    """Append ``count`` defect lines of every own-key kind to randomly chosen orders."""
    rng = gen.rng
    orders = [order for month in months for order in month]
    needed = count * len(OWN_KEY_KINDS)
    carriers = rng.sample(range(len(orders)), min(needed, len(orders)))
    carriers += rng.choices(range(len(orders)), k=needed - len(carriers))
    month_dates = gen.period.months()
    for start, kind in zip(range(0, needed, count), OWN_KEY_KINDS, strict=True):
        for n, carrier in enumerate(sorted(carriers[start : start + count])):
            order = orders[carrier]
            number = order.next_line
            order.next_line += 1
            row = MUTATORS[kind](gen, order, gen.line(order, number, promoted=False), n)
            _set(gen, row, "line_number", str(number))
            order.lines.append(row)
            path = file_path(month_dates[order.month][0])
            log.add(DATASET, kind, [order.order_id, number], path)


def _corrected(
    rng: random.Random, gen: SalesGenerator, row: list[str], index: PromotionIndex
) -> list[str]:
    """The line as re-sent: quantity and/or unit_price changed, discount recomputed."""
    new = list(row)
    quantity = int(row[gen.position["quantity"]])
    price = cents_of(row[gen.position["unit_price"]])
    mode = rng.randrange(3)
    if mode != 1:
        quantity = quantity + 1 if quantity == 1 or rng.random() < 0.6 else quantity - 1
    if mode != 0:
        corrected = max(1, round(price * rng.uniform(0.90, 0.98)))
        price = corrected if corrected != price else price + 1
    new[gen.position["quantity"]] = str(quantity)
    new[gen.position["unit_price"]] = money(price)
    promotion_id = row[gen.position["promotion_id"]]
    if promotion_id:
        pct = index.by_id[promotion_id].pct
        new[gen.position["discount_amount"]] = money(discount_cents(quantity, price, pct))
    return new


def add_copies(
    gen: SalesGenerator,
    months: list[list[Order]],
    count: int,
    index: PromotionIndex,
    *,
    log: DefectLog,
    resend_path: str,
) -> list[list[str]]:
    """Duplicate and correct ``count`` clean lines each; return the re-send file's rows.

    The first half of the duplicates sits right after its original in the same file,
    the rest and every corrected line go to the re-send file, in original order.
    Call before any own-key defect is appended (positions index clean lines only).
    """
    rng = gen.rng
    orders = [order for month in months for order in month]
    ends = list(accumulate(len(order.lines) for order in orders))
    picks = rng.sample(range(ends[-1]), 2 * count)
    in_file = set(picks[: (count + 1) // 2])
    corrected = set(picks[count:])
    month_dates = gen.period.months()
    copies: list[tuple[Order, int]] = []
    resend: list[list[str]] = []
    line_slot = gen.position["line_number"]
    for position in sorted(picks):
        at = bisect_right(ends, position)
        order = orders[at]
        line = position - (ends[at - 1] if at else 0)
        row = order.lines[line]
        key: list[str | int] = [order.order_id, int(row[line_slot])]
        if position in corrected:
            resend.append(_corrected(rng, gen, row, index))
            log.add(DATASET, "corrected_resend", key, resend_path)
        elif position in in_file:
            copies.append((order, line))
            log.add(DATASET, "exact_duplicate", key, file_path(month_dates[order.month][0]))
        else:
            resend.append(list(row))
            log.add(DATASET, "exact_duplicate", key, resend_path)
    # Insert from the end so earlier line indexes of the same order stay valid.
    for order, line in reversed(copies):
        order.lines.insert(line + 1, list(order.lines[line]))
    return resend
