"""The retailer's selling profile: stores, opening hours, calendar and basket shapes.

Pure reference data and small calendar functions the sales generator samples from.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate


def cumulative(weights: tuple[float, ...] | list[float]) -> list[float]:
    """Cumulative weights normalised to end at exactly 1.0, for ``bisect`` sampling."""
    total = sum(weights)
    result = [value / total for value in accumulate(weights)]
    result[-1] = 1.0
    return result


@dataclass(frozen=True)
class Store:
    """A selling location: weight in order volume, UTC offset of its clock, currency."""

    store_id: str
    weight: float
    offset_minutes: int
    currency: str
    online: bool = False


# Twelve physical stores (US east/central/west, Berlin, London, Toronto) and the web shop.
STORES = (
    Store("S001", 1.4, -300, "USD"), Store("S002", 1.0, -300, "USD"),
    Store("S003", 0.9, -300, "USD"), Store("S004", 0.7, -300, "USD"),
    Store("S005", 1.1, -360, "USD"), Store("S006", 0.8, -360, "USD"),
    Store("S007", 0.6, -360, "USD"), Store("S008", 1.2, -480, "USD"),
    Store("S009", 0.9, -480, "USD"), Store("S010", 0.8, 60, "EUR"),
    Store("S011", 0.7, 0, "GBP"), Store("S012", 0.6, -300, "CAD"),
    Store("W001", 6.0, 0, "USD", online=True),
)  # fmt: skip
ONLINE_CHANNELS = ("web", "mobile", "marketplace")
ONLINE_CHANNEL_CUM = (0.50, 0.85)
DEFAULT_CURRENCY = "USD"
# Relative traffic per weekday (Monday first) and per month.
WEEKDAY_FACTOR = (0.85, 0.80, 0.85, 0.95, 1.15, 1.50, 1.25)
MONTH_FACTOR = (0.90, 0.80, 0.90, 0.90, 0.95, 1.00, 1.05, 1.20, 1.10, 1.00, 1.35, 1.60)
# Stores open 09:00-21:00 local time; the web shop never closes (UTC hours, US evenings).
STORE_HOURS = tuple(range(9, 21))
STORE_HOUR_CUM = cumulative((2, 3, 4, 5, 5, 4, 4, 5, 6, 6, 5, 3))
WEB_HOUR_CUM = cumulative((6, 5, 4, 3, 2, 1, 1, 1, 1, 1, 2, 2, 3, 4, 5, 5, 6, 6, 6, 6, 6, 6, 7, 7))
LINES_PER_ORDER_CUM = cumulative((0.42, 0.27, 0.16, 0.10, 0.05))
MAX_LINES_PER_ORDER = 5
ANONYMOUS_IN_STORE, ANONYMOUS_ONLINE = 0.40, 0.12
# Timestamp text styles of the source systems: Z suffix, naive UTC, local with offset.
TS_STYLES, TS_STYLE_CUM = ("z", "naive", "offset"), (0.45, 0.75)
PRICE_NOISE_RATE = 0.12
PROMO_TAKE_RATE = 0.75
PROMO_EXTRA_UNIT_RATE = 0.35
PROMOTED_PICK_RATE = 0.20
STOREWIDE_TRAFFIC = 1.25
STOREWIDE_EXTRA_LINE_RATE = 0.30
# Units per line by unit price: cables go by the handful, laptops one at a time.
QUANTITY_CHEAP = cumulative((0.50, 0.24, 0.12, 0.07, 0.04, 0.03))
QUANTITY_MID = cumulative((0.82, 0.13, 0.05))
QUANTITY_EXPENSIVE = cumulative((0.94, 0.05, 0.01))


def black_friday(year: int) -> date:
    """The day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    thursday = first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return thursday + timedelta(days=1)


def seasonal_factor(day: date) -> float:
    """Traffic multiplier for the retail calendar's special days and seasons."""
    if (day.month, day.day) in {(12, 25), (1, 1)}:
        return 0.3
    friday = black_friday(day.year)
    if friday <= day <= friday + timedelta(days=3):
        return 2.0
    if day.month == 12 and 10 <= day.day <= 23:
        return 1.3
    if (day.month == 8 and day.day >= 10) or (day.month == 9 and day.day <= 7):
        return 1.2
    return 1.0


def day_quotas(
    rng: random.Random, days: list[date], storewide: list[bool], target: int
) -> list[int]:
    """Lines per day summing exactly to ``target``, by weekday, month, season and promotions.

    Cumulative rounding spreads the target without drift; ``storewide`` marks days with a
    whole-catalogue promotion, which bring more shoppers in.
    """
    weights = []
    for day, promoted in zip(days, storewide, strict=True):
        weight = WEEKDAY_FACTOR[day.weekday()] * MONTH_FACTOR[day.month - 1]
        weight *= seasonal_factor(day) * (STOREWIDE_TRAFFIC if promoted else 1.0)
        weights.append(weight * rng.uniform(0.9, 1.1))
    quotas, previous = [], 0
    for value in cumulative(weights):
        current = round(target * value)
        quotas.append(current - previous)
        previous = current
    return quotas
