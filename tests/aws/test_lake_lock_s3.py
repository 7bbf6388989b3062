"""The lake lock on S3 (moto server): a conditional create (If-None-Match) gives one
holder, a second run is refused naming it, and a stale lock is taken over with a put
conditional on its ETag (If-Match), so of two runs taking it over one wins."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sales_lakehouse.lake.lock import LOCK_NAME, LakeLockedError, S3Store, lake_lock
from tests.aws.conftest import Aws

pytestmark = pytest.mark.aws


def old_lock(run_id: str) -> bytes:
    stale = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    return json.dumps({
        "run_id": run_id, "command": "run --stage all", "host": "glue-worker-9", "pid": 7,
        "started_at": stale, "heartbeat_at": stale,
    }).encode()  # fmt: skip


def test_one_holder_on_s3_and_a_one_line_refusal(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws.endpoint)
    bucket = aws.bucket()
    root = f"s3a://{bucket}/lake"
    with lake_lock(root, "run-a", "run --stage all"):
        body = aws.s3.get_object(Bucket=bucket, Key=f"lake/{LOCK_NAME}")["Body"].read()
        assert json.loads(body)["run_id"] == "run-a"
        refused = pytest.raises(LakeLockedError, match=r"^lake s3a://.* is in use by run run-a ")
        with refused, lake_lock(root, "run-b", "run --stage all"):
            pass
    listed = aws.s3.list_objects_v2(Bucket=bucket, Prefix="lake/").get("KeyCount", 0)
    assert listed == 0  # released


def test_a_stale_s3_lock_is_taken_over_by_exactly_one_run(aws: Aws) -> None:
    bucket = aws.bucket()
    client = aws.s3
    aws.s3.put_object(Bucket=bucket, Key=f"lake/{LOCK_NAME}", Body=old_lock("run-killed"))
    first, second = (
        S3Store(client, bucket, f"lake/{LOCK_NAME}"),
        S3Store(client, bucket, f"lake/{LOCK_NAME}"),
    )
    found = first.read()
    assert found is not None
    _body, token = found
    # Both saw the same stale version; the second put conditional on it loses.
    assert first.take_over(token, b'{"run_id": "run-1"}') is True
    assert second.take_over(token, b'{"run_id": "run-2"}') is False
    assert first.create(b"{}") is False  # held: If-None-Match refuses
    said: list[str] = []
    aws.s3.put_object(Bucket=bucket, Key=f"lake/{LOCK_NAME}", Body=old_lock("run-killed"))
    store = S3Store(client, bucket, f"lake/{LOCK_NAME}")
    with lake_lock(f"s3a://{bucket}/lake", "run-3", "run", store=store, progress=said.append):
        pass
    (line,) = said
    assert line.startswith("lock: took over the lake from run run-killed (run --stage all, ")
    assert line.endswith(": its last heartbeat is older than 10 min")
