"""A whole pipeline run over a generated landing set, checked against an independent oracle.

The expectations come from the DuckDB reference (bench.reference) reading the landing CSVs,
Python's csv module counting lines, and the generator's report of injected defects, never
from the package's code.
"""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal

import duckdb
import pytest
from bench.reference import DAILY_GRAIN, DAILY_MEASURES, FACT_SALES_TYPES, Reference
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from tests.integration.conftest import FirstRun
from tests.integration.helpers import multiset_difference, row_multiset, stats
from tests.integration.oracle import (
    MALFORMED_KINDS,
    count_landed_lines,
    product_defect_keys,
    quarantine_kinds,
    sales_keys,
)

pytestmark = pytest.mark.integration

FACT_COLUMNS = tuple(FACT_SALES_TYPES)


def _rule_expected(kind: str, rules: list[str]) -> bool:
    """Whether a quarantined row of a defect kind carries the rule that kind must break."""
    if kind in MALFORMED_KINDS:
        return "malformed_line" in rules
    if kind == "missing_required":
        return any(rule.endswith("_required") for rule in rules)
    if kind == "unparsable_number":
        return "quantity_type" in rules or "unit_price_type" in rules
    expected = {
        "negative_quantity": "quantity_min",
        "bad_date": "order_ts_type",
        "unknown_currency": "currency_allowed",
        "discount_above_gross": "discount_within_gross",
    }
    return expected[kind] in rules


def _bronze_valid_net(spark: SparkSession, run: FirstRun) -> Decimal:
    """Net amount of the bronze lines that should pass, deduplicated by file name order,
    computed here in Spark SQL from the landed strings (not with the package's code)."""
    excluded = spark.createDataFrame(
        [key for keys in quarantine_kinds(run.report).values() for key in keys],
        "order_id string, key_line int",
    )
    text = {name: F.trim(F.col(name)) for name in ("quantity", "unit_price", "discount_amount")}
    latest = Window.partitionBy("order_id", "key_line").orderBy(F.col("_source_file").desc())
    lines = (
        run.lake.read("bronze", "sales")
        .filter(~F.col("_is_malformed"))
        .withColumn("key_line", F.trim("line_number").cast("int"))
        .join(excluded, ["order_id", "key_line"], "left_anti")
        .withColumn("version_rank", F.row_number().over(latest))
        .filter(F.col("version_rank") == 1)
    )
    discount = F.when(text["discount_amount"] != "", text["discount_amount"])
    net = text["quantity"].cast("int") * text["unit_price"].cast("decimal(12,2)") - F.coalesce(
        discount.cast("decimal(12,2)"), F.lit(0)
    )
    total = lines.agg(F.sum(net).alias("net")).first()
    assert total is not None
    return Decimal(total["net"])


def _sum(run: FirstRun, layer: str, name: str, column: str) -> Decimal:
    row = run.lake.read(layer, name).agg(F.sum(column).alias("total")).first()
    assert row is not None
    return Decimal(row["total"])


def test_pipeline_matches_independent_oracle(
    spark: SparkSession, first_run: FirstRun, oracle: Reference
) -> None:
    landed = count_landed_lines(first_run.landing / "sales")
    # DuckDB's reader and the csv module agree on which lines have a wrong field count.
    assert oracle.landed["sales"].malformed == len(landed.malformed)
    assert oracle.landed["sales"].rows == landed.rows - len(landed.malformed)

    silver = first_run.lake.read("silver", "sales")
    assert silver.count() == oracle.count("silver_sales")

    daily = first_run.lake.read("gold", "daily_sales").select(*DAILY_GRAIN, *DAILY_MEASURES)
    difference = multiset_difference(row_multiset(daily), Counter(oracle.daily()))
    assert not difference, f"gold.daily_sales (left) vs oracle (right):\n{difference}"

    totals = {
        "oracle": oracle.total_net(),
        "bronze valid deduped": _bronze_valid_net(spark, first_run),
        "silver.sales": _sum(first_run, "silver", "sales", "net_amount"),
        "gold.fact_sales": _sum(first_run, "gold", "fact_sales", "net_amount"),
        "gold.daily_sales": _sum(first_run, "gold", "daily_sales", "net_amount"),
    }
    assert len(set(totals.values())) == 1, f"net amounts do not reconcile: {totals}"


def test_fact_sales_lines_match_oracle(first_run: FirstRun, oracle: Reference) -> None:
    fact = first_run.lake.read("gold", "fact_sales").select(*FACT_COLUMNS)
    difference = multiset_difference(row_multiset(fact), Counter(oracle.fact(FACT_COLUMNS)))
    assert not difference, f"gold.fact_sales (left) vs oracle (right):\n{difference}"


