"""One Spark session for the whole test run (UI off, one shuffle partition, Delta on)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.session import build_session

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# A serial GC suits the small test heap on 2 cores. Not -XX:TieredStopAtLevel=1: it starts
# the JVM a little faster but made a whole pipeline run in a warm JVM about 1.8x slower.
os.environ.setdefault("SALES_LAKEHOUSE_JAVA_OPTS", "-XX:+UseSerialGC")


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
