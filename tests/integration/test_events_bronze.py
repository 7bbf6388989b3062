"""Sale events landed by the Lambda consumer or Firehose reach bronze exactly once."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.lake import Lake
from sales_lakehouse.pipeline.bronze_events import ingest_events_bronze
from tests.integration.helpers import quiet

pytestmark = pytest.mark.integration


def _event(order_id: str, line: int, **values: object) -> dict[str, object]:
    return {
        "event_id": f"e-{order_id}-{line}",
        "event_type": "sale",
        "event_ts": "2025-03-01T10:00:00Z",
        "source": "pos",
        "order_id": order_id,
        "line_number": line,
        "order_ts": "2025-03-01T09:59:00Z",
        "store_id": "S001",
        "product_id": "P00001",
        "quantity": 1,
        "unit_price": "10.00",
        **values,
    }


def _ndjson(events: list[dict[str, object]]) -> str:
    return "".join(json.dumps(event) + "\n" for event in events)


def _land(landing: Path) -> None:
    """Three files as the landing zone gets them: Lambda NDJSON, Firehose, gzip."""
    day1 = landing / "sales_events" / "ingest_date=2025-03-01"
    day2 = landing / "sales_events" / "ingest_date=2025-03-02"
    day1.mkdir(parents=True)
    day2.mkdir(parents=True)
    lambda_file = _ndjson([_event("L1", 1), _event("L1", 2, quantity=3, promo="x")])
    (day1 / "0a1b.json").write_text(lambda_file + "{not json\n\n", encoding="utf-8")
    # Firehose: records back to back, no separator, no file extension.
    firehose = json.dumps(_event("F1", 1)) + json.dumps(_event("F2", 1, unit_price=12.5))
    (day1 / "sales-events-1-2025-03-01-10-00-00-abc").write_text(firehose, encoding="utf-8")
    with gzip.open(day2 / "9f8e.json.gz", "wt", encoding="utf-8") as handle:
        handle.write(_ndjson([_event("G1", 1), _event("G1", 2)]))


def _bronze_keys(lake: Lake) -> Counter[tuple[str | None, str | None]]:
    rows = lake.read("bronze", "sales_events").select("order_id", "line_number").collect()
    return Counter((row["order_id"], row["line_number"]) for row in rows)


def _lake(spark: SparkSession, landing: Path, lake_dir: Path) -> Lake:
    """A new run's view of the lake (new run id), as a new CLI invocation would have."""
    return Lake(spark, Settings(landing=str(landing), lake=str(lake_dir)))


EXPECTED = Counter(
    {
        ("L1", "1"): 1,
        ("L1", "2"): 1,
        (None, None): 1,  # the line that is not JSON, kept and flagged
        ("F1", "1"): 1,
        ("F2", "1"): 1,
        ("G1", "1"): 1,
        ("G1", "2"): 1,
    }
)


def test_events_land_in_bronze_once_whatever_the_file_format(
    spark: SparkSession, tmp_path: Path
) -> None:
    landing, lake_dir = tmp_path / "landing", tmp_path / "lake"
    _land(landing)

    stats = ingest_events_bronze(_lake(spark, landing, lake_dir), quiet)
    assert stats is not None
    assert (stats.files, stats.rows_in) == (3, 7)
    lake = _lake(spark, landing, lake_dir)
    assert _bronze_keys(lake) == EXPECTED
    bronze = {row["order_id"]: row for row in lake.read("bronze", "sales_events").collect()}
    assert bronze["L1"]["_is_malformed"] is False
    assert bronze[None]["_is_malformed"] is True
    assert bronze[None]["_raw_line"] == "{not json"
    assert bronze["F2"]["unit_price"] == "12.5"
    assert bronze["F2"]["_source_file"].endswith("sales-events-1-2025-03-01-10-00-00-abc")
    extras = [row["_extra"] for row in lake.read("bronze", "sales_events").collect()]
    assert extras.count({"promo": "x"}) == 1

    # A second run over the same landing zone adds nothing.
    again = ingest_events_bronze(_lake(spark, landing, lake_dir), quiet)
    assert again is not None
    assert (again.files, again.rows_in) == (0, 0)
    assert _bronze_keys(lake) == EXPECTED

    # A newly landed file is all the next run takes.
    new_day = landing / "sales_events" / "ingest_date=2025-03-03"
    new_day.mkdir()
    (new_day / "77aa.json").write_text(_ndjson([_event("N1", 1)]), encoding="utf-8")
    third = ingest_events_bronze(_lake(spark, landing, lake_dir), quiet)
    assert third is not None
    assert (third.files, third.rows_in) == (1, 1)
    assert _bronze_keys(lake) == EXPECTED + Counter({("N1", "1"): 1})


def test_a_crash_after_the_delta_commit_does_not_duplicate_events(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The crash window of exactly-once: the Delta sink committed a micro-batch but the
    process died before the checkpoint recorded it (``commits/<batch>`` missing). The
    restarted query replays that batch; the Delta sink must skip it, not append it again.
    """
    landing, lake_dir = tmp_path / "landing", tmp_path / "lake"
    _land(landing)
    first = ingest_events_bronze(_lake(spark, landing, lake_dir), quiet, max_files_per_trigger=1)
    assert first is not None
    assert first.rows_in == 7
    lake = _lake(spark, landing, lake_dir)
    commits = Path(lake.checkpoint("bronze", "sales_events")) / "commits"
    batches = sorted(int(path.name) for path in commits.iterdir() if path.name.isdigit())
    assert batches == [0, 1, 2]  # one file per micro-batch
    (commits / "2").unlink()
    for crc in commits.glob(".2.crc"):
        crc.unlink()
    version = lake.version("bronze", "sales_events")

    replay = ingest_events_bronze(_lake(spark, landing, lake_dir), quiet)
    assert replay is not None
    assert replay.rows_in == 0
    assert lake.version("bronze", "sales_events") == version
    assert _bronze_keys(lake) == EXPECTED


def test_no_event_folder_means_no_events_stage(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "landing").mkdir()
    lake = _lake(spark, tmp_path / "landing", tmp_path / "lake")
    assert ingest_events_bronze(lake, quiet) is None
    assert not lake.exists("bronze", "sales_events")
