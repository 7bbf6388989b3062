"""The forecast on the generated lake: no leakage, increments, the commands end to end.

All on copies of the session's generated lake (tests/generated_lake.py), with its features
built once for the module.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from sales_lakehouse.contracts import output_columns
from sales_lakehouse.forecast.features import HISTORY_DAYS, build_demand_features
from sales_lakehouse.lake import Lake
from sales_lakehouse.pipeline.forecast import (
    BUILD_CONF,
    CONSUMER,
    FEATURES,
    FORECAST,
    METRICS,
    refresh_features,
    sales_span,
)
from sales_lakehouse.pipeline.gold import refresh_gold
from sales_lakehouse.runtime import cli
from sales_lakehouse.runtime.session import session_conf
from tests.forecast_frames import one_training_thread
from tests.integration.conftest import FirstRun
from tests.integration.helpers import copy_lake, lake_of, quiet

__all__ = ["one_training_thread"]  # the fixture (the commands' training)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("one_training_thread"),
    # pyspark 3.5's own pandas conversions use APIs pandas 2 and Python 3.11 deprecate.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:pyspark"),
]


@pytest.fixture(scope="module")
def featured(
    spark: SparkSession, first_run: FirstRun, tmp_path_factory: pytest.TempPathFactory
) -> Lake:
    """A copy of the generated lake with gold.demand_features built (tests copy it again)."""
    lake_dir = copy_lake(first_run.lake_dir, tmp_path_factory.mktemp("forecast") / "lake")
    lake = lake_of(spark, first_run.landing, lake_dir)
    assert refresh_features(lake, full_refresh=False, progress=quiet) > 0
    return lake


def _copy(spark: SparkSession, lake: Lake, target: Path) -> Lake:
    copied = copy_lake(Path(lake.settings.lake), target)
    return lake_of(spark, Path(lake.settings.landing), copied)


def _by_key(df: DataFrame) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The rows of a small DataFrame by (sale_date, store_id, product_id)."""
    rows = [row.asDict() for row in df.collect()]
    return {(r["sale_date"], r["store_id"], r["product_id"]): r for r in rows}


def _without(rows: dict[tuple[Any, ...], dict[str, Any]], column: str) -> dict[Any, Any]:
    return {key: {k: v for k, v in row.items() if k != column} for key, row in rows.items()}


def test_features_of_a_day_do_not_move_when_its_sales_and_later_ones_change(
    featured: Lake,
) -> None:
    fact = featured.read("gold", "fact_sales")
    products, promotions = (
        featured.read("silver", "products"),
        featured.read("silver", "promotions"),
    )
    span = sales_span(fact)
    assert span is not None
    day, next_day = span.first + timedelta(days=100), span.first + timedelta(days=101)
    # Every sale on or after the day changes (more units); the earlier ones stay.
    changed = fact.withColumn(
        "quantity",
        F.when(F.col("sale_date") >= day, F.col("quantity") * 3 + 1).otherwise(F.col("quantity")),
    )
    with session_conf(featured.spark, BUILD_CONF):  # as the feature step builds it
        after = _by_key(build_demand_features(changed, products, promotions, span, [day, next_day]))
    # The stored mart is the feature step's full build, from the sales as they are.
    stored = featured.read("gold", FEATURES).filter(F.col("sale_date").isin(day, next_day))
    before = _by_key(stored)
    assert before.keys() == after.keys()
    on_day = {key: row for key, row in before.items() if key[0] == day}
    assert len(on_day) > 100
    assert _without(on_day, "units") == _without({k: after[k] for k in on_day}, "units")
    # The change did reach the mart: the day's units and the next day's lag_1 moved.
    assert any(after[k]["units"] != row["units"] for k, row in on_day.items())
    assert any(after[k]["lag_1"] != row["lag_1"] for k, row in before.items() if k[0] == next_day)


def _fingerprint(df: DataFrame) -> tuple[int, int]:
    """(rows, sum of row hashes): equal for equal multisets of rows (one pass, no shuffle)."""
    row = df.agg(F.count(F.lit(1)), F.sum(F.xxhash64(*df.columns))).first()
    assert row is not None
    return int(row[0]), int(row[1] or 0)


