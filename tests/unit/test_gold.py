from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sales_lakehouse.gold.daily_sales import build_daily_sales
from sales_lakehouse.gold.fact_sales import build_fact_sales
from sales_lakehouse.gold.performance import (
    build_product_performance,
    build_promotion_performance,
)
from sales_lakehouse.pipeline.gold import (
    in_date_ranges,
    merged_ranges,
    month_ranges,
    promotions_to_refresh,
)
from sales_lakehouse.silver.products import END_OF_TIME

D = Decimal
SALES_SCHEMA = (
    "order_id string, line_number int, order_ts timestamp, store_id string, customer_id string, "
    "product_id string, quantity int, unit_price decimal(12,2), discount_amount decimal(12,2), "
    "promotion_id string, channel string, currency string, sale_date date, "
    "gross_amount decimal(18,2), net_amount decimal(18,2)"
)
PRODUCTS_SCHEMA = (
    "product_id string, category string, subcategory string, brand string, "
    "unit_cost decimal(12,2), valid_from timestamp, valid_to timestamp, version_number int"
)
PROMOTIONS_SCHEMA = (
    "promotion_id string, promotion_name string, promotion_type string, scope string, "
    "product_id string, category string, channel string, start_date date, end_date date, "
    "promotion_days int, promo_cost decimal(12,2)"
)


def _sale(
    order: str,
    ts: datetime,
    product: str,
    qty: int,
    price: str,
    discount: str = "0.00",
    promotion: str | None = None,
    currency: str = "USD",
    channel: str = "store",
) -> tuple:  # type: ignore[type-arg]
    gross = D(price) * qty
    return (
        order,
        1,
        ts,
        "S001",
        None,
        product,
        qty,
        D(price),
        D(discount),
        promotion,
        channel,
        currency,
        ts.date(),
        gross,
        gross - D(discount),
    )


def _products(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            (
                "P1",
                "Laptops",
                "Ultra",
                "Dell",
                D("800.00"),
                datetime(2025, 1, 10),
                datetime(2025, 2, 1),
                1,
            ),
            ("P1", "Laptops", "Ultra", "Dell", D("700.00"), datetime(2025, 2, 1), END_OF_TIME, 2),
            ("P2", "Peripherals", "Mice", "Logi", D("10.00"), datetime(2025, 1, 1), END_OF_TIME, 1),
        ],
        PRODUCTS_SCHEMA,
    )


def _promotions(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            (
                "PR1",
                "Laptop days",
                "percent_off",
                "product",
                "P1",
                None,
                None,
                date(2025, 2, 10),
                date(2025, 2, 14),
                5,
                D("50.00"),
            )
        ],
        PROMOTIONS_SCHEMA,
    )


