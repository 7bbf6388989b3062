"""gold.demand_features on a handful of inline rows; every expected value is worked out by
hand below (two stores, two products, ten days, a price change and three promotions)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import DataFrame, Row, SparkSession

from sales_lakehouse.contracts import output_columns
from sales_lakehouse.forecast.features import DemandSpan, build_demand_features
from sales_lakehouse.pipeline.forecast import BUILD_CONF
from sales_lakehouse.runtime.session import session_conf
from sales_lakehouse.silver.products import END_OF_TIME

D = Decimal
FACT = "store_id string, product_id string, sale_date date, quantity int, product_known boolean"
PRODUCTS = (
    "product_id string, category string, list_price decimal(12,2), valid_from timestamp, "
    "valid_to timestamp, version_number int"
)
PROMOTIONS = (
    "promotion_id string, scope string, product_id string, category string, start_date date, "
    "end_date date, discount_pct decimal(5,2)"
)
SPAN = DemandSpan(date(2025, 1, 1), date(2025, 1, 8), horizon=2)


def _day(n: int) -> date:
    return date(2025, 1, n)


@pytest.fixture(scope="module")
def inputs(spark: SparkSession) -> tuple[DataFrame, DataFrame, DataFrame]:
    fact = spark.createDataFrame(
        [
            ("S1", "P1", _day(1), 2, True),
            ("S1", "P1", _day(3), 1, True),
            ("S1", "P1", _day(8), 3, True),
            ("S1", "P1", _day(8), 1, True),  # two lines the same day: 4 units
            ("S2", "P2", _day(2), 5, True),  # S2 opens on the 2nd
            ("S1", "PX", _day(4), 9, False),  # unknown product: not in the grid
        ],
        FACT,
    )
    products = spark.createDataFrame(
        [
            ("P1", "Laptops", D("100.00"), datetime(2024, 12, 1), datetime(2025, 1, 6), 1),
            ("P1", "Laptops", D("80.00"), datetime(2025, 1, 6), END_OF_TIME, 2),
            ("P2", "Audio", D("10.00"), datetime(2024, 12, 1), END_OF_TIME, 1),
        ],
        PRODUCTS,
    )
    promotions = spark.createDataFrame(
        [
            ("PR1", "product", "P1", None, _day(6), _day(7), D("20.00")),
            ("PR2", "category", None, "Audio", _day(5), _day(5), D("10.00")),
            ("PR3", "all", None, None, _day(7), _day(7), D("5.00")),
        ],
        PROMOTIONS,
    )
    return fact, products, promotions


@pytest.fixture(scope="module")
def rows(
    spark: SparkSession, inputs: tuple[DataFrame, DataFrame, DataFrame]
) -> dict[tuple[date, str, str], Row]:
    with session_conf(spark, BUILD_CONF):  # as the feature step builds it
        mart = build_demand_features(*inputs, SPAN).collect()
    return {(r["sale_date"], r["store_id"], r["product_id"]): r for r in mart}


def test_the_grid_holds_every_store_and_product_from_the_store_s_first_sale(
    rows: dict[tuple[date, str, str], Row],
) -> None:
    # S1 from the 1st, S2 from the 2nd, both products, through the 8th plus 2 days.
    assert len(rows) == 2 * 10 + 2 * 9
    assert (_day(1), "S2", "P2") not in rows
    assert {key[2] for key in rows} == {"P1", "P2"}
    assert rows[(_day(2), "S1", "P1")]["units"] == 0
    assert rows[(_day(8), "S1", "P1")]["units"] == 4
    assert rows[(_day(9), "S1", "P1")]["units"] is None  # after the last sale day


def test_lags_and_means_use_only_the_days_before(rows: dict[tuple[date, str, str], Row]) -> None:
    r = rows[(_day(4), "S1", "P1")]  # units 1st..3rd: 2, 0, 1
    assert (r["lag_1"], r["lag_7"], r["lag_14"], r["lag_28"]) == (1, None, None, None)
    assert r["mean_7"] == pytest.approx(1.0)
    assert r["mean_28"] == pytest.approx(1.0)
    assert r["trend_7_28"] == pytest.approx(0.0)
    assert r["sale_days_28"] == 2
    assert r["same_weekday_mean_4w"] is None
    r = rows[(_day(8), "S1", "P1")]  # units 1st..7th: 2, 0, 1, 0, 0, 0, 0
    assert (r["lag_1"], r["lag_7"]) == (0, 2)
    assert r["same_weekday_mean_4w"] == pytest.approx(2.0)
    assert r["mean_7"] == pytest.approx(3 / 7)
    # P1 was promoted on the 6th and 7th: the unpromoted mean is over the 1st..5th.
    assert r["base_mean_28"] == pytest.approx(3 / 5)
    assert r["promo_days_28"] == 2
    r = rows[(_day(10), "S1", "P1")]  # the horizon: the 9th is unknown, the 3rd is not
    assert (r["lag_1"], r["lag_7"]) == (None, 1)
    assert r["mean_7"] == pytest.approx(5 / 6)  # 3rd..8th known, the 9th is not


def test_store_and_category_means_pool_the_rows_of_the_days_before(
    rows: dict[tuple[date, str, str], Row],
) -> None:
    # S1 on the 1st and 2nd: P1 and P2 both days, 2 units in 4 rows.
    assert rows[(_day(3), "S1", "P1")]["store_mean_28"] == pytest.approx(0.5)
    # Audio (P2) on the 1st (S1) and the 2nd (S1, S2): 5 units in 3 rows.
    assert rows[(_day(3), "S2", "P2")]["category_mean_28"] == pytest.approx(5 / 3)
    assert rows[(_day(1), "S1", "P1")]["store_mean_28"] is None  # no day before


def test_price_and_promotions_valid_on_the_day(rows: dict[tuple[date, str, str], Row]) -> None:
    before_change, after_change = rows[(_day(5), "S1", "P1")], rows[(_day(8), "S1", "P1")]
    assert before_change["list_price"] == D("100.00")
    assert after_change["list_price"] == D("80.00")  # version 2 from the 6th
    assert after_change["usual_price"] == D("94.29")  # (5 x 100 + 2 x 80) / 7
    assert after_change["price_ratio"] == pytest.approx(80 / 94.29)
    assert after_change["promo_active"] is False
    promoted = rows[(_day(7), "S1", "P1")]  # PR1 (product) and PR3 (storewide)
    assert (promoted["promo_active"], promoted["promo_count"]) == (True, 2)
    assert (promoted["promo_discount_pct"], promoted["promo_scope"]) == (D("20.00"), "product")
    # The usual price of the 7th: (5 x 100 + 80) / 6 = 96.67; 20 % off 80.
    assert promoted["effective_price_ratio"] == pytest.approx(64 / 96.67)
    assert promoted["targeted_promotions"] == 1  # PR1; PR3 is storewide
    audio = rows[(_day(5), "S2", "P2")]  # PR2 covers the Audio category that day
    assert (audio["promo_scope"], audio["promo_discount_pct"]) == ("category", D("10.00"))
    assert audio["targeted_promotions"] == 1
    calendar = rows[(_day(5), "S1", "P1")]  # Sunday 5 January 2025
    assert (calendar["day_of_week"], calendar["week_of_year"], calendar["month"]) == (7, 1, 1)


def test_an_increment_s_rows_equal_the_full_build_s(
    spark: SparkSession,
    inputs: tuple[DataFrame, DataFrame, DataFrame],
    rows: dict[tuple[date, str, str], Row],
) -> None:
    days = [_day(8), _day(9)]
    with session_conf(spark, BUILD_CONF):
        part = build_demand_features(*inputs, SPAN, days).collect()
    assert sorted(part, key=repr) == sorted(
        (r for key, r in rows.items() if key[0] in days), key=repr
    )


def test_the_mart_yields_the_declared_columns(
    inputs: tuple[DataFrame, DataFrame, DataFrame],
) -> None:
    mart = build_demand_features(*inputs, SPAN, [_day(3)])
    names = {"bigint": "long"}
    found = [(f.name, names.get(t := f.dataType.simpleString(), t)) for f in mart.schema.fields]
    assert found == [(c.name, c.type) for c in output_columns("gold")["demand_features"]]
