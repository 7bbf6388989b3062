"""The class-data archive of local JVMs: when a session uses it, and that a JVM can.

The archive itself is made by ``make archive`` (a small pipeline run in a new JVM, about
a minute and a half); these tests do not make one. The last test checks the one ``make``
made, when there is one, against a real JVM with Spark's class path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest

from sales_lakehouse.config import Settings
from sales_lakehouse.runtime import class_archive
from sales_lakehouse.runtime.class_archive import (
    CACHE_ENV,
    OFF_ENV,
    QUIET,
    archive_key,
    archive_path,
    java_options,
)
from sales_lakehouse.runtime.session import local_conf

OPTIONS = "spark.driver.extraJavaOptions"
SPARK_HOME = Path(pyspark.__file__).resolve().parent


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.delenv(OFF_ENV, raising=False)
    monkeypatch.delenv("SALES_LAKEHOUSE_JAVA_OPTS", raising=False)
    return tmp_path


def test_without_an_archive_a_session_gets_no_archive_option(cache: Path) -> None:
    assert java_options() == []
    assert local_conf(Settings(landing="l", lake="k"))[OPTIONS] == "-Duser.timezone=UTC"


def test_the_archive_for_this_java_and_these_jars_is_used_quietly(cache: Path) -> None:
    archive = archive_path()
    assert archive.parent == cache
    archive.write_bytes(b"made by make archive")
    options = local_conf(Settings(landing="l", lake="k"), short_lived=True)[OPTIONS].split()
    assert options == [
        "-Duser.timezone=UTC",
        f"-XX:SharedArchiveFile={archive}",
        QUIET,
        "-XX:TieredStopAtLevel=1",
    ]


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no"])
def test_the_environment_turns_the_archive_off(
    cache: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    archive_path().write_bytes(b"made by make archive")
    monkeypatch.setenv(OFF_ENV, value)
    assert java_options() == []


def test_another_java_or_other_spark_jars_get_another_archive() -> None:
    java, jar = "/usr/lib/jvm/17/bin/java", "/venv/pyspark/jars/spark-core_2.12-3.5.6.jar"
    key = archive_key(java, [f"{jar}:100:1700000000"])
    assert key == archive_key(java, [f"{jar}:100:1700000000"])
    assert key != archive_key("/usr/lib/jvm/21/bin/java", [f"{jar}:100:1700000000"])
    assert key != archive_key(java, [f"{jar}:101:1700000000"])  # another build of the jar
    assert key != archive_key(java, [f"{jar.replace('3.5.6', '3.5.7')}:100:1700000000"])
    assert key != archive_key(java, [f"{jar.replace('/venv/', '/other-venv/')}:100:1700000000"])


def test_the_same_venv_installed_again_gets_another_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JVM refuses an archive when a jar's modification time changed (pip installing
    pyspark again into the same path), so the key must change with it."""
    jars = tmp_path / "pyspark" / "jars"
    jars.mkdir(parents=True)
    (tmp_path / "pyspark" / "__init__.py").write_text("")
    jar = jars / "spark-core_2.12-3.5.6.jar"
    jar.write_bytes(b"x" * 100)
    os.utime(jar, (1_700_000_000, 1_700_000_000))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "pyspark", raising=False)
    before = archive_key("/usr/bin/java")
    os.utime(jar, (1_700_000_100, 1_700_000_100))
    assert archive_key("/usr/bin/java") != before


def _java_version(options: list[str], classpath: str) -> subprocess.CompletedProcess[str]:
    command = [class_archive._java(), *options, "-cp", classpath, "-version"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.spark  # needs Java
def test_a_jvm_starts_quietly_without_a_usable_archive(cache: Path) -> None:
    """A broken archive (here: not one at all) is left out by the JVM itself, silently:
    a session never fails, and no CDS warning reaches a command's output."""
    archive_path().write_text("not an archive\n")
    started = _java_version(java_options(), "/nowhere")
    assert started.returncode == 0, started.stderr
    assert "openjdk version" in started.stderr.lower()
    assert "cds" not in (started.stdout + started.stderr).lower()
    assert "archive" not in (started.stdout + started.stderr).lower()


@pytest.mark.spark  # needs Java
def test_the_archive_make_made_maps_into_a_jvm_with_spark_s_class_path() -> None:
    """``-Xshare:on`` makes the JVM fail unless it maps the archive: made for another Java
    or other jars, it would not start. Checked against the class path pyspark starts."""
    archive = archive_path()
    if not archive.is_file():
        pytest.skip(f"no archive at {archive}: run `make archive`")
    classpath = f"{SPARK_HOME / 'conf'}/:{SPARK_HOME / 'jars'}/*"
    shared = _java_version(["-Xshare:on", f"-XX:SharedArchiveFile={archive}"], classpath)
    assert shared.returncode == 0, shared.stdout + shared.stderr
    assert "sharing" in shared.stderr
    elsewhere = _java_version(["-Xshare:on", f"-XX:SharedArchiveFile={archive}"], "/nowhere")
    assert elsewhere.returncode != 0, "the archive mapped into a JVM with another class path"


def test_making_an_archive_keeps_only_the_newest_other_ones(tmp_path: Path) -> None:
    made = []
    for age, key in enumerate(["a", "b", "c", "d"]):
        archive = tmp_path / f"spark-classes-{key}.jsa"
        archive.write_bytes(b"x")
        os.utime(archive, (1_700_000_000 - age * 60, 1_700_000_000 - age * 60))
        made.append(archive)
    new = tmp_path / "spark-classes-new.jsa"
    new.write_bytes(b"x")
    os.utime(new, (1_600_000_000, 1_600_000_000))  # older than the rest, still kept
    partial = tmp_path / "spark-classes-e.jsa.123.partial"
    partial.write_bytes(b"x")

    gone = class_archive.prune(tmp_path, keep=new)

    assert sorted(p.name for p in gone) == ["spark-classes-c.jsa", "spark-classes-d.jsa"]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [
        "spark-classes-a.jsa",
        "spark-classes-b.jsa",
        "spark-classes-e.jsa.123.partial",
        "spark-classes-new.jsa",
    ]
