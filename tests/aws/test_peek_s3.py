"""What ``run`` reads without Spark, on S3: landed objects, Delta logs and table rows.

The bucket is a moto server's (real HTTP); boto3 lists and reads it, delta-rs reads the
tables with the endpoint of ``AWS_ENDPOINT_URL_S3``, as a user's environment gives it.
The whole decision on an S3 lake built by Spark is in ``test_s3a_pipeline.py`` (its second
run, with no Java at hand). The expected names and rows here are written out by hand.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from sales_lakehouse.lake import peek
from tests.aws.conftest import Aws

pytestmark = pytest.mark.aws


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Aws, str]]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    aws = Aws(moto_endpoint)
    bucket = aws.bucket()
    yield aws, bucket
    aws.drop_bucket(bucket)


def test_landed_objects_are_named_as_spark_names_them(s3: tuple[Aws, str]) -> None:
    aws, bucket = s3
    for key in (
        "drop/sales/2025-01-01_sales.csv",
        "drop/sales/sub dir/a b.csv",
        "drop/sales/ingest_date=2025-01-02/c.csv",
        "drop/sales/_staging/d.csv",  # hidden folder
        "drop/sales/.e.csv",  # hidden file
        "drop/sales/f.csv._COPYING_",  # a copy under way
        "drop/sales/notes.txt",
        "drop/salesx/g.csv",  # another folder with the same start
    ):
        aws.s3.put_object(Bucket=bucket, Key=key, Body=b"order_id\n1\n")

    assert peek.landed_sources(f"s3a://{bucket}/drop/sales") == [
        f"s3a://{bucket}/drop/sales/2025-01-01_sales.csv",
        f"s3a://{bucket}/drop/sales/ingest_date=2025-01-02/c.csv",
        f"s3a://{bucket}/drop/sales/sub%20dir/a%20b.csv",
    ]
    assert peek.landed_sources(f"s3a://{bucket}/drop/sales/", ".txt") == [
        f"s3a://{bucket}/drop/sales/notes.txt"
    ]
    assert peek.landed_sources(f"s3a://{bucket}/drop/products") == []
    assert peek.folder_exists(f"s3a://{bucket}/drop")
    assert not peek.folder_exists(f"s3a://{bucket}/nothing")


def _commit(*actions: dict[str, object]) -> bytes:
    return "".join(json.dumps(action) + "\n" for action in actions).encode()


def test_versions_and_data_changes_come_from_the_log_objects(s3: tuple[Aws, str]) -> None:
    aws, bucket = s3
    log = "lake/silver/sales/_delta_log"
    info = {"commitInfo": {"operation": "WRITE"}}
    written = _commit(info, {"add": {"path": "a.parquet", "dataChange": True}})
    optimized = _commit(
        {"commitInfo": {"operation": "OPTIMIZE"}},
        {"remove": {"path": "a.parquet", "dataChange": False}},
        {"add": {"path": "b.parquet", "dataChange": False}},
    )
    aws.s3.put_object(Bucket=bucket, Key=f"{log}/00000000000000000000.json", Body=written)
    aws.s3.put_object(Bucket=bucket, Key=f"{log}/00000000000000000001.json", Body=optimized)
    aws.s3.put_object(Bucket=bucket, Key=f"{log}/00000000000000000001.checkpoint.parquet", Body=b"")
    table = f"s3a://{bucket}/lake/silver/sales"

    assert peek.log_version(table) == 1
    assert peek.log_version(f"s3a://{bucket}/lake/silver/products") == -1
    assert not peek.data_changed(table, 0, 1)  # OPTIMIZE moves rows, changes none
    assert peek.data_changed(table, -1, 1)
    assert peek.data_changed(table, 1, 2)  # a commit that is not there: ask Spark


def test_table_rows_are_read_by_delta_rs_from_the_bucket(
    s3: tuple[Aws, str], moto_endpoint: str
) -> None:
    _, bucket = s3
    rows = pa.table(
        {
            "consumer": ["gold", "gold", "silver_sales", "gold"],
            "source": ["silver/sales", "silver/sales", "bronze/sales", "silver/products"],
            "version": pa.array([3, 4, 7, 2], pa.int64()),
        }
    )
    options = peek.storage_options({"AWS_ENDPOINT_URL_S3": moto_endpoint, "AWS_REGION": "x"})
    assert options == {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ALLOW_HTTP": "true",
        "AWS_REGION": "x",
    }
    table = f"s3://{bucket}/lake/meta/watermarks"
    write_deltalake(table, rows, storage_options=peek.storage_options())

    read = peek.distinct_rows(
        {
            "marks": (f"s3a://{bucket}/lake/meta/watermarks", ("consumer", "source")),
            # One text column (bronze's file names) is read as stored, dictionary-encoded.
            "sources": (f"s3a://{bucket}/lake/meta/watermarks", ("source",)),
        }
    )
    assert read == {
        "marks": {
            ("gold", "silver/sales"),
            ("silver_sales", "bronze/sales"),
            ("gold", "silver/products"),
        },
        "sources": {("silver/sales",), ("bronze/sales",), ("silver/products",)},
    }
    assert peek.log_version(f"s3a://{bucket}/lake/meta/watermarks") == 0
