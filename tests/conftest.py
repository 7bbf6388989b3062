"""One Spark session for the whole test run (UI off, one shuffle partition, Delta on)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# `make test` runs the suite in two pytest-xdist workers (`-n 2 --dist loadfile`). Each
# worker takes a test module at a time, so module fixtures are built once. Modules that
# share a costly session fixture share a group instead, so that the fixture is built in
# one worker only: the kill tests' clean reference run.
SHARED_GROUPS = {
    "tests/integration/test_kill_rerun.py": "kill-rerun",
    "tests/aws/test_s3a_kill_rerun.py": "kill-rerun",
}
# The groups that take minutes, longest first (from the `--durations` of a `make test`),
# so that the two workers do not end with one of them running a long group alone.
LONGEST_FIRST = (
    "kill-rerun",
    "tests/cluster/test_spark_submit.py",
    "tests/integration/test_events_silver.py",
    "tests/aws/test_s3a_pipeline.py",
    "tests/integration/test_held_files.py",
    "tests/oltp/test_silver_oltp.py",
    "tests/integration/test_incremental.py",
    "tests/integration/test_late_arriving.py",
    "tests/integration/test_nothing_new.py",
)


def group_of(nodeid: str) -> str:
    """The worker group of a test: its module, or the group its module shares."""
    module = nodeid.split("::", 1)[0]
    return SHARED_GROUPS.get(module, module)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``spark`` every test that needs the Spark session, itself or through a fixture
    (``fixturenames`` is the whole closure), so ``-m "not spark"`` runs without a JVM.
    Put the longest groups first (a stable sort: a module's tests keep their order)."""
    rank = {group: position for position, group in enumerate(LONGEST_FIRST)}
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(rank)))


try:
    from xdist.scheduler import LoadScopeScheduling
except ImportError:  # pytest-xdist is optional: without it the suite runs in one process
    pass
else:

    class _GroupScheduling(LoadScopeScheduling):
        """``--dist loadfile`` with :data:`SHARED_GROUPS`, in collection order (longest
        first) rather than xdist's order by number of tests."""

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "loadfile":
            return None
        config.option.loadscopereorder = False
        return _GroupScheduling(config, log)


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
