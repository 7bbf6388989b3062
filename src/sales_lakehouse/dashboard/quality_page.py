"""The data-quality page: can I trust the data? One self-contained HTML file.

Top: a status per dataset (failed, warned, quarantined, passed), so the answer is there in
five seconds. Then the broken rules, worst first, with their reasons and sample keys; each
dataset's failed share per rule over the last runs (from ``quality.dq_results``); how
fresh the data is; the quarantine counts; and last the full table of every rule.

Results come in as plain dicts (the columns of ``quality.dq_results`` plus ``status``).
No Spark here.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from sales_lakehouse.dashboard.page import STYLE, chart_html, last_runs, styled

# Worst first: a dataset's status is the worst status of its rules.
SEVERITY = ("failed", "held", "warned", "quarantined", "passed", "skipped")
COLORS = {
    "failed": "#cf222e",
    "held": "#bc4c00",
    "warned": "#bf8700",
    "quarantined": "#8250df",
    "passed": "#1a7f37",
}
HISTORY_RUNS = 10
QUALITY_STYLE = """
div.statuses{display:flex;flex-wrap:wrap;gap:10px}
div.status{border-radius:8px;padding:10px 14px;color:#fff;min-width:180px}
div.status strong{display:block;font-size:18px}
tr.failed td{background:#ffebe9}tr.held td{background:#fff1e5}tr.warned td{background:#fff8c5}
tr.quarantined td{background:#fbefff}tr.skipped td{color:#6e7781}
table.all td{word-break:break-word;max-width:260px}
"""
COLUMNS = (
    "dataset",
    "stage",
    "rule",
    "rule_type",
    "action",
    "status",
    "rows_checked",
    "rows_failed",
    "observed",
    "threshold",
    "sample_keys",
    "message",
)


def _rank(status: str) -> int:
    return SEVERITY.index(status) if status in SEVERITY else len(SEVERITY)


def dataset_status(results: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Dataset -> the worst status of its rules (skipped rules count as passed)."""
    worst: dict[str, str] = {}
    for result in results:
        status = "passed" if result["status"] == "skipped" else result["status"]
        current = worst.get(result["dataset"], "passed")
        worst[result["dataset"]] = min(current, status, key=_rank)
    return worst


def _share(row: Mapping[str, Any]) -> float:
    """Percent of checked rows that failed; a rule without rows is 0 or 100 by its verdict."""
    if row["rows_checked"]:
        return 100.0 * float(row["rows_failed"]) / float(row["rows_checked"])
    return 0.0 if row["passed"] else 100.0


def history_figure(dataset: str, rows: Sequence[Mapping[str, Any]]) -> go.Figure | None:
    """Failed share per run of each rule of ``dataset`` that broke at least once."""
    rows = last_runs([dict(r) for r in rows if r["dataset"] == dataset], HISTORY_RUNS)
    broke = sorted({r["rule"] for r in rows if not r["passed"]})
    if not broke:
        return None
    times: dict[str, datetime] = {}
    for row in rows:
        times[row["run_id"]] = max(
            times.get(row["run_id"], row["evaluated_at"]), row["evaluated_at"]
        )
    runs = sorted(times, key=lambda run: (times[run], run))
    fig = go.Figure()
    for rule in broke:
        share = {r["run_id"]: _share(r) for r in rows if r["rule"] == rule}
        fig.add_scatter(
            x=[f"{times[run]:%m-%d %H:%M}" for run in runs],
            y=[share.get(run) for run in runs],
            name=rule,
            mode="lines+markers",
        )
    fig.update_layout(yaxis_title="% of rows failed", xaxis_type="category")
    return styled(fig, f"{dataset}: failed share per rule, last {len(runs)} run(s)", height=300)


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    return f"<td>{html.escape('' if value is None else str(value))}</td>"


def _broken_table(results: Sequence[Mapping[str, Any]]) -> str:
    """The broken rules, compact: how much failed, the reason, a few keys to look at."""
    header = "".join(
        f"<th>{name}</th>"
        for name in ("dataset", "rule", "status", "rows failed", "observed", "threshold", "reason")
    )
    body = "".join(
        f'<tr class="{html.escape(r["status"])}">'
        + _cell(r["dataset"])
        + _cell(r["rule"])
        + _cell(r["status"])
        + _cell(
            f"{r['rows_failed']:,} of {r['rows_checked']:,} ({_share(r):.2f} %)"
            if r["rows_checked"]
            else "-"
        )
        + _cell(r.get("observed"))
        + _cell(r.get("threshold"))
        + _cell(
            (r.get("message") or "")
            + (f" e.g. {', '.join(list(r['sample_keys'])[:3])}" if r.get("sample_keys") else "")
        )
        + "</tr>"
        for r in results
    )
    return f'<table class="broken"><tr>{header}</tr>{body}</table>'


def _table(results: Sequence[Mapping[str, Any]], css: str) -> str:
    header = "".join(f"<th>{name}</th>" for name in COLUMNS)
    body = "".join(
        f'<tr class="{html.escape(r["status"])}">'
        + "".join(_cell(r.get(c)) for c in COLUMNS)
        + "</tr>"
        for r in results
    )
    return f'<table class="{css}"><tr>{header}</tr>{body}</table>'


def _status_cards(results: Sequence[Mapping[str, Any]]) -> str:
    cards = []
    for dataset, status in sorted(
        dataset_status(results).items(), key=lambda i: (_rank(i[1]), i[0])
    ):
        mine = [r for r in results if r["dataset"] == dataset]
        counts = {s: sum(r["status"] == s for r in mine) for s in SEVERITY}
        detail = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        cards.append(
            f'<div class="status" data-dataset="{html.escape(dataset)}" '
            f'data-status="{status}" style="background:{COLORS[status]}">'
            f"<strong>{html.escape(dataset)}: {status}</strong>{html.escape(detail)}</div>"
        )
    return f'<div class="statuses">{"".join(cards)}</div>'


def render_quality(
    results: Sequence[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
    quarantine: Mapping[str, Sequence[tuple[str, int]]],
    *,
    freshness: Mapping[str, Any] | None = None,
    title: str = "sales-lakehouse data quality",
) -> str:
    """The page for ``results`` (this evaluation), ``history`` (rows of dq_results) and the
    quarantine counts by rule."""
    results = sorted(results, key=lambda r: (_rank(r["status"]), r["dataset"], r["rule"]))
    broken = [r for r in results if r["status"] in ("failed", "held", "warned", "quarantined")]
    evaluated = max((r["evaluated_at"] for r in results), default=None)
    sections = [
        "<section><h2>Status</h2>"
        '<p class="question">Can I trust the data? The worst rule of each dataset decides.</p>'
        f"{_status_cards(results)}</section>",
        "<section><h2>Broken rules</h2>"
        '<p class="question">What broke, how much, and which keys to look at.</p>'
        + (_broken_table(broken) if broken else "<p>Every rule passed.</p>")
        + "</section>",
    ]
    charts = []
    for dataset in sorted({r["dataset"] for r in results}):
        fig = history_figure(dataset, history)
        charts.append(
            chart_html(fig, f"history-{dataset}")
            if fig is not None
            else f"<p>{html.escape(dataset)}: no rule broke in the last {HISTORY_RUNS} runs.</p>"
        )
    sections.append(
        "<section><h2>Over the last runs</h2>"
        '<p class="question">Is a rule getting worse, or was it one bad file?</p>'
        + "".join(charts)
        + "</section>"
    )
    fresh_rows = "".join(
        f"<tr><td>{html.escape(str(name))}</td><td>{html.escape(str(value))}</td></tr>"
        for name, value in (freshness or {}).items()
    )
    quarantine_rows = "".join(
        f"<tr><td>{html.escape(dataset)}</td><td>{html.escape(rule)}</td>"
        f'<td class="num">{count:,}</td></tr>'
        for dataset, reasons in quarantine.items()
        for rule, count in reasons
    )
    sections += [
        "<section><h2>Freshness</h2>"
        f"<table><tr><td>results evaluated at</td><td>{evaluated}</td></tr>{fresh_rows}"
        "</table></section>",
        "<section><h2>Quarantine by rule</h2>"
        "<table><tr><th>dataset</th><th>rule</th><th>rows</th></tr>"
        f"{quarantine_rows}</table></section>",
        f"<section><h2>Every rule</h2>{_table(results, 'all')}</section>",
    ]
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{STYLE}{QUALITY_STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{len(results)} rules, {len(broken)} broke; "
        f"evaluated {evaluated}</p></header><main>{''.join(sections)}</main></body></html>\n"
    )
