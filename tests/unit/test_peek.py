"""The Spark-free reads of ``lake/peek.py`` agree with what Spark lists and reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.lake import peek
from sales_lakehouse.lake.landing import list_files, read_csv_files

NAMES = [
    "x.csv",
    "a b.csv",
    "c%20d.csv",
    "\u00e9t\u00e9.csv",
    "hash#1.csv",
    "plus+semi;colon.csv",
    "sub/z.csv",
    "day=1/w.csv",
    ".hidden.csv",
    "_tmp/y.csv",
    ".git/q.csv",
    "u.csv._COPYING_",
    "notes.txt",
]


def _landing(root: Path) -> Path:
    for name in NAMES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("id,name\n1,x\n", encoding="utf-8")
    # A linked folder: Hadoop's listing goes into it, so the Spark-free one must too.
    elsewhere = root.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "l.csv").write_text("id,name\n1,x\n", encoding="utf-8")
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    return root


def test_landed_sources_are_the_names_spark_lists_and_records(
    spark: SparkSession, tmp_path: Path
) -> None:
    root = _landing(tmp_path / "landing")
    files = list_files(spark, str(root))
    assert peek.landed_sources(str(root)) == sorted(f.source for f in files)
    # And what Spark records in _source_file when it reads them (bronze's file ledger).
    read = read_csv_files(spark, [f.path for f in files], ["id", "name"])
    recorded = sorted(row[0] for row in read.select("_source_file").distinct().collect())
    assert peek.landed_sources(str(root)) == recorded
    assert f"file:{root}/a%20b.csv" in recorded  # escaped as Spark does, not as written
    assert f"file:{root}/linked/l.csv" in recorded


def test_landed_sources_of_a_relative_folder_are_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _landing(tmp_path / "landing")
    monkeypatch.chdir(tmp_path)
    assert f"file:{tmp_path}/landing/x.csv" in peek.landed_sources("landing")
    assert peek.landed_sources("missing") == []


def test_log_version_is_the_highest_commit_file(tmp_path: Path) -> None:
    log = tmp_path / "t" / "_delta_log"
    assert peek.log_version(str(tmp_path / "t")) == -1
    log.mkdir(parents=True)
    assert peek.log_version(str(tmp_path / "t")) == -1
    for name in ("00000000000000000000.json", "00000000000000000007.json",
                 "00000000000000000010.checkpoint.parquet", "_last_checkpoint",
                 "00000000000000000008.crc"):  # fmt: skip
        (log / name).write_text("{}", encoding="utf-8")
    assert peek.log_version(str(tmp_path / "t")) == 7


def test_a_failing_reader_is_reported_not_raised_as_anything_else(tmp_path: Path) -> None:
    with pytest.raises(peek.PeekUnavailableError, match="exited 1"):
        peek.distinct_rows({"t": (str(tmp_path / "not-a-table"), ("x",))})


def test_the_reader_child_exits_cleanly_after_delta_rs(tmp_path: Path) -> None:
    """delta-rs can abort an interpreter at exit (delta-io/delta-rs#2184); the child
    leaves with os._exit, so its status is its own."""
    pytest.importorskip("deltalake")
    import pyarrow as pa
    from deltalake import write_deltalake

    write_deltalake(str(tmp_path / "t"), pa.table({"x": ["a", "b", "a", None]}))
    done = subprocess.run(
        [sys.executable, str(peek.CHILD)],
        input=f'{{"t": {{"path": "{tmp_path / "t"}", "columns": ["x"]}}}}',
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert peek.distinct_rows({"t": (str(tmp_path / "t"), ("x",))}) == {
        "t": {("a",), ("b",), (None,)}
    }
