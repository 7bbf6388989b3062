"""The dashboard page: query results in, one self-contained HTML file out.

Charts are Plotly figures; plotly.js is inlined once, so the page opens offline and makes
no network request. Every figure is drawn from the rows :mod:`sales_lakehouse.pipeline.dashboard`
queried from the views; totals are printed exactly (decimals) in the KPI table, each cell
carrying its value in ``data-value`` for checks. Missing marts and empty periods become
messages on the page, never blank charts.

No Spark here.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

QUARANTINE_RUNS = 10
NONE = "-"
CONFIG = {"displaylogo": False, "responsive": True}
CURRENT, PREVIOUS, AVERAGE = "#1f6feb", "#9aa6b2", "#d9480f"


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end)

    def __str__(self) -> str:
        return f"{self.start} to {self.end}"


@dataclass
class DashboardData:
    """What the page shows; lists of rows as the queries returned them."""

    problems: list[str] = field(default_factory=list)
    period: Period = field(default_factory=lambda: Period(date.today(), date.today()))
    currency: str = "USD"
    freshness: dict[str, Any] = field(default_factory=dict)
    totals: list[dict[str, Any]] = field(default_factory=list)
    daily: list[dict[str, Any]] = field(default_factory=list)
    by_store: list[dict[str, Any]] = field(default_factory=list)
    by_category: list[dict[str, Any]] = field(default_factory=list)
    daily_by_store: list[dict[str, Any]] = field(default_factory=list)
    daily_by_category: list[dict[str, Any]] = field(default_factory=list)
    top_by_revenue: list[dict[str, Any]] = field(default_factory=list)
    top_by_margin: list[dict[str, Any]] = field(default_factory=list)
    promotions: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _money(value: Any) -> str:
    return NONE if value is None else f"{Decimal(value):,.2f}"


def _ratio(value: Any) -> str:
    return NONE if value is None else f"{Decimal(value):.2f}"


def _count(value: Any) -> str:
    return NONE if value is None else f"{int(value):,}"


def _column(rows: Iterable[dict[str, Any]], key: str) -> list[Any]:
    return [row[key] for row in rows]


def styled(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "font": {"size": 16}},
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
        font={"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"},
    )
    return fig


def daily_figure(data: DashboardData) -> go.Figure:
    """Revenue, margin and units per day, bars with their 7-day moving average."""
    days = _column(data.daily, "sale_date")
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=(f"Net revenue ({data.currency})", f"Margin ({data.currency})", "Units"),
    )
    for row, (measure, average) in enumerate(
        (("revenue", "revenue_ma7"), ("margin_amount", "margin_ma7"), ("units", "units_ma7")),
        start=1,
    ):
        fig.add_bar(
            x=days,
            y=[_num(v) for v in _column(data.daily, measure)],
            name=measure.replace("_amount", ""),
            marker_color=CURRENT,
            showlegend=False,
            row=row,
            col=1,
        )
        fig.add_scatter(
            x=days,
            y=[_num(v) for v in _column(data.daily, average)],
            name="7-day average",
            mode="lines",
            line={"color": AVERAGE, "width": 2},
            showlegend=row == 1,
            row=row,
            col=1,
        )
    fig.update_xaxes(
        rangeselector={
            "buttons": [
                {"count": 7, "label": "7 d", "step": "day", "stepmode": "backward"},
                {"count": 14, "label": "14 d", "step": "day", "stepmode": "backward"},
                {"step": "all", "label": "all"},
            ]
        },
        row=1,
        col=1,
    )
    return styled(fig, f"Per day, {data.period}", height=620)


def comparison_figure(rows: Sequence[dict[str, Any]], what: str, data: DashboardData) -> go.Figure:
    """Revenue per store or category: this period against the previous one."""
    names = _column(rows, "name")
    fig = go.Figure()
    fig.add_bar(
        x=names,
        y=[_num(v) for v in _column(rows, "previous_revenue")],
        name=f"previous ({data.period.previous()})",
        marker_color=PREVIOUS,
    )
    fig.add_bar(
        x=names,
        y=[_num(v) for v in _column(rows, "revenue")],
        name=f"this period ({data.period})",
        marker_color=CURRENT,
    )
    fig.update_layout(barmode="group", yaxis_title=data.currency)
    return styled(fig, f"Net revenue by {what}: this period against the previous one")


def filtered_daily_figure(data: DashboardData) -> go.Figure:
    """Daily revenue of one store or category at a time, chosen in a drop-down."""
    fig = go.Figure()
    groups: list[tuple[str, str]] = []
    for kind, rows in (("store", data.daily_by_store), ("category", data.daily_by_category)):
        for name in sorted({row["name"] for row in rows}, key=str):
            picked = [row for row in rows if row["name"] == name]
            fig.add_scatter(
                x=_column(picked, "sale_date"),
                y=[_num(v) for v in _column(picked, "revenue")],
                name=f"{kind} {name}",
                mode="lines+markers",
                visible=kind == "store",
            )
            groups.append((kind, str(name)))
    buttons = [
        {
            "label": f"all {kind}s",
            "method": "update",
            "args": [{"visible": [g[0] == kind for g in groups]}],
        }
        for kind in ("store", "category")
    ] + [
        {
            "label": f"{kind}: {name}",
            "method": "update",
            "args": [{"visible": [g == (kind, name) for g in groups]}],
        }
        for kind, name in groups
    ]
    fig.update_layout(
        updatemenus=[{"buttons": buttons, "x": 1, "xanchor": "right", "y": 1.18}],
        yaxis_title=data.currency,
        xaxis={"rangeslider": {"visible": True}},
    )
    return styled(fig, "Daily net revenue by store or category (pick one)", height=460)


def top_products_figure(data: DashboardData) -> go.Figure:
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Top products by revenue", "Top products by margin")
    )
    for col, (rows, measure) in enumerate(
        ((data.top_by_revenue, "revenue"), (data.top_by_margin, "margin_amount")), start=1
    ):
        ordered = list(reversed(rows))
        fig.add_bar(
            x=[_num(v) for v in _column(ordered, measure)],
            y=[f"{r['product_id']} · {r['category'] or '?'}" for r in ordered],
            orientation="h",
            marker_color=CURRENT if col == 1 else AVERAGE,
            showlegend=False,
            row=1,
            col=col,
        )
    return styled(fig, f"Top {len(data.top_by_revenue)} products ({data.currency})", height=440)


def promotions_figure(data: DashboardData) -> go.Figure:
    """Uplift per promotion, sorted, and its baseline against its daily net."""
    rows = [row for row in data.promotions if row["uplift_pct"] is not None]
    rows.sort(key=lambda row: Decimal(row["uplift_pct"]))
    labels = [f"{row['promotion_id']} {row['promotion_name'] or ''}".strip() for row in rows]
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Uplift % (ROI in the hover)", "Baseline vs promotion daily net"),
        horizontal_spacing=0.22,
    )
    fig.add_bar(
        x=[_num(v) for v in _column(rows, "uplift_pct")],
        y=labels,
        orientation="h",
        marker_color=[CURRENT if Decimal(r["uplift_pct"]) >= 0 else AVERAGE for r in rows],
        customdata=[[_num(r["roi"]), _num(r["incremental_margin"])] for r in rows],
        hovertemplate="uplift %{x:.1f} %<br>ROI %{customdata[0]:.2f}"
        "<br>incremental margin %{customdata[1]:,.2f}<extra></extra>",
        showlegend=False,
        row=1,
        col=1,
    )
    for measure, name, color in (
        ("baseline_daily_net", "baseline daily net", PREVIOUS),
        ("promo_daily_net", "promotion daily net", CURRENT),
    ):
        fig.add_bar(
            x=[_num(v) for v in _column(rows, measure)],
            y=labels,
            orientation="h",
            name=name,
            marker_color=color,
            row=1,
            col=2,
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    return styled(fig, "Promotions in the period", height=max(360, 28 * len(rows) + 140))


def last_runs(rows: Sequence[dict[str, Any]], runs: int = QUARANTINE_RUNS) -> list[dict[str, Any]]:
    """The rows of the last ``runs`` runs (by their latest evaluation time)."""
    latest: dict[str, Any] = {}
    for row in rows:
        latest[row["run_id"]] = max(
            latest.get(row["run_id"], row["evaluated_at"]), row["evaluated_at"]
        )
    kept = set(sorted(latest, key=lambda run: (latest[run], run))[-runs:])
    return [row for row in rows if row["run_id"] in kept]


def quarantine_figure(data: DashboardData) -> go.Figure:
    rows = last_runs(data.quarantine)
    run_times: dict[str, datetime] = {}
    for row in rows:
        run_times[row["run_id"]] = max(
            run_times.get(row["run_id"], row["evaluated_at"]), row["evaluated_at"]
        )
    runs = sorted(run_times, key=lambda run: (run_times[run], run))
    labels = [f"{run_times[run]:%Y-%m-%d %H:%M}" for run in runs]
    fig = go.Figure()
    for key in sorted({(row["dataset"], row["rule"]) for row in rows}):
        counts = {
            row["run_id"]: row["rows_failed"]
            for row in rows
            if (row["dataset"], row["rule"]) == key
        }
        fig.add_bar(x=labels, y=[counts.get(run, 0) for run in runs], name=f"{key[0]}: {key[1]}")
    fig.update_layout(barmode="stack", yaxis_title="rows quarantined", xaxis_type="category")
    return styled(fig, f"Quarantined rows by rule, last {len(runs)} run(s)")


def chart_html(fig: go.Figure, div_id: str) -> str:
    return str(
        pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=div_id, config=CONFIG)
    )


def _section(title: str, body: str, question: str) -> str:
    return (
        f'<section><h2>{html.escape(title)}</h2><p class="question">{html.escape(question)}</p>'
        f"{body}</section>"
    )


def _empty(message: str) -> str:
    return f'<p class="empty">{html.escape(message)}</p>'


def _kpi_table(data: DashboardData) -> str:
    header = (
        "<tr><th>currency</th><th>net revenue</th><th>margin</th><th>units</th>"
        "<th>sale lines</th></tr>"
    )
    rows = []
    for row in data.totals:
        cells = [f"<td>{html.escape(row['currency'])}</td>"]
        for key, shown in (
            ("revenue", _money),
            ("margin_amount", _money),
            ("units", _count),
            ("line_count", _count),
        ):
            cells.append(
                f'<td class="num" data-kpi="{key}" data-currency="{html.escape(row["currency"])}" '
                f'data-value="{row[key]}">{shown(row[key])}</td>'
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="kpi">{header}{"".join(rows)}</table>'


def _promotion_table(data: DashboardData) -> str:
    header = (
        "<tr><th>promotion</th><th>type</th><th>from</th><th>to</th><th>baseline / day</th>"
        "<th>promotion / day</th><th>uplift %</th><th>incremental margin</th><th>cost</th>"
        "<th>ROI</th></tr>"
    )
    body = "".join(
        "<tr>"
        f"<td>{html.escape(str(r['promotion_id']))} "
        f"{html.escape(str(r['promotion_name'] or ''))}</td>"
        f"<td>{html.escape(str(r['promotion_type'] or ''))}</td>"
        f"<td>{r['start_date']}</td><td>{r['end_date']}</td>"
        f'<td class="num">{_money(r["baseline_daily_net"])}</td>'
        f'<td class="num">{_money(r["promo_daily_net"])}</td>'
        f'<td class="num">{_money(r["uplift_pct"])}</td>'
        f'<td class="num">{_money(r["incremental_margin"])}</td>'
        f'<td class="num">{_money(r["promo_cost"])}</td>'
        f'<td class="num">{_ratio(r["roi"])}</td>'
        "</tr>"
        for r in data.promotions
    )
    return f'<table class="detail">{header}{body}</table>'


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 color:#1b1f24;background:#f6f8fa}
header{background:#0d1b2a;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#c9d1d9}
main{padding:12px 28px 40px;max-width:1280px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 18px;
 margin:14px 0;break-inside:avoid}
h2{font-size:17px;margin:4px 0}
p.question{color:#57606a;margin:2px 0 8px;font-size:13px}
p.empty,div.problems{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;
 padding:8px 12px}
table{border-collapse:collapse;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #eaeef2;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
@media print{body{background:#fff}section{border:none;page-break-inside:avoid}
 header{color:#000;background:#fff}}
"""


