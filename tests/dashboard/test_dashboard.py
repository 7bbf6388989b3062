"""The dashboard page in a real browser, its figures checked against gold.

The page is built from the session's generated lake (tests/generated_lake.py). The oracle
reads the gold and quality tables with delta-rs (not Spark) and sums them with Decimal;
the browser gives what the page printed (``data-value`` of the KPI cells) and what each
chart drew (the figure's data, as Plotly holds it in the page).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.dashboard.page import DashboardData
from sales_lakehouse.pipeline.dashboard import build_dashboard
from tests.dashboard.conftest import Browser
from tests.generated_lake import FirstRun

CHARTS = {
    "chart-daily",
    "chart-stores",
    "chart-categories",
    "chart-filter",
    "chart-products",
    "chart-promotions",
    "chart-quarantine",
}


def rows(lake: Path, layer: str, table: str) -> list[dict[str, Any]]:
    return list(DeltaTable(str(lake / layer / table)).to_pyarrow_table().to_pylist())


@pytest.fixture(scope="module")
def built(
    spark: SparkSession, first_run: FirstRun, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, DashboardData]:
    out = tmp_path_factory.mktemp("dashboard") / "dashboard.html"
    settings = Settings(landing=str(first_run.landing), lake=str(first_run.lake_dir))
    data = build_dashboard(spark, settings, out)
    return out, data


@pytest.fixture(scope="module")
def gold(first_run: FirstRun) -> dict[str, list[dict[str, Any]]]:
    lake = first_run.lake_dir
    return {
        "daily_sales": rows(lake, "gold", "daily_sales"),
        "fact_sales": rows(lake, "gold", "fact_sales"),
        "promotion_performance": rows(lake, "gold", "promotion_performance"),
        "dq_results": rows(lake, "quality", "dq_results"),
    }


def test_the_page_opens_offline_without_errors_and_every_chart_draws(
    built: tuple[Path, DashboardData], browser: Browser
) -> None:
    page, _data = built
    visit = browser.visit(page)
    assert [entry for entry in visit.console if entry["level"] in ("SEVERE", "WARNING")] == []
    assert visit.requests == [page.resolve().as_uri()]  # no CDN, no font, nothing else
    drawn = visit.js(
        "return Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".map(e => [e.id, e.querySelectorAll('g.point, path.js-line').length]))"
    )
    assert set(drawn) == CHARTS
    assert all(marks > 0 for marks in drawn.values()), drawn
    assert visit.screenshot("dashboard.png").stat().st_size > 10_000


def test_printed_totals_and_charts_equal_gold(
    built: tuple[Path, DashboardData], gold: dict[str, list[dict[str, Any]]], browser: Browser
) -> None:
    page, data = built
    visit = browser.visit(page)
    start, end = data.period.start, data.period.end
    # The default period: the 28 days up to the newest sale date in gold.
    assert end == max(row["sale_date"] for row in gold["fact_sales"])
    assert start == end - timedelta(days=27)
    in_period = [row for row in gold["daily_sales"] if start <= row["sale_date"] <= end]

    # SQL's SUM skips nulls (a margin is unknown where the product's cost is).
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in in_period:
        for key in ("net_amount", "margin_amount", "units", "line_count"):
            if row[key] is not None:
                expected[(row["currency"], key)] += Decimal(row[key])
    printed = visit.js(
        "return Array.from(document.querySelectorAll('[data-kpi]'))"
        ".map(e => [e.dataset.currency, e.dataset.kpi, e.dataset.value])"
    )
    names = {"revenue": "net_amount"}
    assert {(c, names.get(k, k)): Decimal(v) for c, k, v in printed} == dict(expected)
    assert len(printed) == 4 * len({row["currency"] for row in in_period}) > 0

    currency = data.currency
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    for row in in_period:
        if row["currency"] == currency:
            by_day[row["sale_date"]] += row["net_amount"]
    drawn = visit.js("const d = document.getElementById('chart-daily').data[0]; return [d.x, d.y]")
    assert [date.fromisoformat(x[:10]) for x in drawn[0]] == sorted(by_day)
    assert drawn[1] == pytest.approx([float(by_day[day]) for day in sorted(by_day)])

    # Top products by revenue: the same ranking from the fact table.
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for row in gold["fact_sales"]:
        if start <= row["sale_date"] <= end and row["currency"] == currency:
            revenue[row["product_id"]] += row["net_amount"]
    top = sorted(revenue, key=lambda product: (-revenue[product], product))[:10]
    bars = visit.js("return document.getElementById('chart-products').data[0].y")
    assert [label.split(" ")[0] for label in reversed(bars)] == top

    # Store comparison: this period's bars sum to the currency's revenue.
    stores = visit.js("return document.getElementById('chart-stores').data[1].y")
    assert sum(stores) == pytest.approx(float(sum(by_day.values())))

    # Promotions: every promotion of the period with its uplift, as gold holds it.
    promotions = {
        row["promotion_id"]: float(row["uplift_pct"])
        for row in gold["promotion_performance"]
        if row["currency"] == currency
        and row["uplift_pct"] is not None
        and row["start_date"] <= end
        and row["end_date"] >= start
    }
    shown = visit.js(
        "const d = document.getElementById('chart-promotions').data[0]; return [d.y, d.x]"
    )
    assert {label.split(" ")[0]: x for label, x in zip(*shown, strict=True)} == pytest.approx(
        promotions
    )
    assert promotions

    # Quarantine: the rows each rule took out, as quality.dq_results recorded them.
    quarantined = sum(
        row["rows_failed"]
        for row in gold["dq_results"]
        if row["action"] == "quarantine" and row["stage"] == "silver"
    )
    stacks = visit.js(
        "return document.getElementById('chart-quarantine').data.map(t => t.y)"
        ".flat().reduce((a, b) => a + b, 0)"
    )
    assert stacks == quarantined > 0


def test_a_lake_without_gold_or_without_sales_in_the_period_says_so(
    spark: SparkSession,
    first_run: FirstRun,
    tmp_path: Path,
    browser: Browser,
) -> None:
    empty = Settings(landing=str(tmp_path / "landing"), lake=str(tmp_path / "lake"))
    page = tmp_path / "empty.html"
    data = build_dashboard(spark, empty, page)
    assert "gold.fact_sales is missing: run the pipeline's gold stage" in data.problems
    visit = browser.visit(page)
    assert visit.js("return document.querySelectorAll('.js-plotly-plot').length") == 0
    text = visit.js("return document.body.innerText")
    assert "gold.daily_sales is missing" in text
    assert "No data for this chart" in text

    settings = Settings(landing=str(first_run.landing), lake=str(first_run.lake_dir))
    quiet = tmp_path / "quiet.html"
    build_dashboard(spark, settings, quiet, start=date(2001, 1, 1), end=date(2001, 1, 31))
    visit = browser.visit(quiet)
    text = visit.js("return document.body.innerText")
    assert "no sales between 2001-01-01 to 2001-01-31: nothing to chart" in text
    assert visit.js("return document.querySelectorAll('.js-plotly-plot').length") == 0
    assert [entry for entry in visit.console if entry["level"] == "SEVERE"] == []
