"""The silver and gold tables hold exactly the columns schemas/tables/*.yaml declares.

The declarations are read (tables are created from them); these tests show the transforms
yield the same names and types, in the same order, so neither can drift from the other.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from sales_lakehouse.bronze.csv import bronze_schema
from sales_lakehouse.contracts import output_columns, output_schema
from sales_lakehouse.datasets import SILVER
from sales_lakehouse.gold.daily_sales import build_daily_sales
from sales_lakehouse.gold.fact_sales import build_fact_sales
from sales_lakehouse.gold.performance import (
    build_product_performance,
    build_promotion_performance,
)
from sales_lakehouse.pipeline.forecast import TABLES as FORECAST_TABLES
from sales_lakehouse.pipeline.gold import MARTS
from sales_lakehouse.silver.common import validate

SPARK_NAMES = {"bigint": "long"}


def _columns(df: DataFrame) -> list[tuple[str, str]]:
    return [(f.name, SPARK_NAMES.get(t := f.dataType.simpleString(), t)) for f in df.schema.fields]


def _declared(layer: str, table: str) -> list[tuple[str, str]]:
    return [(c.name, c.type) for c in output_columns(layer)[table]]


def test_every_silver_target_and_gold_mart_is_declared() -> None:
    assert set(output_columns("silver")) == {entry.target for entry in SILVER.values()}
    # The gold stage's marts, and the forecast's tables (their columns: test_forecast_*.py).
    assert set(output_columns("gold")) == set(MARTS) | set(FORECAST_TABLES)


@pytest.mark.parametrize("name", sorted(SILVER))
def test_silver_transforms_yield_the_declared_columns(spark: SparkSession, name: str) -> None:
    entry = SILVER[name]
    bronze = spark.createDataFrame([], bronze_schema(entry.contract))
    versions = entry.versions(validate(bronze, entry.contract), entry.target_contract)
    assert _columns(entry.shape(versions, entry.target_contract)) == _declared(
        "silver", entry.target
    )


def test_gold_marts_yield_the_declared_columns(spark: SparkSession) -> None:
    silver = {
        table: spark.createDataFrame([], output_schema("silver", table))
        for table in ("sales", "products", "promotions")
    }
    fact = build_fact_sales(silver["sales"], silver["products"], silver["promotions"])
    marts = {
        "fact_sales": fact,
        "daily_sales": build_daily_sales(fact),
        "product_performance": build_product_performance(fact),
        "promotion_performance": build_promotion_performance(
            fact, silver["promotions"], currency="USD", baseline_days=28
        ),
    }
    for mart, df in marts.items():
        assert _columns(df) == _declared("gold", mart), mart


def test_a_declared_type_must_be_a_contract_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "silver.yaml").write_text("x:\n  - {name: a, type: varchar}\n", encoding="utf-8")
    monkeypatch.setenv("SALES_LAKEHOUSE_SCHEMAS", str(tmp_path))
    output_columns.cache_clear()
    try:
        with pytest.raises(ValueError, match="unknown type 'varchar'"):
            output_columns("silver")
    finally:
        output_columns.cache_clear()