def render(data: DashboardData) -> str:
    """The whole page as one HTML string (plotly.js inlined)."""
    fresh = data.freshness
    freshness = (
        f"gold holds {_count(fresh.get('line_count'))} sale lines; newest sale date "
        f"{fresh.get('latest_sale_date')}, newest order {fresh.get('latest_order_ts')}"
        if fresh
        else "gold.fact_sales is missing"
    )
    problems = (
        '<div class="problems"><strong>Read with care:</strong><ul>'
        + "".join(f"<li>{html.escape(p)}</li>" for p in data.problems)
        + "</ul></div>"
        if data.problems
        else ""
    )
    others = [row["currency"] for row in data.totals if row["currency"] != data.currency]
    sections = [
        _section(
            "Totals",
            (_kpi_table(data) if data.totals else _empty("No sales in this period."))
            + f"<p>Charts below are in {html.escape(data.currency)}"
            + (
                f"; other currencies in the period: {', '.join(others)} (never added)."
                if others
                else "."
            )
            + "</p>",
            "How much did we sell, and at what margin?",
        )
    ]
    charts: list[tuple[str, str, str, bool, Any]] = [
        (
            "Per day",
            "chart-daily",
            "Is the trend up or down once the daily noise is smoothed?",
            bool(data.daily),
            daily_figure,
        ),
        (
            "Stores",
            "chart-stores",
            "Which stores grew or fell against the previous period?",
            bool(data.by_store),
            lambda d: comparison_figure(d.by_store, "store", d),
        ),
        (
            "Categories",
            "chart-categories",
            "Which categories grew or fell?",
            bool(data.by_category),
            lambda d: comparison_figure(d.by_category, "category", d),
        ),
        (
            "One store or category",
            "chart-filter",
            "How did one store or category do day by day?",
            bool(data.daily_by_store or data.daily_by_category),
            filtered_daily_figure,
        ),
        (
            "Top products",
            "chart-products",
            "What sells most, and what earns most?",
            bool(data.top_by_revenue),
            top_products_figure,
        ),
        (
            "Promotions",
            "chart-promotions",
            "Which promotions lifted sales, and did they pay for themselves?",
            any(r["uplift_pct"] is not None for r in data.promotions),
            promotions_figure,
        ),
        (
            "Data quality",
            "chart-quarantine",
            "How many rows did each rule keep out of the last runs?",
            bool(data.quarantine),
            quarantine_figure,
        ),
    ]
    for title, div_id, question, has_data, build in charts:
        body = (
            chart_html(build(data), div_id)
            if has_data
            else _empty(f"No data for this chart in {data.period}.")
        )
        if div_id == "chart-promotions" and data.promotions:
            body += _promotion_table(data)
        if div_id == "chart-quarantine":
            body += f"<p>{html.escape(freshness)}</p>"
        sections.append(_section(title, body, question))
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>Sales dashboard {data.period}</title><style>{STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>Sales dashboard</h1><p>{data.period} ({data.period.days} days; compared with "
        f"{data.period.previous()}) · {html.escape(freshness)}</p></header>"
        f"<main>{problems}{''.join(sections)}</main></body></html>"
    )
