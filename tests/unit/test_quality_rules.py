"""Checks in the contracts, the rule catalog, row-rule results, the staged table view."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pydantic import ValidationError
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from sales_lakehouse.contracts import DATASETS, Contract, DatasetCheck, load_contract
from sales_lakehouse.dashboard.quality_page import dataset_status, render_quality
from sales_lakehouse.quality.engine import judge_batch, stage_checks
from sales_lakehouse.quality.report import text_report
from sales_lakehouse.quality.results import CheckResult, EvalContext
from sales_lakehouse.quality.rule_specs import row_rule_specs, rule_specs
from sales_lakehouse.quality.rules import contract_checks
from sales_lakehouse.silver.common import validate
from sales_lakehouse.silver.merge import table_after
from tests.builders import bronze, sale

CTX = EvalContext("r1", "silver", datetime(2025, 2, 1), datetime(2025, 2, 1))


def test_contracts_declare_the_issue_checks() -> None:
    types = {c.type for d in DATASETS for c in load_contract(d).checks}
    assert types == {
        "unique", "referential", "freshness", "row_count", "reconciliation", "quarantine_fraction"
    }  # fmt: skip
    refs = {
        (d, c.column, c.references, c.action)
        for d in DATASETS
        for c in load_contract(d).checks
        if c.type == "referential"
    }
    assert refs == {
        ("sales", "product_id", "products.product_id", "warn"),
        ("sales", "promotion_id", "promotions.promotion_id", "warn"),
        ("promotions", "product_id", "products.product_id", "warn"),
    }
    assert load_contract("sales_events").checks == ()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"type": "unique", "action": "quarantine"}, "warn or fail, not quarantine"),
        ({"type": "referential", "column": "a"}, "needs column and references"),
        ({"type": "referential", "column": "a", "references": "x"}, "<dataset>.<column>"),
        ({"type": "freshness", "max_age": "2 weeks"}, "36h or 2d"),
        ({"type": "row_count"}, "min_rows, max_rows or anomaly_k"),
        ({"type": "quarantine_fraction", "max_fraction": 1.5}, "less than or equal to 1"),
        (
            {"type": "reconciliation", "compare": "silver_gold", "action": "fail"},
            "can only warn",
        ),
    ],
)
def test_invalid_checks_are_rejected(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        DatasetCheck.model_validate({"name": "c", "description": "d", **fields})


def test_a_check_on_an_unknown_column_is_rejected() -> None:
    raw = load_contract("promotions").model_dump()
    raw["checks"] = [{"name": "u", "description": "d", "type": "unique", "columns": ["nope"]}]
    with pytest.raises(ValidationError, match="'nope' is not a column"):
        Contract.model_validate(raw)


def test_max_age_in_hours() -> None:
    two_days = DatasetCheck(name="f", type="freshness", description="d", max_age="2d")
    assert two_days.max_age_hours == 48.0


@pytest.mark.parametrize("dataset", DATASETS)
def test_the_catalog_names_every_row_check(spark: SparkSession, dataset: str) -> None:
    contract = load_contract(dataset)
    built = [(c.rule, c.kind, c.action) for c in contract_checks(contract)]
    listed = [(s.rule, s.rule_type, s.action) for s in row_rule_specs(contract)]
    assert listed == built
    assert len({s.test_id for s in rule_specs(contract)}) == len(rule_specs(contract))


def test_stage_checks_split_gold_reconciliation_from_silver() -> None:
    sales = load_contract("sales")
    silver = {c.name for c in stage_checks(sales, "silver")}
    gold = {c.name for c in stage_checks(sales, "gold")}
    assert gold == {"sales_gold_reconciled"}
    assert not silver & gold
    assert silver | gold == {c.name for c in stage_checks(sales, "quality")}


def test_row_rule_results_count_every_failed_rule_once_per_row(spark: SparkSession) -> None:
    contract = load_contract("sales")
    rows = [
        sale(order_id="A"),
        sale(order_id="B", quantity=None),
        sale(order_id="C", quantity="-1", currency="XYZ"),
        sale(order_id="D", discount_amount="99.00"),
        sale(order_id="E", quantity="-2"),
    ]
    counts, results = judge_batch(validate(bronze(spark, "sales", rows), contract), contract, CTX)
    # B, C and E break quarantine rules; D breaks discount_within_gross, a quarantine rule too.
    assert (counts.rows_in, counts.quarantined, counts.flagged) == (5, 4, 4)
    failed = {r.rule: (r.rows_failed, r.sample_keys) for r in results if r.rows_failed}
    assert failed == {
        "quantity_required": (1, ("B/1",)),
        "quantity_min": (2, ("C/1", "E/1")),
        "currency_allowed": (1, ("C/1",)),
        "discount_within_gross": (1, ("D/1",)),
    }
    by_rule = {r.rule: r for r in results}
    assert by_rule["order_id_pattern"].passed and by_rule["order_id_pattern"].rows_failed == 0
    assert by_rule["quantity_min"].rule_type == "min"
    assert by_rule["discount_within_gross"].rule_type == "row_rule"
    assert all(r.rows_checked == 5 for r in results)


def test_table_after_replaces_staged_keys(spark: SparkSession) -> None:
    contract = load_contract("promotions")
    schema = T.StructType([T.StructField(f.name, f.dataType) for f in contract.spark_schema()])
    base = dict.fromkeys(contract.column_names)
    existing = spark.createDataFrame(
        [{**base, "promotion_id": p, "promotion_name": n} for p, n in (("A", "a1"), ("B", "b1"))],
        schema,
    )
    staged = spark.createDataFrame(
        [{**base, "promotion_id": p, "promotion_name": n} for p, n in (("B", "b2"), ("C", "c1"))],
        schema,
    )
    expected = spark.createDataFrame(
        [
            {**base, "promotion_id": p, "promotion_name": n}
            for p, n in (("A", "a1"), ("B", "b2"), ("C", "c1"))
        ],
        schema,
    )
    assert_df_equality(
        table_after(existing, staged, contract),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def _result(rule: str, action: str, passed: bool, failed: int) -> CheckResult:
    return CheckResult(
        run_id="r1", stage="quality", dataset="sales", rule=rule, rule_type="unique",
        action=action, rows_checked=10, rows_failed=failed, passed=passed,
        evaluated_at=datetime(2025, 2, 1), sample_keys=("O1/<1>",), message="m",
    )  # fmt: skip


def test_reports_show_failures_and_escape_html(tmp_path: Path) -> None:
    results = [
        _result("a", "fail", False, 3),
        _result("b", "warn", False, 7),
        _result("c", "warn", True, 0),
    ]
    lines = text_report(results, {"sales": [("quantity_min", 4)]})
    assert lines[0] == "sales: 3 rules: 1 passed, 1 warned, 1 failed"
    assert "  sales.a: 3 rows failed e.g. O1/<1>" in lines  # fail rules first
    assert "quarantine.sales by rule: quantity_min 4" in lines
    assert lines[-1] == "result: 1 fail rule(s) broke"
    rows = [{**r.__dict__, "status": r.status} for r in results]
    page = render_quality(rows, [], {"sales": [("quantity_min", 4)]})
    assert page.startswith("<!DOCTYPE html>") and "O1/&lt;1&gt;" in page
    assert "O1/<1>" not in page
    # In the broken-rules table and in the full table; the failed rule before the warned one.
    assert page.count('<tr class="failed">') == 2
    assert page.index('<tr class="failed">') < page.index('<tr class="warned">')
    assert dataset_status(rows) == {"sales": "failed"}
    assert 'data-dataset="sales" data-status="failed"' in page
