"""Shared helpers of the generator: the period, money and timestamp text, CSV output.

Money is handled as integer cents and timestamps as integer epoch seconds (UTC) so the
generator is exact, fast and byte-for-byte deterministic; text is produced only when a
row is written.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

DAY_SECONDS = 86_400
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class Period:
    """The sales period: ``days`` calendar days from ``start`` (inclusive)."""

    start: date
    days: int

    @property
    def last(self) -> date:
        """The last day of the period (inclusive)."""
        return self.start + timedelta(days=self.days - 1)

    @property
    def start_epoch(self) -> int:
        """Epoch seconds of the period start (midnight UTC)."""
        return epoch_of(self.start)

    def dates(self) -> list[date]:
        """Every day of the period in order."""
        return [self.start + timedelta(days=offset) for offset in range(self.days)]

    def months(self) -> list[tuple[date, date]]:
        """(first, last) day of each calendar month in the period, clipped to it.

        The first element also names the month's export files: the first day of the
        month, or ``start`` for a period starting mid-month.
        """
        result: list[tuple[date, date]] = []
        first = self.start
        while first <= self.last:
            following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
            last = min(following - timedelta(days=1), self.last)
            result.append((first, last))
            first = following
        return result


@dataclass
class FileOutput:
    """One landing file to write: path relative to the landing root, header and rows."""

    path: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)


def epoch_of(day: date) -> int:
    """Epoch seconds of midnight UTC at the start of ``day``."""
    return (day.toordinal() - EPOCH_ORDINAL) * DAY_SECONDS


@lru_cache(maxsize=4096)
def _day_text(ordinal: int) -> str:
    """ISO date text of a day ordinal (cached: timestamps repeat days constantly)."""
    return date.fromordinal(ordinal).isoformat()


def iso_timestamp(epoch: int, style: str = "z", offset_minutes: int = 0) -> str:
    """ISO-8601 text of an instant in one of the source systems' styles.

    ``z`` gives ``2025-01-03T10:15:00Z``, ``naive`` the same wall time without a suffix (the
    contract reads it as UTC) and ``offset`` the local wall time with its offset
    (``2025-01-03T11:15:00+01:00``); all three denote the same instant.
    """
    local = epoch + offset_minutes * 60 if style == "offset" else epoch
    days, seconds = divmod(local, DAY_SECONDS)
    hours, rest = divmod(seconds, 3600)
    text = f"{_day_text(EPOCH_ORDINAL + days)}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if style == "z":
        return text + "Z"
    if style == "naive":
        return text
    sign = "+" if offset_minutes >= 0 else "-"
    off_hours, off_minutes = divmod(abs(offset_minutes), 60)
    return f"{text}{sign}{off_hours:02d}:{off_minutes:02d}"


@lru_cache(maxsize=1 << 16)
def money(cents: int) -> str:
    """Decimal text with exactly two decimals (``-12.50``) of an amount in cents."""
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 100)
    return f"{sign}{whole}.{fraction:02d}"


def cents_of(text: str) -> int:
    """Cents of a two-decimal money text written by :func:`money`."""
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("-").partition(".")
    value = int(whole) * 100 + int((fraction + "00")[:2])
    return -value if negative else value


def discount_cents(quantity: int, price_cents: int, pct_hundredths: int) -> int:
    """round(quantity * unit_price * discount_pct / 100, 2) with half-up rounding, in cents.

    With price in cents and the percentage in hundredths the exact value in cents is
    ``q * p * pct / 10_000``; integer arithmetic keeps the half-up rounding exact.
    """
    numerator = quantity * price_cents * pct_hundredths
    return (2 * numerator + 10_000) // 20_000


def write_csv(landing: Path, output: FileOutput) -> int:
    """Write one RFC 4180 CSV (UTF-8, ``\\n``, minimal quoting); return its data rows."""
    path = landing / output.path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(output.header)
        writer.writerows(output.rows)
    return len(output.rows)