def test_an_increment_rewrites_only_the_days_it_touches(
    spark: SparkSession, featured: Lake, tmp_path: Path
) -> None:
    """A sale line arrives in silver for an old day D; gold and then the feature step run
    incrementally: they rewrite D and the 28 days after it, nothing else."""
    lake = _copy(spark, featured, tmp_path / "lake")
    span = sales_span(lake.read("gold", "fact_sales"))
    assert span is not None
    day = span.first + timedelta(days=90)
    known = lake.read("silver", "products").select("product_id").distinct()
    sale = (
        lake.read("silver", "sales")
        .filter((F.col("sale_date") == day) & (F.col("line_status") == "sold"))
        .join(known, "product_id", how="left_semi")
        .orderBy("order_id", "line_number")
        .limit(1)
    )
    gross = (F.lit(3).cast("decimal(10,0)") * F.col("unit_price")).cast("decimal(18,2)")
    overrides = {  # a new line of 3 units, at list price, without a promotion
        "order_id": F.lit("FCST-0000001"),
        "quantity": F.lit(3),
        "discount_amount": F.lit(0).cast("decimal(12,2)"),
        "promotion_id": F.lit(None).cast("string"),
        "gross_amount": gross,
        "net_amount": gross,
    }
    new_line = sale.select(*[overrides.get(n, F.col(n)).alias(n) for n in sale.columns])
    first = new_line.first()
    assert first is not None
    store, product = first["store_id"], first["product_id"]
    version = lake.version("gold", FEATURES)
    before = lake.read("gold", FEATURES, version=version)
    window = F.col("sale_date").between(day, day + timedelta(days=HISTORY_DAYS))
    touched_rows = before.filter(window).count()

    assert lake.append(new_line, "silver", "sales", txn=("forecast-test", 1)) == 1
    assert refresh_gold(lake, full_refresh=False, progress=quiet)["fact_sales"] > 0
    written = refresh_features(lake, full_refresh=False, progress=quiet)

    after = lake.read("gold", FEATURES)
    assert written == touched_rows  # the day and the 28 after it
    assert _fingerprint(before.filter(~window)) == _fingerprint(after.filter(~window))
    pair = (F.col("store_id") == store) & (F.col("product_id") == product)
    old, new = _by_key(before.filter(pair)), _by_key(after.filter(pair))
    for offset, column, change in (
        (0, "units", 3),
        (1, "lag_1", 3),
        (7, "lag_7", 3),
        (28, "lag_28", 3),
        (29, "lag_28", 0),  # outside the window: 29 days later nothing looks back at D
    ):
        key = (day + timedelta(days=offset), store, product)
        assert new[key][column] == old[key][column] + change, (offset, column)
    key = (day + timedelta(days=1), store, product)
    assert new[key]["mean_7"] == pytest.approx(old[key]["mean_7"] + 3 / 7)
    assert lake.watermarks.get(CONSUMER, "silver/sales") == lake.version("silver", "sales")
    said: list[str] = []
    assert refresh_features(lake, full_refresh=False, progress=said.append) == 0
    assert said == ["forecast features: no gold changes since the last run"]


def test_the_commands_train_backtest_and_predict_into_gold(
    spark: SparkSession, featured: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = _copy(spark, featured, tmp_path / "lake")
    lake_dir = Path(lake.settings.lake)
    small = ["--max-iter", "5", "--train-weeks", "2", "--min-samples-leaf", "20"]
    chart = tmp_path / "backtest.png"
    assert cli.main(["forecast", "train", "--lake", str(lake_dir), *small]) == 0
    assert (lake_dir / "forecast" / "model" / "model.joblib").is_file()
    backtest = ["forecast", "backtest", "--lake", str(lake_dir), *small, "--origins", "1"]
    assert cli.main([*backtest, "--plot", str(chart)]) == 0
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli.main(["forecast", "predict", "--lake", str(lake_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("forecast features: exported to") == 1  # then the export was current
    assert "vs the 4-week seasonal mean" in out
    assert "forecast predict:" in out

    # Every forecast table is readable by delta-rs (deltalake), with the declared columns.
    tables = {
        name: DeltaTable(str(lake_dir / "gold" / name)).to_pyarrow_table()
        for name in (FEATURES, METRICS, FORECAST)
    }
    for name, table in tables.items():
        assert table.column_names == [c.name for c in output_columns("gold")[name]], name
    assert tables[METRICS].num_rows == 3 * 29  # 3 methods x (28 horizons + all)
    forecast = tables[FORECAST].to_pandas()
    span = sales_span(lake.read("gold", "fact_sales"))
    assert span is not None
    assert set(forecast["horizon"]) == set(range(1, 29))
    assert forecast["forecast_date"].unique().tolist() == [span.last + timedelta(days=1)]
    assert forecast["sale_date"].max() == span.end
    assert (forecast["forecast_units"] >= 0).all()
    future = tables[FEATURES].to_pandas()["sale_date"] > span.last
    assert len(forecast) == int(future.sum())  # a forecast for every row of the horizon
