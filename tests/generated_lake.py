"""One generated landing set and its first pipeline run, shared by the whole test session.

Generating and running the pipeline once per session keeps the suite fast: the
integration tests and the quality suite (tests/quality) judge the same lake. Tests that
run the pipeline again work on a private copy of the lake (the landing folder stays where
it is, because bronze remembers landed files by path). The fixtures are registered in
tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from bench.reference import Reference
from pyspark.sql import SparkSession

from sales_lakehouse.lake import Lake
from sales_lakehouse.pipeline import RunSummary
from sales_lakehouse_tools.generate import GenerationReport, generate_landing
from tests.integration.helpers import lake_of, run_pipeline
from tests.integration.oracle import load_report, oracle_of

LINES = 4000
SEED = 11


@dataclass(frozen=True)
class FirstRun:
    """A generated landing folder, the lake of its first pipeline run and that run's summary."""

    landing: Path
    lake_dir: Path
    report: GenerationReport
    summary: RunSummary
    lake: Lake


@pytest.fixture(scope="session")
def first_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """Do not run the pipeline on ``lake_dir`` again: copy it (see ``copy_lake``)."""
    root = tmp_path_factory.mktemp("generated")
    landing, lake_dir = root / "landing", root / "lake"
    generate_landing(landing, lines=LINES, seed=SEED)
    summary = run_pipeline(spark, landing, lake_dir)
    return FirstRun(
        landing=landing,
        lake_dir=lake_dir,
        report=load_report(landing),
        summary=summary,
        lake=lake_of(spark, landing, lake_dir),
    )


@pytest.fixture(scope="session")
def oracle(first_run: FirstRun) -> Iterator[Reference]:
    """The DuckDB oracle of the generated landing set (as generated: no extra files)."""
    expected = oracle_of(first_run.landing)
    yield expected
    expected.close()
