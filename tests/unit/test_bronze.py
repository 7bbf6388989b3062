from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from sales_lakehouse.bronze.csv import bronze_schema, header_problem, to_bronze
from sales_lakehouse.config import Settings
from sales_lakehouse.contracts import load_contract
from sales_lakehouse.lake import Lake
from sales_lakehouse.lake.landing import list_files, read_csv_files, read_header
from sales_lakehouse.pipeline.bronze import ingest_bronze

SALES = load_contract("sales")


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (SALES.column_names, None),
        (list(reversed(SALES.column_names)), None),
        ([*SALES.column_names, "pos_terminal"], None),
        ([" Order_ID ", *SALES.column_names[1:]], None),
        ([c for c in SALES.column_names if c != "promotion_id"], None),
        (
            [c for c in SALES.column_names if c not in ("quantity", "store_id")],
            "header lacks required columns: store_id, quantity",
        ),
        ([*SALES.column_names, "order_id"], "header repeats columns: order_id"),
        (
            [*SALES.column_names, ""],
            f"header has empty column names at positions {len(SALES.column_names) + 1}",
        ),
        ([], "the file has no header row"),
    ],
)
def test_header_problem(header: list[str], problem: str | None) -> None:
    assert header_problem(header, SALES) == problem


def test_to_bronze_keeps_extra_columns_and_fills_missing_ones(spark: SparkSession) -> None:
    raw = spark.createDataFrame(
        [("O1", "7", None, "file:/l/a.csv"), ("O2", None, "O2,,x,y", "file:/l/a.csv")],
        "order_id string, pos_terminal string, _corrupt_record string, _source_file string",
    )
    ingested = datetime(2025, 1, 1, 6, 0)
    out = to_bronze(raw, SALES, run_id="r1", ingested_at=ingested)
    assert [f.name for f in out.schema] == [f.name for f in bronze_schema(SALES)]
    rows = {row["order_id"]: row for row in out.collect()}
    assert rows["O1"]["_extra"] == {"pos_terminal": "7"}
    assert rows["O1"]["_is_malformed"] is False
    assert rows["O2"]["_is_malformed"] is True
    assert rows["O2"]["_raw_line"] == "O2,,x,y"
    assert rows["O1"]["quantity"] is None
    assert rows["O1"]["_run_id"] == "r1"
    assert rows["O1"]["_ingested_at"] == ingested


def test_landing_reader_flags_wrong_field_counts_and_honours_rfc4180(
    spark: SparkSession, tmp_path: Path
) -> None:
    folder = tmp_path / "products"
    folder.mkdir()
    path = folder / "2025-01-01_products.csv"
    path.write_text(
        "product_id,product_name,brand\n"
        'P1,"Monitor 27"", 4K",Dell\n'
        "P2,Mouse\n"
        "P3,Keyboard,Logi,extra\n"
        '"P4","Two\nlines",Acme\n',
        encoding="utf-8",
    )
    files = list_files(spark, str(folder))
    assert [Path(f.path.removeprefix("file:")).name for f in files] == [path.name]
    header = read_header(spark, files[0].path)
    assert header == ["product_id", "product_name", "brand"]
    rows = read_csv_files(spark, [files[0].path], header).select(
        "product_id", "product_name", "brand", "_corrupt_record"
    )
    expected = spark.createDataFrame(
        [
            ("P1", 'Monitor 27", 4K', "Dell", None),
            ("P2", "Mouse", None, "P2,Mouse"),
            ("P3", "Keyboard", "Logi", "P3,Keyboard,Logi,extra"),
            ("P4", "Two\nlines", "Acme", None),
        ],
        T.StructType(
            [
                T.StructField(n, T.StringType(), True)
                for n in ("product_id", "product_name", "brand", "_corrupt_record")
            ]
        ),
    )
    assert_df_equality(rows, expected, ignore_row_order=True, ignore_nullable=True)


def test_missing_landing_folder_lists_no_files(spark: SparkSession, tmp_path: Path) -> None:
    assert list_files(spark, str(tmp_path / "nope")) == []


def test_listing_skips_hidden_files_and_names_each_file_as_spark_records_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    root = tmp_path / "landing"
    names = [
        "x.csv",
        "a b.csv",
        "c%20d.csv",
        "\u00e9t\u00e9.csv",
        "sub/z.csv",
        "day=1/w.csv",
        ".hidden.csv",
        "_tmp/y.csv",
        ".git/q.csv",
        "u.csv._COPYING_",
        "notes.txt",
    ]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("id,name\n1,x\n", encoding="utf-8")
    files = list_files(spark, str(root))
    listed = [f.path.removeprefix(f"file:{root}/") for f in files]
    assert listed == sorted(
        ["x.csv", "a b.csv", "c%20d.csv", "\u00e9t\u00e9.csv", "sub/z.csv", "day=1/w.csv"]
    )
    assert all(f.size == len("id,name\n1,x\n") for f in files)
    # What Spark records for each file read by its path (bronze's _source_file) is the
    # listing's `source`: escaped, unlike the path (a space is %20, a % is %25).
    read = read_csv_files(spark, [f.path for f in files], ["id", "name"])
    recorded = sorted(row[0] for row in read.select("_source_file").distinct().collect())
    assert recorded == sorted(f.source for f in files)
    assert f"file:{root}/a%20b.csv" in recorded and f"file:{root}/c%2520d.csv" in recorded


def test_a_file_named_with_a_space_is_ingested_once(spark: SparkSession, tmp_path: Path) -> None:
    landing = tmp_path / "landing" / "products"
    landing.mkdir(parents=True)
    contract = load_contract("products")
    header = ",".join(contract.column_names)
    (landing / "2025-01-01 products export.csv").write_text(
        header + "\n" + ",".join("1" for _ in contract.column_names) + "\n", encoding="utf-8"
    )
    settings = Settings(landing=str(tmp_path / "landing"), lake=str(tmp_path / "lake"))
    lake = Lake(spark, settings)
    first = ingest_bronze(lake, "products", lambda _: None)
    second = ingest_bronze(lake, "products", lambda _: None)
    assert (first.files, first.rows_in) == (1, 1)
    assert (second.files, second.rows_in) == (0, 0)
    assert lake.read("bronze", "products").count() == 1


def test_read_header_reads_the_first_line_only_with_csv_quoting(
    spark: SparkSession, tmp_path: Path
) -> None:
    quoted = tmp_path / "quoted.csv"
    quoted.write_bytes(b'\xef\xbb\xbf"Order_ID","note, free text",brand\r\nP1,"a\r\nb",x\r\n')
    assert read_header(spark, str(quoted)) == ["Order_ID", "note, free text", "brand"]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert read_header(spark, str(empty)) == []
    with pytest.raises(OSError, match=r"missing\.csv does not exist"):
        read_header(spark, str(tmp_path / "missing.csv"))
