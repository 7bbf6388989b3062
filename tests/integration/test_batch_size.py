"""A small batch runs without generated code; a first load and a full refresh with it.

The size of a stage's batch comes from the Delta logs (``batch_rows``): bronze rows after
silver's watermarks, and rows silver wrote after gold's. The setting is observed where it
matters, inside the stage: the run's own progress lines are written while the stage runs,
and the sink reads the session's setting at each of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.contracts import DATASETS
from sales_lakehouse.pipeline import run
from sales_lakehouse.pipeline.gold import batch_rows as gold_batch_rows
from sales_lakehouse.pipeline.silver import batch_rows as silver_batch_rows
from tests.integration.conftest import FirstRun
from tests.integration.helpers import copy_lake, lake_of, read_landing_csv
from tests.integration.interrupt import landed_increment

pytestmark = pytest.mark.integration

WHOLE_STAGE = "spark.sql.codegen.wholeStage"
FACTORY = "spark.sql.codegen.factoryMode"


def _recording(spark: SparkSession) -> tuple[list[tuple[str, str, str]], Callable[[str], None]]:
    """A progress sink that notes each line with the session's two settings at that moment."""
    seen: list[tuple[str, str, str]] = []

    def note(message: str) -> None:
        seen.append(
            (message, str(spark.conf.get(WHOLE_STAGE)), str(spark.conf.get(FACTORY, "FALLBACK")))
        )

    return seen, note


def _settings_at(seen: list[tuple[str, str, str]], prefix: str) -> set[tuple[str, str]]:
    found = {(whole, factory) for message, whole, factory in seen if message.startswith(prefix)}
    assert found, f"no progress line starting {prefix!r}: {[m for m, _, _ in seen]}"
    return found


def _written_after(table: Path, version: int) -> int:
    """Rows the table's commits after ``version`` wrote, as delta-rs reads its history."""
    return sum(
        int(commit.get("operationMetrics", {}).get("numOutputRows", 0))
        for commit in DeltaTable(str(table)).history()
        if commit["version"] > version
    )


def test_an_increment_runs_interpreted_and_a_rebuild_generates_code(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path
) -> None:
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    settings = Settings(landing=str(first_run.landing), lake=str(lake_dir))
    default = (str(spark.conf.get(WHOLE_STAGE)), str(spark.conf.get(FACTORY, "FALLBACK")))
    assert default == ("true", "FALLBACK")
    with landed_increment(first_run) as increment:
        lines = len(read_landing_csv(increment))
        run(spark, settings, stage="bronze", progress=lambda _: None)
        lake = lake_of(spark, first_run.landing, lake_dir)
        assert silver_batch_rows(lake, DATASETS) == lines
        silver_before = {d: DeltaTable(str(lake_dir / "silver" / d)).version() for d in DATASETS}

        seen, note = _recording(spark)
        run(spark, settings, stage="silver", progress=note)
        assert _settings_at(seen, "silver sales:") == {("false", "NO_CODEGEN")}
        assert (str(spark.conf.get(WHOLE_STAGE)), str(spark.conf.get(FACTORY, "FALLBACK"))) == (
            default
        ), "the stage left its settings behind"

        lake = lake_of(spark, first_run.landing, lake_dir)
        written = sum(
            _written_after(lake_dir / "silver" / d, version) for d, version in silver_before.items()
        )
        assert 0 < written == gold_batch_rows(lake)
        seen, note = _recording(spark)
        run(spark, settings, stage="gold", progress=note)
        assert _settings_at(seen, "gold:") == {("false", "NO_CODEGEN")}

        # A rebuild of gold from the whole of silver (a first run's stages are the same).
        seen, note = _recording(spark)
        run(spark, settings, stage="gold", full_refresh=True, progress=note)
        assert _settings_at(seen, "gold:") == {default}
