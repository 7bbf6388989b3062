"""The runbook's procedures, run as an operator would type them (docs/runbook.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.runtime.cli import main
from tests.integration.conftest import FirstRun
from tests.integration.helpers import (
    content,
    copy_lake,
    lake_of,
    multiset_difference,
    run_pipeline,
)

pytestmark = pytest.mark.integration

GOLD = ("fact_sales", "daily_sales", "product_performance", "promotion_performance")


def test_a_table_damaged_by_hand_is_restored_and_gold_rebuilt(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    lake = lake_of(spark, first_run.landing, lake_dir)
    tables = [("silver", "sales"), *(("gold", mart) for mart in GOLD)]
    before = {table: content(lake.read(*table)) for table in tables}
    day = lake.read("silver", "sales").agg({"sale_date": "min"}).first()[0]
    silver = f"delta.`{lake.path('silver', 'sales')}`"
    query = ["--lake", str(lake_dir)]

    # The mistake: a day of silver.sales deleted by hand; the nightly run carries it to gold.
    assert main(["query", f"DELETE FROM {silver} WHERE sale_date = DATE'{day}'", *query]) == 0
    run_pipeline(spark, first_run.landing, lake_dir)
    assert lake.read("gold", "fact_sales").filter(f"sale_date = DATE'{day}'").count() == 0

    # The runbook: find the version before the DELETE, restore it, rebuild gold.
    capsys.readouterr()
    assert main(["query", f"DESCRIBE HISTORY {silver}", "--limit", "50", *query]) == 0
    history = capsys.readouterr().out
    deletes = [int(m) for m in re.findall(r"^\|(\d+)\s*\|[^\n]*\|DELETE\s*\|", history, re.M)]
    assert len(deletes) == 1, history
    restore = f"RESTORE TABLE {silver} TO VERSION AS OF {deletes[0] - 1}"
    assert main(["query", restore, *query]) == 0
    assert main(["run", "--stage", "gold", "--full-refresh", *query]) == 0

    for table in tables:
        difference = multiset_difference(before[table], content(lake.read(*table)))
        assert not difference, f"{'.'.join(table)} (left before the mistake, right restored)"
