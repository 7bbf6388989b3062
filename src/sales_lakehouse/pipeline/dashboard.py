"""Query the dashboard's views on a lake with Spark SQL and hand the rows to the page.

Each gold or quality table a view reads becomes a temporary view of its Delta table
(``gold_fact_sales`` …, read through :class:`~sales_lakehouse.lake.Lake`); each dashboard
view (:mod:`sales_lakehouse.dashboard.views`) becomes a temporary view ``dash_<name>`` of
its SQL; the page's questions are small queries over those, filtered to the period and
one currency. A view whose table is missing is left out, and the page says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.dashboard.page import DashboardData, Period, render
from sales_lakehouse.dashboard.views import VIEW_PREFIX, VIEWS, tables_used, view_sql
from sales_lakehouse.lake import Lake

DEFAULT_DAYS = 28
# Views several questions read, cut to the dates the page shows and kept in memory once
# computed as ``period_<name>``: the date filter reaches the fact table's scan (its files
# hold short date ranges), so each is one scan of the period's files. daily_kpis is cut
# after its moving averages, which need the days before the period.
PERIOD_PREFIX = "period_"
CACHED = ("daily_kpis", "sales_by_store_category", "sales_by_product")
TOP = 10
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class DashboardError(ValueError):
    """The options cannot make a dashboard (a bad date range or currency)."""


def _rows(spark: SparkSession, sql: str) -> list[dict[str, Any]]:
    return [row.asDict() for row in spark.sql(sql).collect()]


def register_views(lake: Lake) -> tuple[list[str], list[str]]:
    """Temporary views of every dashboard view whose tables exist; (created, missing tables)."""
    created, missing = [], []
    for name in VIEWS:
        tables = {}
        for layer, table in tables_used(name):
            if not lake.exists(layer, table):
                missing.append(f"{layer}.{table}")
                continue
            temp = f"{layer}_{table}"
            lake.read(layer, table).createOrReplaceTempView(temp)
            tables[f"{layer}.{table}"] = temp
        if len(tables) == len(tables_used(name)):
            lake.spark.sql(view_sql(name, tables)).createOrReplaceTempView(VIEW_PREFIX + name)
            created.append(name)
    return created, sorted(set(missing))


def _literal(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


@dataclass(frozen=True)
class _Filters:
    window: str
    before: str
    currency: str


def _period(data: DashboardData, start: date | None, end: date | None) -> Period:
    latest = data.freshness.get("latest_sale_date") if data.freshness else None
    end = end or latest or date.today()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise DashboardError(f"--from {start} is after --to {end}")
    return Period(start, end)


def dashboard_data(
    spark: SparkSession,
    settings: Settings,
    start: date | None = None,
    end: date | None = None,
    currency: str | None = None,
) -> DashboardData:
    """Everything the page shows, for ``start``..``end`` (default: the last 28 days with data)
    and ``currency`` (default: the one with the most revenue in the period)."""
    created, missing = register_views(Lake(spark, settings))
    data = DashboardData(problems=[_missing_message(table) for table in missing])
    if "data_freshness" in created:
        (data.freshness,) = _rows(spark, f"SELECT * FROM {VIEW_PREFIX}data_freshness")
    data.period = _period(data, start, end)
    previous = data.period.previous()
    window = f"sale_date BETWEEN {_literal(data.period.start)} AND {_literal(data.period.end)}"
    span = f"sale_date BETWEEN {_literal(previous.start)} AND {_literal(data.period.end)}"
    for name in CACHED:
        if name in created:
            cut = window if name == "daily_kpis" else span
            spark.sql(f"SELECT * FROM {VIEW_PREFIX}{name} WHERE {cut}").createOrReplaceTempView(
                PERIOD_PREFIX + name
            )
            spark.catalog.cacheTable(PERIOD_PREFIX + name)
    if "daily_kpis" in created:
        data.totals = _rows(
            spark,
            "SELECT currency, SUM(revenue) AS revenue, SUM(margin_amount) AS margin_amount, "
            "SUM(units) AS units, SUM(line_count) AS line_count "
            f"FROM {PERIOD_PREFIX}daily_kpis GROUP BY currency "
            "ORDER BY revenue DESC, currency",
        )
    currency = currency or (data.totals[0]["currency"] if data.totals else "USD")
    if not _CURRENCY.match(currency):
        raise DashboardError(f"--currency must be a three-letter code such as USD: {currency!r}")
    data.currency = currency
    if not data.totals:
        data.problems.append(f"no sales between {data.period}: nothing to chart")
        return data
    filters = _Filters(
        window,
        f"sale_date BETWEEN {_literal(previous.start)} AND {_literal(previous.end)}",
        f"currency = '{currency}'",
    )
    for name, query in QUERIES.items():
        if name in created:
            query(spark, data, filters)
    return data


def _missing_message(table: str) -> str:
    if table == "quality.dq_results":
        return "quality.dq_results is missing: no run has recorded quality results yet"
    return f"{table} is missing: run the pipeline's gold stage"


def _daily(spark: SparkSession, data: DashboardData, f: _Filters) -> None:
    data.daily = _rows(
        spark,
        f"SELECT * FROM {PERIOD_PREFIX}daily_kpis WHERE {f.currency} ORDER BY sale_date",
    )


def _stores_and_categories(spark: SparkSession, data: DashboardData, f: _Filters) -> None:
    view = f"{PERIOD_PREFIX}sales_by_store_category"
    for key, compared, daily in (
        ("store_id", "by_store", "daily_by_store"),
        ("category", "by_category", "daily_by_category"),
    ):
        rows = _rows(
            spark,
            f"SELECT {key} AS name, "
            f"SUM(CASE WHEN {f.window} THEN revenue END) AS revenue, "
            f"SUM(CASE WHEN {f.before} THEN revenue END) AS previous_revenue "
            f"FROM {view} WHERE {f.currency} AND ({f.window} OR {f.before}) "
            f"GROUP BY {key} ORDER BY revenue DESC NULLS LAST, {key}",
        )
        setattr(data, compared, rows)
        rows = _rows(
            spark,
            f"SELECT sale_date, {key} AS name, SUM(revenue) AS revenue FROM {view} "
            f"WHERE {f.window} AND {f.currency} GROUP BY sale_date, {key} "
            f"ORDER BY sale_date, {key}",
        )
        setattr(data, daily, rows)


def _top_products(spark: SparkSession, data: DashboardData, f: _Filters) -> None:
    for measure, target in (("revenue", "top_by_revenue"), ("margin_amount", "top_by_margin")):
        rows = _rows(
            spark,
            "SELECT product_id, MAX(category) AS category, MAX(brand) AS brand, "
            "SUM(revenue) AS revenue, SUM(margin_amount) AS margin_amount, "
            f"SUM(units) AS units FROM {PERIOD_PREFIX}sales_by_product "
            f"WHERE {f.window} AND {f.currency} GROUP BY product_id "
            f"ORDER BY {measure} DESC, product_id LIMIT {TOP}",
        )
        setattr(data, target, rows)


def _promotions(spark: SparkSession, data: DashboardData, f: _Filters) -> None:
    data.promotions = _rows(
        spark,
        f"SELECT * FROM {VIEW_PREFIX}promotion_results WHERE {f.currency} "
        f"AND start_date <= {_literal(data.period.end)} "
        f"AND end_date >= {_literal(data.period.start)} "
        "ORDER BY uplift_pct DESC NULLS LAST, promotion_id",
    )


def _quarantine(spark: SparkSession, data: DashboardData, f: _Filters) -> None:
    data.quarantine = _rows(
        spark,
        f"SELECT * FROM {VIEW_PREFIX}quarantine_by_rule WHERE rows_failed > 0 "
        "ORDER BY evaluated_at, dataset, rule",
    )


Query = Callable[[SparkSession, DashboardData, _Filters], None]
# View -> the query that fills its part of the page.
QUERIES: dict[str, Query] = {
    "daily_kpis": _daily,
    "sales_by_store_category": _stores_and_categories,
    "sales_by_product": _top_products,
    "promotion_results": _promotions,
    "quarantine_by_rule": _quarantine,
}


def build_dashboard(
    spark: SparkSession,
    settings: Settings,
    out: Path,
    *,
    start: date | None = None,
    end: date | None = None,
    currency: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> DashboardData:
    """Write the dashboard page to ``out``; the data it shows."""
    data = dashboard_data(spark, settings, start, end, currency)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(data), encoding="utf-8")
    if progress:
        revenue = sum(
            (Decimal(row["revenue"]) for row in data.totals if row["currency"] == data.currency),
            Decimal(0),
        )
        progress(
            f"dashboard: {out} ({data.period}, {data.currency} revenue {revenue:,.2f}"
            + (f"; {len(data.problems)} problem(s)" if data.problems else "")
            + ")"
        )
    return data
