"""One Spark session for the whole test run (UI off, one shuffle partition, Delta on)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.runtime.session import build_session
from tests.generated_lake import first_run, oracle
from tests.integration.interrupt import clean_reference

# Session fixtures shared by the integration, quality and aws tests.
__all__ = ["clean_reference", "first_run", "oracle"]

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# A serial GC suits the small test heap on 2 cores. Not -XX:TieredStopAtLevel=1: it starts
# the JVM a little faster but made a whole pipeline run in a warm JVM about 1.8x slower.
os.environ.setdefault("SALES_LAKEHOUSE_JAVA_OPTS", "-XX:+UseSerialGC")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--lake DIR``: the quality suite (tests/quality) checks this lake instead of a demo.

    Declared here because pytest reads ``pytest_addoption`` only from the root conftest
    (and the conftests of the paths given on the command line), so ``pytest --lake DIR``
    works whichever tests are selected.
    """
    parser.addoption(
        "--lake",
        default=None,
        help="quality suite: evaluate this existing lake (default: build a demo lake)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``spark`` every test that needs the Spark session, itself or through a fixture
    (``fixturenames`` is the whole closure), so ``-m "not spark"`` runs without a JVM."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    root = tmp_path_factory.mktemp("spark")
    settings = Settings(landing=str(root / "landing"), lake=str(root / "lake"))
    session = build_session(settings, app_name="sales-lakehouse-tests")
    session.conf.set("spark.sql.shuffle.partitions", "1")
    yield session
    session.stop()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for a fresh, empty landing folder and lake."""
    (tmp_path / "landing").mkdir()
    return Settings(landing=str(tmp_path / "landing"), lake=str(tmp_path / "lake"))