def test_quarantine_holds_exactly_the_defect_lines(first_run: FirstRun) -> None:
    kinds = quarantine_kinds(first_run.report)
    rows = (
        first_run.lake.read("quarantine", "sales")
        .select("order_id", "line_number", "rules", "_raw_line")
        .collect()
    )
    assert len(rows) == sum(len(keys) for keys in kinds.values())

    # Malformed lines: counted in the raw files, traced by order_id (the first field).
    landed = count_landed_lines(first_run.landing / "sales")
    malformed_keys = [key for kind in MALFORMED_KINDS for key in kinds[kind]]
    malformed = [row for row in rows if "malformed_line" in row["rules"]]
    assert len(landed.malformed) == len(malformed_keys)
    assert len(malformed) == len(landed.malformed)
    assert Counter(tuple(next(csv.reader([row["_raw_line"]]))) for row in malformed) == Counter(
        landed.malformed
    )
    assert Counter(row["order_id"] for row in malformed) == Counter(
        order_id for order_id, _ in malformed_keys
    )
    # A trailing extra field leaves every named column in place, the key included.
    malformed_at = {(row["order_id"], row["line_number"]) for row in malformed}
    for order_id, line in kinds["malformed_extra_field"]:
        assert (order_id, str(line)) in malformed_at

    # Every other quarantined line has its own key, and the rule its defect breaks.
    kind_of = {
        key: kind for kind, keys in kinds.items() if kind not in MALFORMED_KINDS for key in keys
    }
    others = [row for row in rows if "malformed_line" not in row["rules"]]
    found = Counter((row["order_id"], int(row["line_number"])) for row in others)
    assert found == Counter(kind_of.keys())
    per_kind = Counter(kind_of[(row["order_id"], int(row["line_number"]))] for row in others)
    assert per_kind == Counter({kind: len(kinds[kind]) for kind in kind_of.values()})
    wrong = [
        (kind_of[(row["order_id"], int(row["line_number"]))], row["order_id"], row["rules"])
        for row in others
        if not _rule_expected(kind_of[(row["order_id"], int(row["line_number"]))], row["rules"])
    ]
    assert not wrong, f"quarantined with an unexpected rule: {wrong}"

    products = first_run.lake.read("quarantine", "products").select("product_id", "updated_at")
    assert Counter(tuple(row) for row in products.collect()) == Counter(
        product_defect_keys(first_run.report)
    )


def test_corrected_resends_replace_the_original_lines(first_run: FirstRun) -> None:
    entry = first_run.report.defects["sales"]["corrected_resend"]
    assert len(entry.files) == 1
    resend = first_run.landing / entry.files[0]
    con = duckdb.connect()
    expected = {
        (order_id, line): (quantity, unit_price, discount)
        for order_id, line, quantity, unit_price, discount in con.execute(
            "SELECT order_id, CAST(line_number AS INTEGER), CAST(quantity AS INTEGER), "
            "CAST(unit_price AS DECIMAL(12, 2)), "
            "COALESCE(CAST(nullif(trim(discount_amount), '') AS DECIMAL(12, 2)), 0) "
            "FROM read_csv(?, header = true, all_varchar = true)",
            [str(resend)],
        ).fetchall()
    }
    con.close()
    keys = sales_keys(first_run.report, "corrected_resend")
    assert keys
    silver = {
        (row["order_id"], row["line_number"]): (
            row["quantity"],
            row["unit_price"],
            row["discount_amount"],
        )
        for row in first_run.lake.read("silver", "sales")
        .select("order_id", "line_number", "quantity", "unit_price", "discount_amount")
        .collect()
    }
    for key in keys:
        assert silver[key] == expected[key], f"{key}: silver {silver[key]}, re-sent {expected[key]}"


def test_run_summary_silver_stats_balance(first_run: FirstRun) -> None:
    sales = stats(first_run.summary, "silver", "sales")
    kinds = quarantine_kinds(first_run.report)
    report = first_run.report.defects["sales"]
    assert sales.rows_in == count_landed_lines(first_run.landing / "sales").rows
    assert sales.quarantined == sum(len(keys) for keys in kinds.values())
    assert sales.duplicates == report["exact_duplicate"].count + report["corrected_resend"].count
    assert sales.rows_in == sales.accepted + sales.quarantined + sales.duplicates
    assert sales.accepted == first_run.lake.read("silver", "sales").count()
    for entry in first_run.summary.stats:
        if entry.stage == "silver":
            assert entry.rows_in == entry.accepted + entry.quarantined + entry.duplicates, entry
