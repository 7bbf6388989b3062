"""The whole pipeline on S3 through s3a, against the moto server, run as a user runs it.

A small generated landing set is uploaded to a landing bucket, then ``sales-lakehouse run``
runs twice in a subprocess (the shared test SparkSession cannot load the hadoop-aws jars)
with ``AWS_ENDPOINT_URL_S3`` pointing at moto; the second finds nothing new, without Spark. The expectations come from the DuckDB oracle
over the local copy of the landing files and from Python's csv module; the lake is read
back by replaying the Delta logs straight from the bucket with boto3 and pyarrow, so
neither Spark nor the package checks its own work.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow.parquet as pq
import pytest
from bench.reference import DAILY_GRAIN, DAILY_MEASURES, Reference

from sales_lakehouse_tools.generate import generate_landing
from tests.aws.conftest import Aws
from tests.integration.oracle import (
    count_landed_lines,
    load_report,
    oracle_of,
    quarantine_kinds,
)

pytestmark = [pytest.mark.aws, pytest.mark.integration]

# Small on purpose: 7 days keep gold at ~15 date partitions (S3A pays ~10 requests a file).
LINES, DAYS, SEED = 600, 7, 5
RUN_TIMEOUT_S = 1200
COMMIT = re.compile(r"\d{20}\.json")


@dataclass(frozen=True)
class DeltaSnapshot:
    """A Delta table as its log in the bucket says: JSON commits and the live rows."""

    commits: list[str]
    rows: list[dict[str, Any]]


def read_delta(aws: Aws, bucket: str, folder: str) -> DeltaSnapshot:
    """Replay ``<folder>/_delta_log/*.json`` (adds minus removes) and read the live files.

    Enough for tables without a checkpoint or deletion vectors, which the asserts below
    make sure of; partition values come from the ``add`` actions, as strings.
    """
    log = aws.keys(bucket, f"{folder}/_delta_log/")
    assert not [key for key in log if key.endswith(".checkpoint.parquet")], log
    commits = [key for key in log if COMMIT.fullmatch(key.rsplit("/", 1)[-1])]
    live: dict[str, dict[str, Any]] = {}
    for key in commits:
        body = aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        for line in body.splitlines():
            action = json.loads(line)
            if "add" in action:
                live[action["add"]["path"]] = action["add"]
            elif "remove" in action:
                live.pop(action["remove"]["path"], None)
    rows: list[dict[str, Any]] = []
    for path, add in sorted(live.items()):
        assert add.get("deletionVector") is None, path
        data = aws.s3.get_object(Bucket=bucket, Key=f"{folder}/{unquote(path)}")["Body"].read()
        partition = add.get("partitionValues") or {}
        rows += [{**row, **partition} for row in pq.read_table(io.BytesIO(data)).to_pylist()]
    return DeltaSnapshot(commits, rows)


def as_date(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class S3Lake:
    """The generated landing folder, the buckets, and the output of both runs."""

    aws: Aws
    landing_dir: Path
    lake_bucket: str
    outputs: list[str]
    first: dict[str, DeltaSnapshot]
    second: dict[str, DeltaSnapshot]

    def table(self, layer: str, name: str, *, run: int = 1) -> DeltaSnapshot:
        return (self.first if run == 1 else self.second)[f"{layer}/{name}"]


TABLES = (
    "bronze/sales",
    "silver/sales",
    "quarantine/sales",
    "gold/fact_sales",
    "gold/daily_sales",
)


def _run_cli(moto_endpoint: str, landing: str, lake: str, **extra: str) -> str:
    """``sales-lakehouse run`` in a subprocess, configured only by AWS's own env vars."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_S3": moto_endpoint,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SALES_LAKEHOUSE_JAVA_OPTS": os.environ.get(
            "SALES_LAKEHOUSE_JAVA_OPTS", "-XX:+UseSerialGC"
        ),
        **extra,
    }
    cli = Path(sys.executable).parent / "sales-lakehouse"
    result = subprocess.run(
        [str(cli), "run", "--landing", landing, "--lake", lake],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def s3_lake(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Lake]:
    aws = Aws(moto_endpoint)
    landing_bucket, lake_bucket = aws.bucket(), aws.bucket()
    landing_dir = tmp_path_factory.mktemp("s3a") / "landing"
    generate_landing(landing_dir, lines=LINES, seed=SEED, days=DAYS)
    for path in sorted(landing_dir.rglob("*.csv")):
        key = f"drop/{path.relative_to(landing_dir).as_posix()}"
        aws.s3.upload_file(str(path), landing_bucket, key)
    landing, lake = f"s3://{landing_bucket}/drop", f"s3://{lake_bucket}/lake"
    outputs, snapshots = [], []
    # The second run finds nothing new, and decides so without Spark: with no Java at
    # hand, a run that needed a Spark session would stop at the Java check.
    no_java = str(tmp_path_factory.mktemp("no-java"))
    for extra in ({}, {"JAVA_HOME": no_java}):
        outputs.append(_run_cli(moto_endpoint, landing, lake, **extra))
        snapshots.append({name: read_delta(aws, lake_bucket, f"lake/{name}") for name in TABLES})
    yield S3Lake(aws, landing_dir, lake_bucket, outputs, snapshots[0], snapshots[1])
    aws.drop_bucket(landing_bucket)
    aws.drop_bucket(lake_bucket)


@pytest.fixture(scope="module")
def s3_oracle(s3_lake: S3Lake) -> Iterator[Reference]:
    expected = oracle_of(s3_lake.landing_dir)
    yield expected
    expected.close()


def test_delta_logs_are_objects_in_the_lake_bucket(s3_lake: S3Lake) -> None:
    keys = s3_lake.aws.keys(s3_lake.lake_bucket, "lake/")
    for name in TABLES:
        assert f"lake/{name}/_delta_log/00000000000000000000.json" in keys
    assert any(re.fullmatch(r"lake/gold/daily_sales/.+\.parquet", key) for key in keys)
    assert not [key for key in keys if "/_catalog/" in key], "a local catalog was put on S3"


def test_bronze_keeps_every_landed_line(s3_lake: S3Lake) -> None:
    landed = count_landed_lines(s3_lake.landing_dir / "sales")
    bronze = s3_lake.table("bronze", "sales").rows
    assert len(bronze) == landed.rows == LINES
    files = {row["_source_file"] for row in bronze}
    assert all(name.startswith("s3a://") for name in files), files
    assert len(files) == len(list((s3_lake.landing_dir / "sales").glob("*.csv")))


def test_silver_and_quarantine_match_the_oracle(s3_lake: S3Lake, s3_oracle: Reference) -> None:
    kinds = quarantine_kinds(load_report(s3_lake.landing_dir))
    assert len(s3_lake.table("silver", "sales").rows) == s3_oracle.count("silver_sales")
    quarantined = s3_lake.table("quarantine", "sales").rows
    assert len(quarantined) == sum(len(keys) for keys in kinds.values())


def test_gold_matches_the_oracle(s3_lake: S3Lake, s3_oracle: Reference) -> None:
    total_net = s3_oracle.total_net()
    assert total_net > Decimal(0)
    fact = s3_lake.table("gold", "fact_sales").rows
    assert len(fact) == s3_oracle.count("silver_sales")
    assert sum(row["net_amount"] for row in fact) == total_net
    daily_rows = s3_lake.table("gold", "daily_sales").rows
    assert sum(row["net_amount"] for row in daily_rows) == total_net
    daily = Counter(
        (as_date(row["sale_date"]), *(row[c] for c in DAILY_GRAIN[1:] + DAILY_MEASURES))
        for row in daily_rows
    )
    assert daily == Counter(s3_oracle.daily())


def test_second_run_finds_nothing_new_and_changes_nothing(s3_lake: S3Lake) -> None:
    assert re.search(r"bronze sales: \d+ files landed, 0 new", s3_lake.outputs[1])
    assert "gold: no silver changes since the last run" in s3_lake.outputs[1]
    for name in TABLES:  # nothing written: the same rows, no new commit
        first, second = s3_lake.first[name], s3_lake.second[name]
        assert len(second.rows) == len(first.rows), name
        assert second.commits == first.commits, name
