from __future__ import annotations

from datetime import datetime

from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from sales_lakehouse.bronze.events import events_to_bronze, split_json_records
from sales_lakehouse.contracts import load_contract

AT = datetime(2025, 3, 1, 12, 0)


def test_split_json_records_handles_ndjson_firehose_and_blank_lines(spark: SparkSession) -> None:
    lines = spark.createDataFrame(
        [
            ('{"order_id":"A"}', "f1"),
            ('{"order_id":"B"}{"order_id":"C"} \t{"order_id":"D"}', "f2"),
            ("   ", "f2"),
            ("{broken", "f3"),
        ],
        "value string, _source_file string",
    )
    expected = spark.createDataFrame(
        [
            ('{"order_id":"A"}', "f1"),
            ('{"order_id":"B"}', "f2"),
            ('{"order_id":"C"}', "f2"),
            ('{"order_id":"D"}', "f2"),
            ("{broken", "f3"),
        ],
        "_record string, _source_file string",
    )
    assert_df_equality(
        split_json_records(lines), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_events_to_bronze_keeps_values_as_text_extras_and_malformed_lines(
    spark: SparkSession,
) -> None:
    records = spark.createDataFrame(
        [
            ('{"order_id":"A","line_number":2,"unit_price":"19.90","quantity":3}', "f1"),
            ('{"order_id":"B","customer_id":null,"coupon":"X1"}', "f1"),
            ("[1, 2]", "f2"),
            ("{broken", "f2"),
        ],
        "_record string, _source_file string",
    )
    bronze = events_to_bronze(
        records, load_contract("sales_events"), run_id="run-1", ingested_at=AT
    ).select(
        "order_id",
        "line_number",
        "quantity",
        "unit_price",
        "customer_id",
        F.to_json("_extra").alias("_extra"),
        "_is_malformed",
        "_raw_line",
        "_source_file",
        "_run_id",
    )
    expected = spark.createDataFrame(
        [
            ("A", "2", "3", "19.90", None, None, False, None, "f1", "run-1"),
            ("B", None, None, None, None, '{"coupon":"X1"}', False, None, "f1", "run-1"),
            (None, None, None, None, None, None, True, "[1, 2]", "f2", "run-1"),
            (None, None, None, None, None, None, True, "{broken", "f2", "run-1"),
        ],
        "order_id string, line_number string, quantity string, unit_price string, "
        "customer_id string, _extra string, _is_malformed boolean, "
        "_raw_line string, _source_file string, _run_id string",
    )
    assert_df_equality(bronze, expected, ignore_row_order=True, ignore_nullable=True)


def test_every_event_contract_column_is_a_bronze_column(spark: SparkSession) -> None:
    records = spark.createDataFrame([("{}", "f")], "_record string, _source_file string")
    bronze = events_to_bronze(records, load_contract("sales_events"), run_id="r", ingested_at=AT)
    names = load_contract("sales_events").column_names
    assert bronze.columns[: len(names)] == names
    assert "event_id" in names
    assert "order_id" in names