def test_fact_sales_picks_the_version_valid_at_sale_time_and_keeps_unknowns(
    spark: SparkSession,
) -> None:
    sales = spark.createDataFrame(
        [
            _sale("before-first", datetime(2025, 1, 5), "P1", 1, "1000.00"),
            _sale("v1", datetime(2025, 1, 31, 23, 59), "P1", 2, "1000.00"),
            _sale("v2", datetime(2025, 2, 1), "P1", 1, "1000.00", "100.00", "PR1"),
            _sale("unknown", datetime(2025, 2, 2), "P9", 3, "5.00", promotion="NOPE"),
        ],
        SALES_SCHEMA,
    )
    fact = build_fact_sales(sales, _products(spark), _promotions(spark))
    got = fact.select(
        "order_id",
        "product_known",
        "category",
        "unit_cost",
        "cost_amount",
        "margin_amount",
        "promotion_known",
    )
    expected = spark.createDataFrame(
        [
            ("before-first", True, "Laptops", D("800.00"), D("800.00"), D("200.00"), True),
            ("v1", True, "Laptops", D("800.00"), D("1600.00"), D("400.00"), True),
            ("v2", True, "Laptops", D("700.00"), D("700.00"), D("200.00"), True),
            ("unknown", False, "Unknown", None, None, None, False),
        ],
        "order_id string, product_known boolean, category string, unit_cost decimal(12,2), "
        "cost_amount decimal(18,2), margin_amount decimal(18,2), promotion_known boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_daily_sales_sums_exactly_and_never_mixes_currencies(spark: SparkSession) -> None:
    sales = spark.createDataFrame(
        [
            _sale("A", datetime(2025, 2, 3, 9), "P2", 1, "0.10", "0.00"),
            _sale("A", datetime(2025, 2, 3, 9), "P2", 2, "0.10", "0.01"),
            _sale("B", datetime(2025, 2, 3, 18), "P2", 1, "0.10"),
            _sale("C", datetime(2025, 2, 3, 18), "P2", 1, "0.10", currency="EUR"),
        ],
        SALES_SCHEMA,
    ).withColumn(
        "line_number",
        F.monotonically_increasing_id().cast("int"),
    )
    daily = build_daily_sales(build_fact_sales(sales, _products(spark), _promotions(spark)))
    got = daily.select(
        "currency",
        "units",
        "gross_amount",
        "discount_amount",
        "net_amount",
        "cost_amount",
        "margin_amount",
        "order_count",
        "line_count",
    )
    expected = spark.createDataFrame(
        [
            ("USD", 4, D("0.40"), D("0.01"), D("0.39"), D("40.00"), D("-39.61"), 2, 3),
            ("EUR", 1, D("0.10"), D("0.00"), D("0.10"), D("10.00"), D("-9.90"), 1, 1),
        ],
        "currency string, units long, gross_amount decimal(18,2), discount_amount decimal(18,2), "
        "net_amount decimal(18,2), cost_amount decimal(18,2), margin_amount decimal(18,2), "
        "order_count long, line_count long",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_product_performance_ranks_within_category_and_month(spark: SparkSession) -> None:
    fact = spark.createDataFrame(
        [
            (
                date(2025, 1, 5),
                datetime(2025, 1, 5),
                "P1",
                "USD",
                "Laptops",
                "Dell",
                "o1",
                1,
                D("900.00"),
                D("100.00"),
            ),
            (
                date(2025, 1, 6),
                datetime(2025, 1, 6),
                "P3",
                "USD",
                "Laptops",
                "HP",
                "o2",
                1,
                D("950.00"),
                D("90.00"),
            ),
            (
                date(2025, 1, 7),
                datetime(2025, 1, 7),
                "P2",
                "USD",
                "Peripherals",
                "Logi",
                "o3",
                2,
                D("50.00"),
                D("30.00"),
            ),
            (
                date(2025, 2, 1),
                datetime(2025, 2, 1),
                "P1",
                "USD",
                "Laptops",
                "Dell",
                "o4",
                3,
                D("2700.00"),
                D("300.00"),
            ),
        ],
        "sale_date date, order_ts timestamp, product_id string, currency string, category string, "
        "brand string, order_id string, quantity int, net_amount decimal(18,2), margin_amount decimal(18,2)",
    )
    got = build_product_performance(fact).select(
        "month", "product_id", "revenue", "rank_in_category"
    )
    expected = spark.createDataFrame(
        [
            (date(2025, 1, 1), "P3", D("950.00"), 1),
            (date(2025, 1, 1), "P1", D("900.00"), 2),
            (date(2025, 1, 1), "P2", D("50.00"), 1),
            (date(2025, 2, 1), "P1", D("2700.00"), 1),
        ],
        "month date, product_id string, revenue decimal(18,2), rank_in_category int",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_promotion_performance_baseline_uplift_and_roi(spark: SparkSession) -> None:
    # Baseline window: 4 days before 2025-02-10. Scope: product P1 only.
    sales = spark.createDataFrame(
        [
            _sale("base1", datetime(2025, 2, 6), "P1", 1, "1000.00"),  # in baseline
            _sale("base2", datetime(2025, 2, 9), "P1", 1, "1000.00"),  # in baseline
            _sale("old", datetime(2025, 2, 5), "P1", 1, "1000.00"),  # before the window
            _sale("promo1", datetime(2025, 2, 10), "P1", 2, "1000.00", "200.00", "PR1"),
            _sale("promo2", datetime(2025, 2, 14), "P1", 1, "1000.00"),  # in scope, not attributed
            _sale("other", datetime(2025, 2, 11), "P2", 5, "20.00"),  # out of scope
            _sale(
                "eur", datetime(2025, 2, 11), "P1", 1, "999.00", currency="EUR"
            ),  # other currency
        ],
        SALES_SCHEMA,
    )
    fact = build_fact_sales(sales, _products(spark), _promotions(spark))
    row = build_promotion_performance(
        fact, _promotions(spark), currency="USD", baseline_days=4
    ).first()
    assert row is not None
    assert (row["attributed_lines"], row["units"]) == (1, 2)
    assert row["net_amount"] == D("1800.00")
    assert row["discount_given"] == D("200.00")
    assert row["attributed_margin"] == D("400.00")  # 1800 - 2 x 700
    assert row["baseline_daily_net"] == D("500.00")  # 2000 / 4 days
    assert row["promo_daily_net"] == D("560.00")  # (1800 + 1000) / 5 days
    assert row["uplift_pct"] == D("12.00")
    # Margin during: 400 + 300 = 700. Baseline: 2 x 300 (cost 700 from Feb 1) = 600 over
    # 4 days = 150/day, x 5 promotion days = 750 expected without the promotion.
    assert row["incremental_margin"] == D("-50.00")
    assert row["roi"] == D("-2.0000")  # (-50 - 50) / 50


def test_promotion_performance_category_and_all_scopes_by_channel(spark: SparkSession) -> None:
    # 2 baseline days. PRC: category Laptops on the web, Feb 10-11 (baseline Feb 8-9).
    # PRA: everything on every channel, Feb 12 (baseline Feb 10-11).
    promotions = spark.createDataFrame(
        [
            ("PRC", "Web laptops", "seasonal", "category", None, "Laptops", "web",
             date(2025, 2, 10), date(2025, 2, 11), 2, D("100.00")),
            ("PRA", "Everything", "flash_sale", "all", None, None, None,
             date(2025, 2, 12), date(2025, 2, 12), 1, D("10.00")),
        ],
        PROMOTIONS_SCHEMA,
    )  # fmt: skip
    sales = spark.createDataFrame(
        [
            _sale("w1", datetime(2025, 2, 8), "P1", 1, "1000.00", channel="web"),  # PRC base
            _sale("s1", datetime(2025, 2, 9), "P1", 1, "1000.00"),  # store: in no scope
            # PRC during (attributed), PRA baseline: net 1900, margin 1900 - 2 x 700
            _sale("w2", datetime(2025, 2, 10), "P1", 2, "1000.00", "100.00", "PRC", channel="web"),
            _sale("w3", datetime(2025, 2, 11), "P2", 1, "50.00", channel="web"),  # PRA base
            _sale("s2", datetime(2025, 2, 12), "P2", 2, "50.00", promotion="PRA"),  # PRA during
            _sale("m1", datetime(2025, 2, 12), "P1", 1, "1000.00", channel="mobile"),  # PRA
            _sale("e1", datetime(2025, 2, 12), "P1", 1, "999.00", currency="EUR", channel="web"),
        ],
        SALES_SCHEMA,
    )
    fact = build_fact_sales(sales, _products(spark), promotions)
    rows = {
        row["promotion_id"]: row
        for row in build_promotion_performance(
            fact, promotions, currency="USD", baseline_days=2
        ).collect()
    }
    measures = (
        "attributed_lines", "units", "net_amount", "discount_given", "attributed_margin",
        "baseline_daily_net", "promo_daily_net", "uplift_pct", "incremental_margin", "roi",
    )  # fmt: skip
    got = {key: tuple(row[m] for m in measures) for key, row in rows.items()}
    assert got == {
        # baseline 1000 / 2 days; during 1900 / 2 days; margin 500 - 300 x 2 / 2 = 200
        "PRC": (1, 2, D("1900.00"), D("100.00"), D("500.00"),
                D("500.00"), D("950.00"), D("90.00"), D("200.00"), D("1.0000")),
        # baseline (1900 + 50) / 2; during 100 + 1000; margin 80 + 300 - (500 + 40) / 2
        "PRA": (1, 2, D("100.00"), D("0.00"), D("80.00"),
                D("975.00"), D("1100.00"), D("12.82"), D("110.00"), D("10.0000")),
    }  # fmt: skip


def test_promotions_to_refresh_by_window_attribution_and_change() -> None:
    day = date(2025, 3, 10)
    promotions = [
        ("IN_PROMO", date(2025, 3, 1), date(2025, 3, 10)),  # the date is its last day
        ("IN_BASELINE", date(2025, 3, 14), date(2025, 3, 20)),  # 4 baseline days: from 03-10
        ("AFTER", date(2025, 3, 15), date(2025, 3, 20)),  # baseline from 03-11
        ("BEFORE", date(2025, 3, 1), date(2025, 3, 9)),
        ("ATTRIBUTED", date(2025, 6, 1), date(2025, 6, 2)),
        ("CHANGED", date(2025, 1, 1), date(2025, 1, 2)),
    ]
    refresh = promotions_to_refresh(
        promotions, {"ATTRIBUTED", "UNKNOWN"}, {"CHANGED", "GONE"}, [day], baseline_days=4
    )
    assert refresh == [
        ("ATTRIBUTED", date(2025, 5, 28), date(2025, 6, 2)),
        ("CHANGED", date(2024, 12, 28), date(2025, 1, 2)),
        ("GONE", date.max, date.min),  # no longer in silver: no window, its row is removed
        ("IN_BASELINE", date(2025, 3, 10), date(2025, 3, 20)),
        ("IN_PROMO", date(2025, 2, 25), date(2025, 3, 10)),
    ]  # UNKNOWN: lines carry an id silver never had, so the mart has no row for it


def test_merged_ranges() -> None:
    d = date
    windows = [
        (d(2025, 3, 5), d(2025, 3, 9)),
        (d(2025, 3, 1), d(2025, 3, 4)),  # touches the first: merged
        (d(2025, 3, 7), d(2025, 3, 8)),  # inside it
        (d(2025, 3, 12), d(2025, 3, 12)),  # one day, apart
        (d.max, d.min),  # empty
    ]
    assert merged_ranges(windows) == [
        (d(2025, 3, 1), d(2025, 3, 9)),
        (d(2025, 3, 12), d(2025, 3, 12)),
    ]


def test_month_ranges_cover_each_month_to_its_last_day() -> None:
    d = date
    months = [d(2024, 2, 1), d(2024, 12, 1), d(2025, 1, 1), d(2025, 4, 1), d(2025, 3, 1)]
    assert month_ranges(months) == [
        (d(2024, 2, 1), d(2024, 2, 29)),  # a leap year's February
        (d(2024, 12, 1), d(2025, 1, 31)),  # across the year, merged
        (d(2025, 3, 1), d(2025, 4, 30)),  # given out of order, merged
    ]
    assert month_ranges([]) == []


def test_a_month_filter_by_date_ranges_reads_only_that_month_s_files(
    spark: SparkSession, tmp_path: Path
) -> None:
    """product_performance reads the fact of the months a run touched. Filtered by the
    month (a function of sale_date), Delta read every file of the fact; by sale_date
    ranges, its data skipping keeps the files of those months only."""
    path = str(tmp_path / "fact")
    days = [date(2025, 5, 31), date(2025, 6, 1), date(2025, 6, 30), date(2025, 7, 1)]
    for day in days:  # one file per day, as a clustered fact has files of date ranges
        spark.createDataFrame([(day, 1)], "sale_date date, units int").write.format("delta").mode(
            "append"
        ).save(path)
    fact = spark.read.format("delta").load(path)
    june = [date(2025, 6, 1)]

    by_month = fact.filter(F.trunc("sale_date", "month").isin(june))
    by_ranges = fact.filter(in_date_ranges(month_ranges(june)))

    assert len(by_month.inputFiles()) == 4
    assert len(by_ranges.inputFiles()) == 2
    assert sorted(r[0] for r in by_ranges.collect()) == [date(2025, 6, 1), date(2025, 6, 30)]
    assert fact.filter(in_date_ranges([])).count() == 0


def test_promotions_to_refresh_nothing_touched() -> None:
    promotions = [("P1", date(2025, 3, 1), date(2025, 3, 10))]
    assert promotions_to_refresh(promotions, set(), set(), [], baseline_days=28) == []
    assert promotions_to_refresh(promotions, set(), set(), [date(2025, 3, 11)], 28) == []
