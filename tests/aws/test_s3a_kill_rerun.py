"""Kill ``sales-lakehouse run`` on an ``s3a://`` lake (moto server), rerun, same result.

The s3a variant of ``tests/integration/test_kill_rerun.py``: the first run's lake is
uploaded to a bucket, the same small batch lands in the (local) landing folder, and one
run over the bucket is watched and killed with SIGKILL right after its silver MERGE
commit, before the watermark's. On S3 a commit is a plain object
(S3SingleDriverLogStore) and the lock is taken over with a conditional put, so what a
kill leaves differs from a local lake. The lake is rerun by ``sales-lakehouse run``
(the test session has no s3a), then downloaded and compared table by
table with the clean local run over the same files (``interrupt.clean_reference``, the
local kill test's reference too): the lake's location enters no column (``_source_file``
names the landing files), so a clean s3a run holds the same data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.lake.lock import LOCK_NAME
from tests.aws.conftest import Aws
from tests.integration.conftest import FirstRun
from tests.integration.helpers import lake_of
from tests.integration.interrupt import (
    CleanRun,
    Table,
    WatchedRun,
    lake_differences,
    lake_rows,
    landed_increment,
    run_all,
    stop_and_kill,
)

pytestmark = [pytest.mark.aws, pytest.mark.integration]

LAKE = "lake"
# (name, the table whose next commit is the point, the table the run commits next)
# One point, for the suite's time: the local test covers every stage; here the point where
# a replay matters most (silver committed, its watermark not) on S3's own commit and lock.
# A longer tuple works as locally: every point but the last is copied, the last killed.
POINTS: tuple[tuple[str, Table, Table], ...] = (
    ("silver-merged", ("silver", "sales"), ("meta", "watermarks")),
)
RUN_TIMEOUT_S = 1200


def _upload(aws: Aws, folder: Path, bucket: str) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        aws.s3.upload_file(str(path), bucket, f"{LAKE}/{path.relative_to(folder).as_posix()}")


def _copy(aws: Aws, bucket: str, prefix: str) -> None:
    for key in aws.keys(bucket, f"{LAKE}/"):
        source = {"Bucket": bucket, "Key": key}
        aws.s3.copy_object(
            Bucket=bucket, Key=f"{prefix}/{key.removeprefix(f'{LAKE}/')}", CopySource=source
        )


def _download(aws: Aws, bucket: str, prefix: str, folder: Path) -> Path:
    for key in aws.keys(bucket, f"{prefix}/"):
        target = folder / key.removeprefix(f"{prefix}/")
        target.parent.mkdir(parents=True, exist_ok=True)
        aws.s3.download_file(bucket, key, str(target))
    return folder


def _version(aws: Aws, bucket: str, prefix: str, table: Table) -> int:
    log = f"{prefix}/{'/'.join(table)}/_delta_log/"
    names = [key.removeprefix(log) for key in aws.keys(bucket, log)]
    commits = [name for name in names if name.endswith(".json") and name[:20].isdigit()]
    return max((int(name[:20]) for name in commits), default=-1)


def _exists(aws: Aws, bucket: str, key: str) -> bool:
    listed = aws.s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
    return any(item["Key"] == key for item in listed)


def test_s3a_rerun_after_a_kill_equals_the_clean_run(
    spark: SparkSession,
    first_run: FirstRun,
    moto_endpoint: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    aws = Aws(moto_endpoint)
    bucket = aws.bucket()
    env = {"AWS_ENDPOINT_URL_S3": moto_endpoint}
    landing = str(first_run.landing)
    _upload(aws, first_run.lake_dir, bucket)
    points = []
    for name, table, _ in POINTS:
        version = _version(aws, bucket, LAKE, table) + 1
        commit = f"{LAKE}/{'/'.join(table)}/_delta_log/{version:020d}.json"
        points.append((name, lambda key=commit: _exists(aws, bucket, key)))
    untouched = {name: (table, _version(aws, bucket, LAKE, table)) for name, _, table in POINTS}
    # The lake as the run left it at each point: copied at the first, killed at the last.
    prefixes = {name: name for name, _, _ in POINTS[:-1]} | {POINTS[-1][0]: LAKE}
    watched: WatchedRun | None = None
    try:
        with landed_increment(first_run):
            watched = WatchedRun(landing, f"s3a://{bucket}/{LAKE}", tmp_path / "run.log", env)
            done = stop_and_kill(
                watched, points, lambda name: _copy(aws, bucket, name), timeout_s=RUN_TIMEOUT_S
            )
            # Meanwhile, in this JVM: the clean reference, unless this session has it.
            clean: CleanRun = request.getfixturevalue("clean_reference")
            done.result()
            for name, (table, version) in untouched.items():
                assert _version(aws, bucket, prefixes[name], table) == version, (
                    f"{name}: the run had gone on to commit {'.'.join(table)}"
                )
                lock = aws.s3.get_object(Bucket=bucket, Key=f"{prefixes[name]}/{LOCK_NAME}")
                assert json.loads(lock["Body"].read())["pid"] == watched.pid, name
            lakes = {name: f"s3a://{bucket}/{prefix}" for name, prefix in prefixes.items()}
            outputs = run_all(landing, lakes, tmp_path, env, timeout_s=RUN_TIMEOUT_S)
        for name, prefix in prefixes.items():
            # The killed run's lock object was left behind; the rerun took it over.
            taken = [line for line in outputs[name].splitlines() if "lock: took over" in line]
            assert len(taken) == 1 and f"its process {watched.pid} " in taken[0], outputs[name]
            assert not _exists(aws, bucket, f"{prefix}/{LOCK_NAME}")
        downloaded = {
            name: _download(aws, bucket, prefix, tmp_path / name)
            for name, prefix in prefixes.items()
        }
    finally:
        if watched is not None:  # a failed check must not leave the run going
            watched.close()
        aws.drop_bucket(bucket)

    for name, lake_dir in downloaded.items():
        actual = lake_rows(lake_of(spark, first_run.landing, lake_dir), clean.stamps)
        difference = lake_differences(actual, clean.rows)
        assert not difference, (
            f"s3a lake killed at {name}, then rerun: tables differ from the clean run "
            f"(left: rerun, right: clean)\n{difference}"
        )
