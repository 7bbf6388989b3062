"""A small lake's silver and gold run without generated code; a larger one's with it.

The lake's size is bronze's rows, from the Delta logs (``lake_rows``). The setting is
observed where it matters, inside the stage: the run's own progress lines are written
while the stage runs, and the sink reads the session's settings at each of them. The
expected size is counted from the landed files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.contracts import DATASETS
from sales_lakehouse.pipeline import run
from sales_lakehouse.pipeline.silver import lake_rows
from sales_lakehouse.runtime.session import INTERPRET_ENV
from tests.integration.conftest import FirstRun
from tests.integration.helpers import copy_lake, lake_of, read_landing_csv
from tests.integration.interrupt import landed_increment

pytestmark = pytest.mark.integration

WHOLE_STAGE = "spark.sql.codegen.wholeStage"
FACTORY = "spark.sql.codegen.factoryMode"
INTERPRETED = ("false", "NO_CODEGEN")
ALL = 10**12  # count every row: no early stop


def _now(spark: SparkSession) -> tuple[str, str]:
    return str(spark.conf.get(WHOLE_STAGE)), str(spark.conf.get(FACTORY, "FALLBACK"))


def _recording(
    spark: SparkSession,
) -> tuple[list[tuple[str, tuple[str, str]]], Callable[[str], None]]:
    """A progress sink that notes each line with the session's two settings at that moment."""
    seen: list[tuple[str, tuple[str, str]]] = []
    return seen, lambda message: seen.append((message, _now(spark)))


def _settings_at(seen: list[tuple[str, tuple[str, str]]], prefix: str) -> set[tuple[str, str]]:
    found = {settings for message, settings in seen if message.startswith(prefix)}
    assert found, f"no progress line starting {prefix!r}: {[m for m, _ in seen]}"
    return found


def test_a_small_lake_runs_interpreted_and_a_larger_one_generates_code(
    spark: SparkSession, first_run: FirstRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(INTERPRET_ENV, raising=False)
    lake_dir = copy_lake(first_run.lake_dir, tmp_path / "lake")
    settings = Settings(landing=str(first_run.landing), lake=str(lake_dir))
    default = _now(spark)
    assert default == ("true", "FALLBACK")
    with landed_increment(first_run):
        run(spark, settings, stage="bronze", progress=lambda _: None)
        # Every line landed so far (the generated set and the batch) is a bronze row.
        landed = sum(len(read_landing_csv(p)) for p in first_run.landing.rglob("*.csv"))
        lake = lake_of(spark, first_run.landing, lake_dir)
        assert lake_rows(lake, DATASETS, enough=ALL) == landed
        assert 100 <= lake_rows(lake, DATASETS, enough=100) < landed  # stops early

        seen, note = _recording(spark)
        run(spark, settings, stage="silver", progress=note)
        assert _settings_at(seen, "silver sales:") == {INTERPRETED}
        assert _now(spark) == default, "the stage left its settings behind"
        seen, note = _recording(spark)
        run(spark, settings, stage="gold", progress=note)
        assert _settings_at(seen, "gold:") == {INTERPRETED}

        # The same lake against a limit below its size: generated code, as a large lake.
        monkeypatch.setenv(INTERPRET_ENV, str(landed - 1))
        seen, note = _recording(spark)
        run(spark, settings, stage="gold", full_refresh=True, progress=note)
        assert _settings_at(seen, "gold:") == {default}
