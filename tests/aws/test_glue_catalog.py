"""Registering Delta tables in the Glue Data Catalog, against the moto server (no Spark).

The Delta logs are written by hand here: a protocol, a metaData and add actions, the
shape Delta 3.3 writes for a table partitioned by a date column.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from sales_lakehouse.lake.glue_catalog import (
    DELTA_PARAMETERS,
    hive_type,
    register_delta_tables,
    register_lake,
)
from tests.aws.conftest import Aws

pytestmark = pytest.mark.aws

SCHEMA_V0 = {
    "type": "struct",
    "fields": [
        {"name": "order_id", "type": "string", "nullable": True, "metadata": {}},
        {"name": "line_number", "type": "integer", "nullable": True, "metadata": {}},
        {"name": "units", "type": "long", "nullable": True, "metadata": {}},
        {
            "name": "net_amount",
            "type": "decimal(18,2)",
            "nullable": True,
            "metadata": {"comment": "quantity x unit_price - discount"},
        },
        {"name": "sale_date", "type": "date", "nullable": True, "metadata": {}},
    ],
}
COLUMNS_V0 = [
    {"Name": "order_id", "Type": "string"},
    {"Name": "line_number", "Type": "int"},
    {"Name": "units", "Type": "bigint"},
    {"Name": "net_amount", "Type": "decimal(18,2)", "Comment": "quantity x unit_price - discount"},
]


def _metadata(schema: dict[str, Any], created: int) -> dict[str, Any]:
    return {
        "metaData": {
            "id": "5f1c1c52-3b7e-4f55-9d0e-7d3c7b0c9a11",
            "format": {"provider": "parquet", "options": {}},
            "schemaString": json.dumps(schema),
            "partitionColumns": ["sale_date"],
            "configuration": {},
            "createdTime": created,
        }
    }


def _add(day: str) -> dict[str, Any]:
    return {
        "add": {
            "path": f"sale_date={day}/part-00000-{uuid.uuid4()}.c000.snappy.parquet",
            "partitionValues": {"sale_date": day},
            "size": 1234,
            "modificationTime": 1740787200000,
            "dataChange": True,
            "stats": '{"numRecords":3}',
        }
    }


def _commit(*actions: dict[str, Any]) -> bytes:
    return "".join(json.dumps(action) + "\n" for action in actions).encode("utf-8")


def _put(aws: Aws, bucket: str, key: str, body: bytes) -> None:
    aws.s3.put_object(Bucket=bucket, Key=key, Body=body)


def _first_commit() -> bytes:
    return _commit(
        {"commitInfo": {"timestamp": 1740787200000, "operation": "WRITE"}},
        {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
        _metadata(SCHEMA_V0, 1740787200000),
        _add("2025-03-01"),
        _add("2025-03-02"),
    )


@pytest.fixture
def lake(aws: Aws) -> tuple[str, str]:
    """(bucket, lake root) with gold/daily_sales holding one hand-written commit."""
    bucket = aws.bucket()
    _put(aws, bucket, "lake/gold/daily_sales/_delta_log/00000000000000000000.json", _first_commit())
    return bucket, f"s3://{bucket}/lake"


def test_registers_native_delta_table(aws: Aws, lake: tuple[str, str]) -> None:
    bucket, root = lake
    glue = aws.client("glue")
    database = f"test_{uuid.uuid4().hex[:8]}_gold"

    results = register_delta_tables(root, database, [("gold", "daily_sales")], glue=glue, s3=aws.s3)

    assert [(r.table, r.action, r.columns) for r in results] == [("daily_sales", "created", 4)]
    table = glue.get_table(DatabaseName=database, Name="daily_sales")["Table"]
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert table["Parameters"] == {
        "table_type": "DELTA",
        "classification": "delta",
        "EXTERNAL": "TRUE",
        "spark.sql.sources.provider": "delta",
    }
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/lake/gold/daily_sales"
    assert table["StorageDescriptor"]["Columns"] == COLUMNS_V0
    assert table["PartitionKeys"] == [{"Name": "sale_date", "Type": "date"}]
    assert glue.get_database(Name=database)["Database"]["LocationUri"] == f"s3://{bucket}/lake"


def test_second_call_is_idempotent_and_picks_up_schema_change(
    aws: Aws, lake: tuple[str, str]
) -> None:
    bucket, root = lake
    glue = aws.client("glue")
    database = f"test_{uuid.uuid4().hex[:8]}_gold"
    register_delta_tables(root, database, [("gold", "daily_sales")], glue=glue, s3=aws.s3)

    again = register_delta_tables(root, database, [("gold", "daily_sales")], glue=glue, s3=aws.s3)
    assert [r.action for r in again] == ["updated"]
    table = glue.get_table(DatabaseName=database, Name="daily_sales")["Table"]
    assert table["StorageDescriptor"]["Columns"] == COLUMNS_V0

    # Version 1 adds a nested column (schema evolution); version 2 only appends data.
    evolved = dict(SCHEMA_V0)
    evolved["fields"] = [
        *SCHEMA_V0["fields"],
        {
            "name": "tags",
            "type": {
                "type": "map",
                "keyType": "string",
                "valueType": {"type": "array", "elementType": "string", "containsNull": True},
                "valueContainsNull": True,
            },
            "nullable": True,
            "metadata": {},
        },
    ]
    log = "lake/gold/daily_sales/_delta_log"
    _put(aws, bucket, f"{log}/00000000000000000001.json", _commit(_metadata(evolved, 1)))
    _put(aws, bucket, f"{log}/00000000000000000002.json", _commit(_add("2025-03-03")))

    third = register_delta_tables(root, database, [("gold", "daily_sales")], glue=glue, s3=aws.s3)

    assert [(r.action, r.columns) for r in third] == [("updated", 5)]
    table = glue.get_table(DatabaseName=database, Name="daily_sales")["Table"]
    assert table["StorageDescriptor"]["Columns"] == [
        *COLUMNS_V0,
        {"Name": "tags", "Type": "map<string,array<string>>"},
    ]
    assert table["Parameters"]["table_type"] == "DELTA"
    assert len(glue.get_tables(DatabaseName=database)["TableList"]) == 1


def test_metadata_only_in_checkpoint_registers_without_columns(aws: Aws) -> None:
    """JSON commits up to the checkpoint were cleaned up: no columns, still a Delta table."""
    bucket = aws.bucket()
    log = "lake/silver/sales/_delta_log"
    _put(aws, bucket, f"{log}/00000000000000000010.checkpoint.parquet", b"PAR1 not read")
    _put(aws, bucket, f"{log}/_last_checkpoint", b'{"version":10,"size":4}')
    _put(aws, bucket, f"{log}/00000000000000000011.json", _commit(_add("2025-03-04")))
    glue = aws.client("glue")
    database = f"test_{uuid.uuid4().hex[:8]}_silver"

    results = register_delta_tables(
        f"s3://{bucket}/lake", database, [("silver", "sales")], glue=glue, s3=aws.s3
    )

    assert [(r.action, r.columns) for r in results] == [("created", None)]
    table = glue.get_table(DatabaseName=database, Name="sales")["Table"]
    assert table["Parameters"] == DELTA_PARAMETERS
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/lake/silver/sales"
    assert table["StorageDescriptor"].get("Columns", []) == []


def test_register_lake_discovers_tables_one_database_per_layer(
    aws: Aws, lake: tuple[str, str]
) -> None:
    bucket, root = lake
    _put(aws, bucket, "lake/silver/sales/_delta_log/00000000000000000000.json", _first_commit())
    _put(aws, bucket, "lake/silver/not_delta/part-0.parquet", b"x")
    glue = aws.client("glue")
    prefix = f"t{uuid.uuid4().hex[:8]}"

    results = register_lake(root, prefix, glue=glue, s3=aws.s3)

    assert sorted((r.database, r.table, r.action) for r in results) == [
        (f"{prefix}_gold", "daily_sales", "created"),
        (f"{prefix}_silver", "sales", "created"),
    ]
    silver = glue.get_database(Name=f"{prefix}_silver")["Database"]
    assert silver["LocationUri"] == f"s3://{bucket}/lake/silver"
    missing = register_lake(root, prefix, [("gold", "fact_sales")], glue=glue, s3=aws.s3)
    assert [r.action for r in missing] == ["missing"]


def test_register_catalog_job_exit_codes(
    aws: Aws, lake: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from jobs.register_catalog import main

    _, root = lake
    prefix = f"t{uuid.uuid4().hex[:8]}"
    common = ["--lake", root, "--database-prefix", prefix, "--endpoint-url", aws.endpoint]
    glue_extras = ["--JOB_NAME", "register", "--enable-metrics", "true"]

    assert main(["register_catalog.py", *common, *glue_extras]) == 0
    assert f"created  {prefix}_gold.daily_sales" in capsys.readouterr().out
    assert main(["register_catalog.py", *common, "--table", "gold.fact_sales"]) == 1
    assert aws.client("glue").get_table(DatabaseName=f"{prefix}_gold", Name="daily_sales")


@pytest.mark.parametrize(
    ("delta", "hive"),
    [
        ("decimal(12, 2)", "decimal(12,2)"),
        ("timestamp_ntz", "timestamp"),
        ("short", "smallint"),
        (
            {
                "type": "struct",
                "fields": [
                    {"name": "a", "type": "boolean"},
                    {"name": "b", "type": {"type": "array", "elementType": "date"}},
                ],
            },
            "struct<a:boolean,b:array<date>>",
        ),
    ],
)
def test_hive_types(delta: Any, hive: str) -> None:
    assert hive_type(delta) == hive


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported Delta type"):
        hive_type("variant")


def test_local_lake_folder(aws: Aws, tmp_path: Path) -> None:
    log = tmp_path / "lake" / "gold" / "daily_sales" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_bytes(_first_commit())
    glue = aws.client("glue")
    prefix = f"t{uuid.uuid4().hex[:8]}"

    results = register_lake(str(tmp_path / "lake"), prefix, glue=glue)

    location = (tmp_path / "lake" / "gold" / "daily_sales").as_uri()
    assert [(r.table, r.location, r.columns) for r in results] == [("daily_sales", location, 4)]
    table = glue.get_table(DatabaseName=f"{prefix}_gold", Name="daily_sales")["Table"]
    assert table["StorageDescriptor"]["Location"] == location
