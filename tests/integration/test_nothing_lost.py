"""Nothing is lost: every injected bad row lands in quarantine with the right rule, every
other row in silver, in one pipeline run; and a broken ``fail`` rule commits nothing.

The landing set is written here by hand (clean lines plus a known number of bad lines
of each kind), and its size is counted with Python's csv module, not with the parser
under test.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.contracts import load_contract, schemas_dir
from sales_lakehouse.lake import Lake
from sales_lakehouse.pipeline import RunSummary, StageFailedError, run
from tests.integration.helpers import TABLES, copy_lake, lake_of, quiet, stats, write_landing_csv

pytestmark = pytest.mark.integration

CLEAN = 400  # the 16 quarantined rows stay under the contract's 5 % quarantine share
PER_KIND = 2
SALES = load_contract("sales").column_names

# kind -> (changes applied to a clean line, the rule its rows must be quarantined for);
# None as the rule: the row is kept in silver.
KINDS: dict[str, tuple[dict[str, str], str | None]] = {
    "unparsable_quantity": ({"quantity": "2.5"}, "quantity_type"),
    "unparsable_price": ({"unit_price": "1e3"}, "unit_price_type"),
    "unparsable_date": ({"order_ts": "2025-02-30T10:00:00Z"}, "order_ts_type"),
    "missing_required": ({"store_id": ""}, "store_id_required"),
    "negative_quantity": ({"quantity": "-1"}, "quantity_min"),
    "discount_above_gross": (
        {"quantity": "1", "unit_price": "10.00", "discount_amount": "50.00"},
        "discount_within_gross",
    ),
    "unknown_currency": ({"currency": "XYZ"}, "currency_allowed"),
    "unknown_product": ({"product_id": "P999"}, None),
}
MALFORMED = ("too_many_fields", "too_few_fields")


def clean_line(number: int) -> dict[str, str]:
    """A valid sale line; values vary so products, channels and currencies all occur."""
    return {
        "order_id": f"O{number:04d}",
        "line_number": "1",
        "order_ts": f"2025-01-{number % 28 + 1:02d}T10:00:00Z",
        "store_id": f"S{number % 3 + 1:03d}",
        "customer_id": "" if number % 4 == 0 else f"C{number % 50}",
        "product_id": f"P{number % 5 + 1}",
        "quantity": str(number % 5 + 1),
        "unit_price": "19.99",
        "discount_amount": "" if number % 3 else "1.00",
        "promotion_id": "PR1" if number % 10 == 0 else "",
        "channel": ("store", "web", "mobile")[number % 3],
        "currency": ("USD", "EUR", "")[number % 3],
    }


@dataclass(frozen=True)
class Landed:
    """The hand-written landing set, its lake after one run, and what was injected."""

    landing: Path
    lake_dir: Path
    summary: RunSummary
    lake: Lake
    injected: dict[str, list[str]]  # kind -> order ids
    duplicated: list[str]
    corrected: list[str]


def _write_dimensions(landing: Path) -> None:
    products = load_contract("products").column_names
    write_landing_csv(
        landing / "products" / "2025-01-01_products.csv",
        products,
        [
            {
                "product_id": f"P{n}",
                "sku": f"SKU{n}",
                "product_name": f"Product {n}",
                "category": "Laptops",
                "brand": "Acme",
                "unit_cost": "10.00",
                "list_price": "25.00",
                "updated_at": "2024-12-01T00:00:00Z",
            }
            for n in range(1, 6)
        ],
    )
    write_landing_csv(
        landing / "promotions" / "2025-01-01_promotions.csv",
        load_contract("promotions").column_names,
        [
            {
                "promotion_id": "PR1",
                "promotion_name": "January",
                "promotion_type": "percent_off",
                "discount_pct": "10",
                "product_id": "P1",
                "start_date": "2025-01-01",
                "end_date": "2025-01-31",
                "promo_cost": "100.00",
            }
        ],
    )


def _write_sales(landing: Path) -> tuple[dict[str, list[str]], list[str], list[str]]:
    """Clean lines with bad ones among them; exact duplicates; re-sends in a later file."""
    lines: list[list[str]] = []
    injected: dict[str, list[str]] = {}
    duplicated = [f"O{n:04d}" for n in range(1, PER_KIND + 1)]
    corrected = [f"O{n:04d}" for n in range(11, 11 + PER_KIND)]
    for number in range(1, CLEAN + 1):
        line = clean_line(number)
        lines.append([line[name] for name in SALES])
        if line["order_id"] in duplicated:
            lines.append([line[name] for name in SALES])
    for kind_number, (kind, (changes, _rule)) in enumerate(KINDS.items()):
        for i in range(PER_KIND):
            order_id = f"X{kind_number}_{kind}_{i}"
            injected.setdefault(kind, []).append(order_id)
            line = {**clean_line(i + 1), **changes, "order_id": order_id}
            lines.insert(37 * (kind_number + 1) + i, [line[name] for name in SALES])
    for kind in MALFORMED:
        for i in range(PER_KIND):
            order_id = f"M_{kind}_{i}"
            injected.setdefault(kind, []).append(order_id)
            values = [{**clean_line(i + 1), "order_id": order_id}[name] for name in SALES]
            values = [*values, "oops"] if kind == "too_many_fields" else values[:-1]
            lines.insert(50 + 90 * len(injected) + i, values)
    folder = landing / "sales"
    folder.mkdir(parents=True)
    with (folder / "2025-01-10_sales.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SALES)
        writer.writerows(lines)
    resent = [{**clean_line(int(order_id[1:])), "quantity": "9"} for order_id in corrected]
    write_landing_csv(folder / "2025-01-11_sales.csv", SALES, resent)
    return injected, duplicated, corrected


def raw_line_count(folder: Path) -> int:
    """Data rows of the folder's CSV files, counted with Python's csv module."""
    total = 0
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            total += sum(1 for _ in csv.reader(handle)) - 1
    return total


@pytest.fixture(scope="module")
def landed(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Landed:
    root = tmp_path_factory.mktemp("nothing_lost")
    landing, lake_dir = root / "landing", root / "lake"
    _write_dimensions(landing)
    injected, duplicated, corrected = _write_sales(landing)
    summary = run(spark, Settings(landing=str(landing), lake=str(lake_dir)), progress=quiet)
    lake = lake_of(spark, landing, lake_dir)
    return Landed(landing, lake_dir, summary, lake, injected, duplicated, corrected)


def _expected_rule(kind: str) -> str | None:
    return "malformed_line" if kind in MALFORMED else KINDS[kind][1]


def test_every_bad_row_is_quarantined_for_its_rule_and_nothing_is_lost(landed: Landed) -> None:
    silver = {row["order_id"] for row in landed.lake.read("silver", "sales").collect()}
    quarantine = {
        row["order_id"]: list(row["rules"])
        for row in landed.lake.read("quarantine", "sales").collect()
    }
    clean = {f"O{n:04d}" for n in range(1, CLEAN + 1)}
    clean_accepted = len(clean & silver)
    outcome, expected = [], []
    for kind, keys in landed.injected.items():
        rule = _expected_rule(kind)
        in_quarantine = [key for key in keys if key in quarantine]
        in_silver = [key for key in keys if key in silver]
        right = [k for k in keys if (quarantine.get(k) == [rule] if rule else k in silver)]
        lost = [k for k in keys if k not in quarantine and k not in silver]
        total = CLEAN + len(keys)
        accepted = clean_accepted + len(in_silver)
        outcome.append(
            f"{kind}: {len(keys)} bad of {total}: quarantined {len(in_quarantine)}, "
            f"accepted {accepted}, lost {len(lost)}, misclassified {len(keys) - len(right)}"
        )
        kept = rule is None
        expected.append(
            f"{kind}: {len(keys)} bad of {total}: "
            f"quarantined {0 if kept else len(keys)}, "
            f"accepted {total if kept else total - len(keys)}, lost 0, misclassified 0"
        )
    assert outcome == expected, "\n".join(f"{q!r} : {r!r}" for q, r in quarantine.items())
    assert clean <= silver
    assert not (clean | set(landed.injected["unknown_product"])) & quarantine.keys()


def test_copies_are_collapsed_and_the_resend_wins(landed: Landed) -> None:
    sales = landed.lake.read("silver", "sales")
    copies = landed.duplicated + landed.corrected
    rows = sales.filter(sales["order_id"].isin(copies)).collect()
    assert sorted(row["order_id"] for row in rows) == sorted(copies)  # once each
    quantities = {row["order_id"]: row["quantity"] for row in rows}
    assert all(quantities[key] == 9 for key in landed.corrected)
    assert all(quantities[key] != 9 for key in landed.duplicated)
    unknown = landed.lake.read("gold", "fact_sales").filter("product_id = 'P999'")
    assert {row["product_known"] for row in unknown.collect()} == {False}


def test_counts_balance_against_the_raw_line_count(landed: Landed) -> None:
    raw = raw_line_count(landed.landing / "sales")
    bad = sum(len(keys) for kind, keys in landed.injected.items() if _expected_rule(kind))
    kept = len(landed.injected["unknown_product"])
    copies = len(landed.duplicated) + len(landed.corrected)
    assert raw == CLEAN + bad + kept + copies
    silver = stats(landed.summary, "silver", "sales")
    assert landed.lake.read("bronze", "sales").count() == raw == silver.rows_in
    assert (silver.accepted, silver.quarantined, silver.duplicates) == (
        CLEAN + kept,
        bad,
        copies,
    )
    assert landed.lake.read("quarantine", "sales").count() == bad
    assert landed.lake.read("silver", "sales").count() == CLEAN + kept
    results = landed.lake.read("quality", "dq_results").filter(
        f"run_id = '{landed.summary.run_id}' AND dataset = 'sales' AND stage = 'silver'"
    )
    failed = {r["rule"]: r["rows_failed"] for r in results.collect() if r["rows_failed"]}
    assert failed["malformed_line"] == 2 * PER_KIND
    assert failed["quantity_min"] == PER_KIND
    assert failed["sales_product_known"] == PER_KIND


@pytest.fixture
def capped_contracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Contracts whose sales checks include a ``fail`` row cap every batch here breaks."""
    override = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), override)
    with (override / "sales.yaml").open("a", encoding="utf-8") as handle:
        handle.write(
            "  - name: sales_batch_cap\n"
            "    type: row_count\n"
            "    description: Test only - no batch may exceed 10 rows.\n"
            "    max_rows: 10\n"
            "    action: fail\n"
        )
    monkeypatch.setenv("SALES_LAKEHOUSE_SCHEMAS", str(override))
    load_contract.cache_clear()
    yield
    monkeypatch.delenv("SALES_LAKEHOUSE_SCHEMAS")
    load_contract.cache_clear()


def test_a_failing_fail_rule_commits_nothing(
    spark: SparkSession, landed: Landed, tmp_path: Path, capped_contracts: None
) -> None:
    lake_dir = copy_lake(landed.lake_dir, tmp_path / "lake")
    lake = lake_of(spark, landed.landing, lake_dir)
    tables = [*TABLES, ("meta", "watermarks")]
    before = {table: lake.version(*table) for table in tables}
    results_before = lake.version("quality", "dq_results")
    settings = Settings(landing=str(landed.landing), lake=str(lake_dir))
    with pytest.raises(StageFailedError, match=r"silver sales: stopped before committing.*cap"):
        run(spark, settings, stage="silver", datasets=("sales",), full_refresh=True, progress=quiet)
    assert {table: lake.version(*table) for table in tables} == before
    assert lake.version("quality", "dq_results") == results_before + 1
    audit = lake.read("quality", "dq_results").filter(f"run_id = '{settings.run_id}'")
    failed = [(r["dataset"], r["rule"], r["passed"]) for r in audit.collect() if not r["passed"]]
    assert ("sales", "sales_batch_cap", False) in failed
