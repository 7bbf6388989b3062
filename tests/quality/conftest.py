"""The lake the quality suite judges: ``--lake DIR``, or a fresh demo lake.

Without ``--lake`` the suite judges a copy of the session's generated lake (the one the
integration tests check against their oracle, see tests/generated_lake.py), so the suite
costs no pipeline run of its own. The whole suite is evaluated once
(:func:`run_quality`) and each test reads its rule's result.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.pipeline.quality import run_quality
from sales_lakehouse.quality.results import CheckResult
from tests.generated_lake import FirstRun


def _quiet(_message: str) -> None:
    """Progress sink that prints nothing."""


@pytest.fixture(scope="session")
def quality_lake(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lake given with ``--lake``, or a copy of the session's generated lake."""
    given = request.config.getoption("--lake", default=None)
    if given:
        lake = Path(given).expanduser().resolve()
        if not lake.is_dir():
            raise pytest.UsageError(f"--lake {lake} does not exist")
        return lake
    first_run: FirstRun = request.getfixturevalue("first_run")  # only built when needed
    copy = tmp_path_factory.mktemp("quality") / "lake"
    shutil.copytree(first_run.lake_dir, copy)  # the suite appends to quality/dq_results
    return copy


@pytest.fixture(scope="session")
def quality_results(spark: SparkSession, quality_lake: Path) -> dict[str, CheckResult]:
    """Every rule's result on the lake, by ``dataset.rule`` (also appended to dq_results)."""
    settings = Settings(landing=str(quality_lake.parent / "landing"), lake=str(quality_lake))
    found = run_quality(spark, settings, progress=_quiet)
    return {f"{r.dataset}.{r.rule}": r for r in found.results}
