"""The data-quality page in a real browser, its statuses checked against quality.dq_results.

Built by ``sales-lakehouse quality --recorded --html``: no evaluation, the last recorded
results of each dataset. The oracle reads ``quality.dq_results`` with delta-rs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable

from sales_lakehouse.runtime import cli
from tests.dashboard.conftest import Browser
from tests.generated_lake import FirstRun

WORST_FIRST = ("failed", "warned", "quarantined", "passed")


def expected_statuses(lake: Path) -> dict[str, str]:
    """Each dataset's worst rule status in its latest run, from the raw results."""
    rows: list[dict[str, Any]] = (
        DeltaTable(str(lake / "quality" / "dq_results")).to_pyarrow_table().to_pylist()
    )
    latest: dict[str, tuple[Any, str]] = {}
    for row in rows:
        mark = (row["evaluated_at"], row["run_id"])
        latest[row["dataset"]] = max(latest.get(row["dataset"], mark), mark)
    worst: dict[str, str] = {}
    for row in rows:
        if row["run_id"] != latest[row["dataset"]][1]:
            continue
        if row["passed"] or row["skipped"]:
            status = "passed"
        else:
            status = {"fail": "failed", "warn": "warned"}.get(row["action"], "quarantined")
        current = worst.get(row["dataset"], "passed")
        worst[row["dataset"]] = min(current, status, key=WORST_FIRST.index)
    return worst


@pytest.fixture(scope="module")
def page(first_run: FirstRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("quality") / "quality.html"
    code = cli.main(
        ["quality", "--lake", str(first_run.lake_dir), "--recorded", "--html", str(out)]
    )
    assert code == 0  # the generated data breaks no fail rule
    return out


def test_the_quality_page_shows_each_dataset_status_first_and_draws_offline(
    page: Path, first_run: FirstRun, browser: Browser
) -> None:
    visit = browser.visit(page)
    assert [entry for entry in visit.console if entry["level"] in ("SEVERE", "WARNING")] == []
    assert visit.requests == [page.resolve().as_uri()]
    cards = visit.js(
        "return Array.from(document.querySelectorAll('div.status'))"
        ".map(e => [e.dataset.dataset, e.dataset.status])"
    )
    expected = expected_statuses(first_run.lake_dir)
    assert dict(cards) == expected
    assert {"sales", "products", "promotions"} <= set(expected)
    # Worst first: the cards, then the broken rules.
    assert [WORST_FIRST.index(status) for _, status in cards] == sorted(
        WORST_FIRST.index(status) for _, status in cards
    )
    broken = visit.js(
        "return Array.from(document.querySelectorAll('table.broken tr[class]'))"
        ".map(e => e.className)"
    )
    assert broken and broken == sorted(broken, key=WORST_FIRST.index)
    assert "passed" not in broken
    drawn = visit.js(
        "return Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".map(e => [e.id, e.querySelectorAll('g.point, path.js-line').length]))"
    )
    assert drawn and all(marks > 0 for marks in drawn.values()), drawn
    assert "history-sales" in drawn  # the generated sales break quarantine rules
    assert visit.screenshot("quality.png").stat().st_size > 10_000


def test_recorded_results_need_a_recorded_run(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "lake").mkdir()
    assert cli.main(["quality", "--lake", str(tmp_path / "lake"), "--recorded"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"sales-lakehouse quality: error: no recorded quality results in {tmp_path / 'lake'}"
    )
