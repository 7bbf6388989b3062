"""The promotion calendar and a per-day index the sales generator uses to apply it.

Promotions target one product, one category or (both empty) the whole catalogue, run for
3-21 days inside the sales period and may be limited to one channel. A first file is
exported the day before the period starts; promotions starting in the second half of the
period arrive in a second file dated mid-period.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from sales_lakehouse.contracts import load_contract
from sales_lakehouse_tools.generate.catalogue_data import CATEGORY_SHARE
from sales_lakehouse_tools.generate.common import FileOutput, Period, money
from sales_lakehouse_tools.generate.products import Product
from sales_lakehouse_tools.generate.report import DefectLog

DATASET = "promotions"
DEFECT_KINDS = ("end_before_start",)
MIN_PROMOTIONS, MAX_PROMOTIONS = 8, 200

# Advertised discount range (percent) per promotion type.
DISCOUNT_RANGE: dict[str, tuple[int, int]] = {
    "percent_off": (5, 25),
    "clearance": (20, 40),
    "seasonal": (10, 30),
    "flash_sale": (15, 40),
    "bundle": (5, 15),
}
TYPES_BY_SCOPE: dict[str, tuple[str, ...]] = {
    "product": ("percent_off", "clearance", "flash_sale", "bundle"),
    "category": ("seasonal", "percent_off", "bundle", "flash_sale"),
    "all": ("seasonal", "flash_sale"),
}
# What running a promotion costs (media, marketplace fees), in whole currency units.
COST_RANGE: dict[str, tuple[int, int]] = {
    "product": (150, 3_000),
    "category": (800, 12_000),
    "all": (5_000, 40_000),
}
SEASONS = ("New Year", "Winter", "Spring", "Spring", "Spring", "Summer", "Summer",
           "Back to School", "Back to School", "Autumn", "Black Friday", "Holiday")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Promotion:
    """One promotion; ``pct`` is the discount in hundredths of a percent (12.50% -> 1250)."""

    promotion_id: str
    name: str
    promotion_type: str
    pct: int
    product_id: str
    category: str
    start: date
    end: date
    channel: str
    cost: int

    def values(self) -> dict[str, str]:
        """The promotion as landing text keyed by contract column name."""
        return {
            "promotion_id": self.promotion_id,
            "promotion_name": self.name,
            "promotion_type": self.promotion_type,
            "discount_pct": money(self.pct),
            "product_id": self.product_id,
            "category": self.category,
            "start_date": self.start.isoformat(),
            "end_date": self.end.isoformat(),
            "channel": self.channel,
            "promo_cost": money(self.cost),
        }


@dataclass
class _DayPromotions:
    by_product: dict[str, list[Promotion]] = field(default_factory=dict)
    by_category: dict[str, list[Promotion]] = field(default_factory=dict)
    everything: list[Promotion] = field(default_factory=list)
    targeted: list[Promotion] = field(default_factory=list)


class PromotionIndex:
    """Active promotions per UTC day, for fast lookup while generating sales lines."""

    def __init__(self, promotions: list[Promotion]) -> None:
        """Index every promotion under each day it runs, by product, category or storewide."""
        self.by_id = {p.promotion_id: p for p in promotions}
        self._days: dict[int, _DayPromotions] = {}
        for promo in promotions:
            for ordinal in range(promo.start.toordinal(), promo.end.toordinal() + 1):
                day = self._days.setdefault(ordinal, _DayPromotions())
                if promo.product_id:
                    day.by_product.setdefault(promo.product_id, []).append(promo)
                    day.targeted.append(promo)
                elif promo.category:
                    day.by_category.setdefault(promo.category, []).append(promo)
                    day.targeted.append(promo)
                else:
                    day.everything.append(promo)

    def best(self, ordinal: int, product_id: str, category: str, channel: str) -> Promotion | None:
        """The most generous promotion applying to a line on that day, if any."""
        day = self._days.get(ordinal)
        if day is None:
            return None
        for_product = day.by_product.get(product_id)
        for_category = day.by_category.get(category)
        if for_product is None and for_category is None and not day.everything:
            return None
        best: Promotion | None = None
        for group in (for_product, for_category, day.everything):
            for promo in group or ():
                if promo.channel and promo.channel != channel:
                    continue
                if best is None or (promo.pct, promo.promotion_id) > (best.pct, best.promotion_id):
                    best = promo
        return best

    def targeted(self, ordinal: int) -> list[Promotion]:
        """Product- and category-scoped promotions active that day."""
        day = self._days.get(ordinal)
        return day.targeted if day is not None else []

    def storewide(self, ordinal: int) -> bool:
        """True when a whole-catalogue promotion runs that day."""
        day = self._days.get(ordinal)
        return day is not None and bool(day.everything)


def file_path(day: date) -> str:
    """Landing path of the promotion calendar exported on ``day``."""
    return f"{DATASET}/{day.isoformat()}_{DATASET}.csv"


def _name(promo_type: str, scope: str, target: str, start: date) -> str:
    """A marketing name; product names bring their commas and inch marks along."""
    season = SEASONS[start.month - 1]
    label = {
        "percent_off": "Deal",
        "clearance": "Clearance",
        "seasonal": f"{season} Special",
        "flash_sale": "Flash Sale",
        "bundle": "Bundle & Save",
    }[promo_type]
    if scope == "all":
        return f"{label}: Everything" if promo_type == "flash_sale" else f"{season} Storewide Sale"
    return f"{label}: {target}"


def _pct(rng: random.Random, promo_type: str) -> int:
    """Discount in hundredths: mostly whole or half percents, sometimes odd values."""
    lo, hi = DISCOUNT_RANGE[promo_type]
    if rng.random() < 0.7:
        return rng.randint(lo * 2, hi * 2) * 50
    return rng.randint(lo * 100, hi * 100)


def _promotion(
    rng: random.Random, period: Period, scope: str, products: list[Product], channels: list[str]
) -> Promotion:
    """A promotion of the given scope (id assigned later): 3-21 days inside the period."""
    promo_type = rng.choice(TYPES_BY_SCOPE[scope])
    length = rng.randint(3, 5) if promo_type == "flash_sale" else rng.randint(5, 21)
    start = period.start + timedelta(days=rng.randint(0, max(0, period.days - length)))
    end = min(start + timedelta(days=length - 1), period.last)
    product_id = category = ""
    target = ""
    if scope == "product":
        product = rng.choices(products, weights=[p.weight for p in products])[0]
        product_id, target = product.product_id, product.versions[0].name
    elif scope == "category":
        category = target = rng.choice(list(CATEGORY_SHARE))
    lo, hi = COST_RANGE[scope]
    return Promotion(
        promotion_id="",
        name=_name(promo_type, scope, target, start),
        promotion_type=promo_type,
        pct=_pct(rng, promo_type),
        product_id=product_id,
        category=category,
        start=start,
        end=end,
        channel=rng.choice(channels) if rng.random() < 0.5 else "",
        cost=rng.randint(lo * 100, hi * 100),
    )


def build_promotions(
    rng: random.Random, period: Period, lines: int, products: list[Product], log: DefectLog
) -> tuple[list[Promotion], list[FileOutput], int]:
    """Clean promotions (ids in start order), their landing files and the clean row count."""
    contract = load_contract(DATASET)
    allowed_types = set(contract.column("promotion_type").allowed or ())
    if not set(DISCOUNT_RANGE) <= allowed_types:
        raise ValueError(f"promotion types {sorted(DISCOUNT_RANGE)} not allowed by the contract")
    channels = list(contract.column("channel").allowed or ())
    count = min(MAX_PROMOTIONS, max(MIN_PROMOTIONS, lines // 2500))
    everything = max(1, count // 10)
    by_category = round(count * 0.4)
    scopes = ["all"] * everything + ["category"] * by_category
    scopes += ["product"] * (count - len(scopes))
    rng.shuffle(scopes)
    drafts = [_promotion(rng, period, scope, products, channels) for scope in scopes]
    drafts.sort(key=lambda promo: promo.start)
    promotions = [
        replace(promo, promotion_id=f"PR{number:04d}")
        for number, promo in enumerate(drafts, start=1)
    ]
    mid = period.start + timedelta(days=period.days // 2)
    first = FileOutput(file_path(period.start - timedelta(days=1)), contract.column_names)
    second = FileOutput(file_path(mid), contract.column_names)
    for promo in promotions:
        target = first if promo.start <= mid else second
        target.rows.append([promo.values().get(c, "") for c in contract.column_names])
    log.declare(DATASET, *DEFECT_KINDS)
    for number in range(count + 1, count + 1 + max(2, count // 50)):
        # A calendar entry whose end date was typed before its start date.
        broken = _promotion(rng, period, "category", products, channels)
        bad_end = broken.start - timedelta(days=rng.randint(1, 7))
        values = {**broken.values(), "promotion_id": f"PR{number:04d}"}
        values["end_date"] = bad_end.isoformat()
        first.rows.append([values.get(c, "") for c in contract.column_names])
        log.add(DATASET, "end_before_start", [values["promotion_id"]], first.path)
    outputs = [first] + ([second] if second.rows else [])
    return promotions, outputs, len(promotions)
