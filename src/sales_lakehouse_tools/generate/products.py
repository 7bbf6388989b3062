"""The product catalogue change extract: an initial snapshot and monthly change files.

Every product has one version before the sales period; each month ~5-10% of products get
a new version (price or cost change, now and then a reclassification). Sales look up the
version valid at their order time, so prices in the sales files match the catalogue.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import date, timedelta

from sales_lakehouse.contracts import load_contract
from sales_lakehouse_tools.generate.catalogue_data import (
    CATEGORY_POPULARITY,
    CATEGORY_SHARE,
    COST_RATIO,
    RECLASSIFICATIONS,
    SUBCATEGORIES,
    SubcategorySpec,
)
from sales_lakehouse_tools.generate.common import (
    DAY_SECONDS,
    FileOutput,
    Period,
    epoch_of,
    iso_timestamp,
    money,
)
from sales_lakehouse_tools.generate.report import DefectLog

DATASET = "products"
DEFECT_KINDS = ("missing_required", "negative_cost")
MIN_PRODUCTS, MAX_PRODUCTS = 60, 3000


@dataclass(frozen=True, slots=True)
class ProductVersion:
    """One version of a product, valid from ``updated_at`` (epoch seconds, UTC)."""

    product_id: str
    sku: str
    name: str
    category: str
    subcategory: str
    brand: str
    unit_cost: int
    list_price: int
    updated_at: int

    def values(self) -> dict[str, str]:
        """The version as landing text keyed by contract column name."""
        return {
            "product_id": self.product_id,
            "sku": self.sku,
            "product_name": self.name,
            "category": self.category,
            "subcategory": self.subcategory,
            "brand": self.brand,
            "unit_cost": money(self.unit_cost),
            "list_price": money(self.list_price),
            "updated_at": iso_timestamp(self.updated_at),
        }


@dataclass(slots=True)
class Product:
    """A product with its clean versions in ``updated_at`` order and its sales weight."""

    product_id: str
    weight: float
    versions: list[ProductVersion]

    def at(self, epoch: int) -> ProductVersion:
        """The version valid at ``epoch``: the latest one updated at or before it."""
        versions = self.versions
        if versions[-1].updated_at <= epoch:
            return versions[-1]
        for version in reversed(versions):
            if version.updated_at <= epoch:
                return version
        return self.versions[0]


@dataclass
class Catalogue:
    """Generated products, their landing files and the number of clean rows."""

    products: list[Product]
    outputs: list[FileOutput]
    clean_rows: int


def file_path(day: date) -> str:
    """Landing path of the catalogue extract exported on ``day``."""
    return f"{DATASET}/{day.isoformat()}_{DATASET}.csv"


def _charm_price(value: float) -> int:
    """A retail price in cents ending in .99 (or 9.99 above 100): 149.99, 1299.99."""
    if value < 100:
        return max(int(value), 1) * 100 + 99
    return round(value / 10) * 1000 - 1


def _brand_and_name(
    spec: SubcategorySpec, rng: random.Random, seen: dict[str, int]
) -> tuple[str, str]:
    """A brand and a display name unique within the catalogue."""
    brand, series = rng.choice(spec.brands)
    options = {key: rng.choice(values) for key, values in spec.options}
    name = spec.template.format(brand=brand, series=rng.choice(series), **options)
    seen[name] = seen.get(name, 0) + 1
    if seen[name] > 1:
        # Same model in a later hardware revision, as retailers list them.
        name = f"{name} (Rev. {seen[name]})"
    return brand, name


def _sku_code(text: str) -> str:
    """Three upper-case alphanumerics for a SKU segment (``be quiet!`` -> ``BEQ``)."""
    return "".join(ch for ch in text.upper() if ch.isalnum())[:3]


def _initial_products(rng: random.Random, period: Period, count: int) -> list[Product]:
    """One version per product, updated during the year before the period starts."""
    per_category = {c: sum(s.category == c for s in SUBCATEGORIES) for c in CATEGORY_SHARE}
    weights = [CATEGORY_SHARE[s.category] / per_category[s.category] for s in SUBCATEGORIES]
    specs = list(SUBCATEGORIES[:count])
    specs += rng.choices(SUBCATEGORIES, weights=weights, k=count - len(specs))
    rng.shuffle(specs)
    seen: dict[str, int] = {}
    products = []
    for number, spec in enumerate(specs, start=1):
        brand, name = _brand_and_name(spec, rng, seen)
        lo, hi = spec.price
        list_price = _charm_price(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        unit_cost = min(round(list_price * rng.uniform(*COST_RATIO[spec.category])), list_price - 1)
        product_id = f"P{number:05d}"
        version = ProductVersion(
            product_id=product_id,
            sku=f"{_sku_code(brand)}-{_sku_code(spec.subcategory)}-{number:05d}",
            name=name,
            category=spec.category,
            subcategory=spec.subcategory,
            brand=brand,
            unit_cost=max(unit_cost, 1),
            list_price=list_price,
            updated_at=period.start_epoch - rng.randint(1, 365 * DAY_SECONDS),
        )
        weight = CATEGORY_POPULARITY[spec.category] * min(rng.paretovariate(1.5), 20.0)
        products.append(Product(product_id, weight, [version]))
    return products


def _changed(rng: random.Random, current: ProductVersion, updated_at: int) -> ProductVersion:
    """A new version: a price change, a cost change or both; sometimes reclassified."""
    roll = rng.random()
    list_price, unit_cost = current.list_price, current.unit_cost
    if roll < 0.60 or roll >= 0.85:
        list_price = _charm_price(list_price / 100 * rng.uniform(0.85, 1.10))
    if roll >= 0.60:
        unit_cost = round(unit_cost * rng.uniform(0.94, 1.06))
    category, subcategory = current.category, current.subcategory
    if rng.random() < 0.08 and (category, subcategory) in RECLASSIFICATIONS:
        category, subcategory = RECLASSIFICATIONS[(category, subcategory)]
    if (list_price, unit_cost, category) == (current.list_price, current.unit_cost, category):
        list_price += 100
    # Cost stays below the list price: clearance below cost is not part of clean data.
    unit_cost = max(1, min(unit_cost, round(list_price * 0.95)))
    return replace(
        current,
        category=category,
        subcategory=subcategory,
        unit_cost=unit_cost,
        list_price=list_price,
        updated_at=updated_at,
    )


def _month_bounds(first: date, last: date) -> tuple[int, int]:
    """First and last epoch second of the days ``first``..``last`` (UTC)."""
    return epoch_of(first), epoch_of(last + timedelta(days=1)) - 1


def _defect_rows(
    rng: random.Random,
    products: list[Product],
    months: list[tuple[date, date]],
    month_rows: list[list[tuple[int, str, dict[str, str]]]],
    log: DefectLog,
) -> None:
    """Extra versions with an empty brand/unit_cost or a negative cost, own keys each."""
    per_kind = max(2, len(products) // 200)
    used = {(p.product_id, v.updated_at) for p in products for v in p.versions}
    for kind in DEFECT_KINDS:
        for index in range(per_kind):
            month = rng.randrange(len(months))
            product = rng.choice(products)
            updated_at = rng.randint(*_month_bounds(*months[month]))
            while (product.product_id, updated_at) in used:
                updated_at += 1
            used.add((product.product_id, updated_at))
            base = product.at(updated_at)
            values = replace(base, updated_at=updated_at).values()
            if kind == "missing_required":
                values[("brand", "unit_cost")[index % 2]] = ""
            else:
                values["unit_cost"] = money(-base.unit_cost)
            month_rows[month].append((updated_at, product.product_id, values))
            key: list[str | int] = [product.product_id, values["updated_at"]]
            log.add(DATASET, kind, key, file_path(months[month][0]))


def build_catalogue(rng: random.Random, period: Period, lines: int, log: DefectLog) -> Catalogue:
    """The catalogue and its change extract: initial file plus one change file per month."""
    columns = load_contract(DATASET).column_names
    count = min(MAX_PRODUCTS, max(MIN_PRODUCTS, lines // 400))
    products = _initial_products(rng, period, count)
    initial = FileOutput(file_path(period.start - timedelta(days=1)), columns)
    initial.rows = [[p.versions[0].values().get(c, "") for c in columns] for p in products]
    months = period.months()
    month_rows: list[list[tuple[int, str, dict[str, str]]]] = []
    clean = len(products)
    for first, last in months:
        chosen = rng.sample(products, max(1, round(len(products) * rng.uniform(0.05, 0.10))))
        rows = []
        for product in chosen:
            version = _changed(rng, product.versions[-1], rng.randint(*_month_bounds(first, last)))
            product.versions.append(version)
            rows.append((version.updated_at, product.product_id, version.values()))
        month_rows.append(rows)
        clean += len(rows)
    log.declare(DATASET, *DEFECT_KINDS)
    _defect_rows(rng, products, months, month_rows, log)
    outputs = [initial]
    for (first, _), rows in zip(months, month_rows, strict=True):
        rows.sort(key=lambda item: (item[0], item[1]))
        body = [[values.get(c, "") for c in columns] for _, _, values in rows]
        outputs.append(FileOutput(file_path(first), columns, body))
    return Catalogue(products, outputs, clean)
