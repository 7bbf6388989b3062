"""The driver JVM's options a local session gets, and the settings a stage gets for its
batch (pure configuration, no Spark)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sales_lakehouse.config import Settings
from sales_lakehouse.runtime import session
from sales_lakehouse.runtime.class_archive import CACHE_ENV
from sales_lakehouse.runtime.session import local_conf

OPTIONS = "spark.driver.extraJavaOptions"


@pytest.fixture(autouse=True)
def no_class_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty archive cache: the options below are those of a JVM without an archive
    (tests/unit/test_class_archive.py has the ones with)."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))


def test_a_short_lived_command_gets_c1_only_and_a_run_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SALES_LAKEHOUSE_JAVA_OPTS", raising=False)
    settings = Settings(landing="landing", lake="lake")
    assert local_conf(settings)[OPTIONS] == "-Duser.timezone=UTC"
    assert local_conf(settings, short_lived=True)[OPTIONS] == (
        "-Duser.timezone=UTC -XX:TieredStopAtLevel=1"
    )


def test_the_environment_s_options_come_last_so_they_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALES_LAKEHOUSE_JAVA_OPTS", "-XX:TieredStopAtLevel=4 -Xss4m")
    options = local_conf(Settings(landing="l", lake="k"), short_lived=True)[OPTIONS].split()
    assert options == [
        "-Duser.timezone=UTC",
        "-XX:TieredStopAtLevel=1",
        "-XX:TieredStopAtLevel=4",
        "-Xss4m",
    ]


def test_a_lake_below_the_limit_runs_interpreted_a_larger_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(session.INTERPRET_ENV, raising=False)
    interpreted = {
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.shuffle.partitions": "1",
    }
    assert session.interpret_below() == 100_000
    assert session.batch_conf(0) == interpreted
    assert session.batch_conf(4_000) == interpreted
    assert session.batch_conf(99_999) == interpreted
    assert session.batch_conf(100_000) == {}
    assert session.batch_conf(3_000_000) == {}


def test_the_environment_sets_the_limit_and_zero_always_generates_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(session.INTERPRET_ENV, "0")
    assert session.batch_conf(0) == {}
    assert session.batch_conf(10) == {}
    monkeypatch.setenv(session.INTERPRET_ENV, "5000000")
    assert session.batch_conf(3_000_000) == session.SMALL_LAKE_CONF
