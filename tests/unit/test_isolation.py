"""Which landed files a broken quarantine share holds back (pure: no Spark session)."""

from __future__ import annotations

import pytest

from sales_lakehouse.contracts import DatasetCheck
from sales_lakehouse.quality.isolation import FileCounts, files_to_hold

SHARE = DatasetCheck(
    name="share",
    type="quarantine_fraction",
    description="at most 5 % of a batch of 100 rows or more",
    action="fail",
    max_fraction=0.05,
    min_batch_rows=100,
)


def held(*files: tuple[str, int, int]) -> list[str]:
    return [f.source_file for f in files_to_hold(SHARE, [FileCounts(*f) for f in files])]


def test_the_bad_file_among_good_ones_is_held() -> None:
    # 55 of 1000 = 5.5 % breaks the batch; without bad.csv: 15 of 800.
    assert held(("a.csv", 300, 0), ("bad.csv", 200, 40), ("c.csv", 500, 15)) == ["bad.csv"]


def test_a_passing_batch_holds_nothing() -> None:
    # 40 of 1000 = 4 %: the batch passes, though one file alone is at 20 %.
    assert held(("a.csv", 800, 0), ("bad.csv", 200, 40)) == []


def test_a_batch_of_one_file_is_not_isolated() -> None:
    assert held(("bad.csv", 500, 100)) == []


def test_when_every_file_is_over_the_limit_nothing_is_held() -> None:
    assert held(("a.csv", 200, 20), ("b.csv", 200, 30)) == []


def test_the_fewest_files_largest_excess_first() -> None:
    # Totals 322 of 6010 (5.4 %). small.csv is over the limit (20 %) but its excess is
    # tiny; holding big.csv alone (excess 50) brings the rest to 222 of 5010 (4.4 %).
    files = (("big.csv", 1000, 100), ("small.csv", 10, 2), ("ok.csv", 5000, 220))
    assert held(*files) == ["big.csv"]


def test_several_files_are_held_when_one_is_not_enough() -> None:
    files = (("a.csv", 1000, 200), ("b.csv", 1000, 150), ("ok.csv", 1000, 0))
    # Without a: 150 of 2000 = 7.5 %, still over; without a and b: 0 of 1000.
    assert held(*files) == ["a.csv", "b.csv"]


def test_a_rest_under_the_minimum_batch_size_passes() -> None:
    # Without bad.csv, 60 rows are left: too few to judge, so one file is enough.
    assert held(("bad.csv", 200, 60), ("small.csv", 60, 4)) == ["bad.csv"]


def test_only_the_quarantine_share_is_judged_file_by_file() -> None:
    unique = DatasetCheck(name="u", type="unique", description="d", action="fail")
    with pytest.raises(ValueError, match="not judged file by file"):
        files_to_hold(unique, [FileCounts("a.csv", 10, 1), FileCounts("b.csv", 10, 0)])
