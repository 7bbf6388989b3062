"""A product that is sold before it is in the catalogue is linked once its versions land."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.contracts import load_contract
from tests.integration.helpers import lake_of, run_pipeline, stats, write_landing_csv

pytestmark = pytest.mark.integration

D = Decimal


def _sale(
    order_id: str, line: int, order_ts: str, product_id: str, **values: str
) -> dict[str, str]:
    return {
        "order_id": order_id,
        "line_number": str(line),
        "order_ts": order_ts,
        "store_id": "S001",
        "customer_id": "C0000001",
        "product_id": product_id,
        "channel": "store",
        "currency": "USD",
        **values,
    }


def _product(product_id: str, updated_at: str, category: str, unit_cost: str) -> dict[str, str]:
    return {
        "product_id": product_id,
        "sku": f"SKU-{product_id}",
        "product_name": f"Product {product_id}",
        "category": category,
        "subcategory": f"{category} misc",
        "brand": "Acme",
        "unit_cost": unit_cost,
        "list_price": "99.99",
        "updated_at": updated_at,
    }


SALES = [
    # Before PLATE's first version (2025-01-02): takes the first version.
    # 2024-12-31T22:00-05:00 is 2025-01-01T03:00Z, so its sale date is 2025-01-01.
    _sale("O3", 1, "2024-12-31T22:00:00-05:00", "PLATE", quantity="1", unit_price="49.99"),
    _sale("O1", 1, "2025-01-05T10:00:00Z", "PLATE", quantity="2", unit_price="50.00",
          discount_amount="5.00"),
    _sale("O1", 2, "2025-01-05T10:00:00Z", "P1", quantity="1", unit_price="20.00"),
    _sale("O2", 1, "2025-01-15T09:30:00+01:00", "PLATE", quantity="3", unit_price="55.00",
          discount_amount="0.00"),
]  # fmt: skip
# PLATE: category and cost change on 2025-01-10.
PLATE_VERSIONS = [
    _product("PLATE", "2025-01-02T00:00:00Z", "Appliances", "30.00"),
    _product("PLATE", "2025-01-10T00:00:00Z", "Kitchen", "32.50"),
]
FACT_COLUMNS = (
    "order_id",
    "line_number",
    "sale_date",
    "net_amount",
    "product_known",
    "category",
    "unit_cost",
    "cost_amount",
    "margin_amount",
)


def _land_first_batch(landing: Path) -> None:
    write_landing_csv(
        landing / "sales" / "2025-01-20_sales.csv", load_contract("sales").column_names, SALES
    )
    write_landing_csv(
        landing / "products" / "2024-12-01_products.csv",
        load_contract("products").column_names,
        [_product("P1", "2024-11-01T00:00:00Z", "Audio", "12.00")],
    )
    promotion = {
        "promotion_id": "PR1",
        "promotion_name": "New Year",
        "promotion_type": "percent_off",
        "discount_pct": "10.00",
        "category": "Audio",
        "start_date": "2025-01-01",
        "end_date": "2025-01-07",
        "promo_cost": "100.00",
    }
    write_landing_csv(
        landing / "promotions" / "2024-12-01_promotions.csv",
        load_contract("promotions").column_names,
        [promotion],
    )


def test_late_arriving_product_is_linked_when_it_arrives(
    spark: SparkSession, settings: Settings
) -> None:
    landing, lake_dir = Path(settings.landing), Path(settings.lake)
    _land_first_batch(landing)
    run_pipeline(spark, landing, lake_dir)
    lake = lake_of(spark, landing, lake_dir)

    def fact() -> dict[tuple[str, int], tuple[object, ...]]:
        rows = lake.read("gold", "fact_sales").select(*FACT_COLUMNS).collect()
        return {(row["order_id"], row["line_number"]): tuple(row)[2:] for row in rows}

    def daily_plate() -> dict[date, tuple[object, ...]]:
        rows = (
            lake.read("gold", "daily_sales")
            .filter("product_id = 'PLATE'")
            .select("sale_date", "store_id", "currency", "net_amount", "cost_amount",
                    "margin_amount")
            .collect()
        )  # fmt: skip
        return {row["sale_date"]: tuple(row)[1:] for row in rows}

    p1 = (date(2025, 1, 5), D("20.00"), True, "Audio", D("12.00"), D("12.00"), D("8.00"))
    unknown = (False, "Unknown", None, None, None)
    assert fact() == {
        ("O3", 1): (date(2025, 1, 1), D("49.99"), *unknown),
        ("O1", 1): (date(2025, 1, 5), D("95.00"), *unknown),
        ("O1", 2): p1,
        ("O2", 1): (date(2025, 1, 15), D("165.00"), *unknown),
    }
    assert daily_plate() == {
        date(2025, 1, 1): ("S001", "USD", D("49.99"), None, None),
        date(2025, 1, 5): ("S001", "USD", D("95.00"), None, None),
        date(2025, 1, 15): ("S001", "USD", D("165.00"), None, None),
    }

    write_landing_csv(
        landing / "products" / "2025-02-01_products.csv",
        load_contract("products").column_names,
        PLATE_VERSIONS,
    )
    summary = run_pipeline(spark, landing, lake_dir)
    assert stats(summary, "silver", "products").accepted == 2
    assert stats(summary, "silver", "sales").rows_in == 0

    assert fact() == {
        ("O3", 1): (
            date(2025, 1, 1), D("49.99"), True, "Appliances", D("30.00"), D("30.00"), D("19.99")
        ),
        ("O1", 1): (
            date(2025, 1, 5), D("95.00"), True, "Appliances", D("30.00"), D("60.00"), D("35.00")
        ),
        ("O1", 2): p1,
        ("O2", 1): (
            date(2025, 1, 15), D("165.00"), True, "Kitchen", D("32.50"), D("97.50"), D("67.50")
        ),
    }  # fmt: skip
    assert daily_plate() == {
        date(2025, 1, 1): ("S001", "USD", D("49.99"), D("30.00"), D("19.99")),
        date(2025, 1, 5): ("S001", "USD", D("95.00"), D("60.00"), D("35.00")),
        date(2025, 1, 15): ("S001", "USD", D("165.00"), D("97.50"), D("67.50")),
    }
