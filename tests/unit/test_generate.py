"""Tests of the landing-set generator: determinism, contract headers and reported defects.

Every defect count in the generation report is checked against an independent re-read of
the CSV files with the csv module, classifying each row from the contract alone.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import pytest

from sales_lakehouse.contracts import load_contract
from sales_lakehouse_tools.generate import GenerationReport, generate_landing

LINES = 3000
MONEY = re.compile(r"^-?\d+\.\d{2}$")
SALES_MONEY = ("unit_price", "discount_amount")
PRODUCT_MONEY = ("unit_cost", "list_price")
PROMOTION_MONEY = ("discount_pct", "promo_cost")

Key = tuple[str, ...]


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GenerationReport]:
    root = tmp_path_factory.mktemp("landing")
    return root, generate_landing(root, lines=LINES)


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def read_records(root: Path, files: list[str]) -> list[dict[str, str]]:
    records = []
    for rel in files:
        header, rows = read_csv(root / rel)
        records += [dict(zip(header, row, strict=True)) for row in rows]
    return records


def parse_ts(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"-?\d+", text) else None


def parse_decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def half_up(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def report_keys(report: GenerationReport, dataset: str, kind: str) -> list[Key]:
    return sorted(tuple(str(part) for part in key) for key in report.defects[dataset][kind].keys)


@dataclass
class SalesScan:
    """Rows of the sales files classified independently of the generator."""

    found: dict[str, list[Key]] = field(default_factory=lambda: defaultdict(list))
    files_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    clean: list[dict[str, str]] = field(default_factory=list)
    resent: list[dict[str, str]] = field(default_factory=list)


def _sales_issues(record: dict[str, str], products: set[str], promotions: set[str]) -> list[str]:
    contract = load_contract("sales")
    issues = []
    if any(record[name] == "" for name in contract.required_columns):
        issues.append("missing_required")
    quantity, price = parse_int(record["quantity"]), parse_decimal(record["unit_price"])
    discount = parse_decimal(record["discount_amount"] or "0")
    if (record["quantity"] and quantity is None) or (record["unit_price"] and price is None):
        issues.append("unparsable_number")
    if record["order_ts"] and parse_ts(record["order_ts"]) is None:
        issues.append("bad_date")
    if quantity is not None and quantity < 1:
        issues.append("negative_quantity")
    elif (
        quantity is not None
        and price is not None
        and discount is not None
        and discount > quantity * price
    ):
        issues.append("discount_above_gross")
    if record["currency"] and record["currency"] not in (contract.column("currency").allowed or ()):
        issues.append("unknown_currency")
    if record["product_id"] and record["product_id"] not in products:
        issues.append("unknown_product")
    if record["promotion_id"] and record["promotion_id"] not in promotions:
        issues.append("unknown_promotion")
    return issues


def scan_sales(root: Path, report: GenerationReport) -> SalesScan:
    """Classify every physical sales row: malformed, one defect kind, copy, or clean."""
    columns = load_contract("sales").column_names
    products = {r["product_id"] for r in read_records(root, report.files["products"])}
    promotions = {r["promotion_id"] for r in read_records(root, report.files["promotions"])}
    scan = SalesScan()
    seen: dict[Key, tuple[str, ...]] = {}
    for rel in report.files["sales"]:  # sorted names are the export order
        header, rows = read_csv(root / rel)
        for row in rows:
            if len(row) != len(header):
                kind = (
                    "malformed_extra_field" if len(row) > len(header) else "malformed_missing_field"
                )
                # Only the first field (order_id) is reliable on a malformed line.
                line = row[header.index("line_number")] if len(row) > len(header) else "?"
                scan.found[kind].append((row[0], line))
                scan.files_of[kind].add(rel)
                continue
            record = dict(zip(header, row, strict=True))
            key = (record["order_id"], record["line_number"])
            issues = _sales_issues(record, products, promotions)
            assert len(issues) <= 1, (rel, row, issues)
            values = tuple(record[name] for name in columns)
            if issues:
                kind = issues[0]
            elif key in seen:
                kind = "exact_duplicate" if seen[key] == values else "corrected_resend"
                if kind == "corrected_resend":
                    scan.resent.append(record)
            else:
                seen[key] = values
                scan.clean.append(record)
                continue
            scan.found[kind].append(key)
            scan.files_of[kind].add(rel)
    return scan


@pytest.fixture(scope="module")
def sales_scan(landing: tuple[Path, GenerationReport]) -> SalesScan:
    return scan_sales(*landing)


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path: Path) -> None:
    first = generate_landing(tmp_path / "a", lines=1500, seed=11)
    generate_landing(tmp_path / "b", lines=1500, seed=11)
    generate_landing(tmp_path / "c", lines=1500, seed=12)
    names = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert names == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*"))
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for rel in first.files["sales"]:
        assert (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes(), rel


def test_headers_come_from_the_contracts(landing: tuple[Path, GenerationReport]) -> None:
    root, report = landing
    assert report.shuffled_header_files and report.extra_column_files
    for dataset in ("sales", "products", "promotions"):
        columns = load_contract(dataset).column_names
        for rel in report.files[dataset]:
            header, _ = read_csv(root / rel)
            extra = report.extra_column_files.get(rel, [])
            assert set(header) == set(columns) | set(extra), rel
            if extra:
                assert header[-len(extra) :] == extra, rel
            if rel in report.shuffled_header_files:
                assert header[: len(columns)] != columns and header[0] == "order_id"
            else:
                assert header[: len(columns)] == columns, rel
    extra_file = next(iter(report.extra_column_files))
    header, rows = read_csv(root / extra_file)
    width = len(header)
    assert all(row[-1] for row in rows if len(row) == width)


def test_files_and_rows_are_where_the_report_says(landing: tuple[Path, GenerationReport]) -> None:
    root, report = landing
    assert (root / "_generation_report.json").is_file()
    assert GenerationReport.model_validate_json((root / "_generation_report.json").read_text()) == (
        report
    )
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.csv"))
    assert on_disk == sorted(rel for files in report.files.values() for rel in files)
    for dataset, files in report.rows_per_file.items():
        for rel, count in files.items():
            assert len(read_csv(root / rel)[1]) == count, rel
        assert sum(files.values()) == report.rows[dataset]
    assert report.rows["sales"] == LINES
    assert report.summary_lines() and all(isinstance(line, str) for line in report.summary_lines())
    json.loads(report.model_dump_json())


def test_file_names_sort_in_export_order(landing: tuple[Path, GenerationReport]) -> None:
    root, report = landing
    sales = report.files["sales"]
    assert sales == sorted(sales)
    assert sales[-1] == "sales/2025-07-02_sales_resend.csv"
    assert sales[0] == "sales/2025-01-01_sales.csv"
    assert report.files["products"][0] == "products/2024-12-31_products.csv"
    assert report.files["promotions"][0] == "promotions/2024-12-31_promotions.csv"
    for rel in sales[:-1]:
        # Monthly files are cut on the UTC month of order_ts, whatever offset is written.
        month = rel.split("/")[1][:7]
        header, rows = read_csv(root / rel)
        stamps = [
            parse_ts(row[header.index("order_ts")]) for row in rows if len(row) == len(header)
        ]
        assert {ts.strftime("%Y-%m") for ts in stamps if ts is not None} == {month}


def test_sales_defects_match_an_independent_scan(
    landing: tuple[Path, GenerationReport], sales_scan: SalesScan
) -> None:
    _, report = landing
    reported = report.defects["sales"]
    assert set(reported) == {
        "malformed_extra_field", "malformed_missing_field", "missing_required",
        "negative_quantity", "unparsable_number", "bad_date", "discount_above_gross",
        "unknown_currency", "unknown_product", "unknown_promotion", "exact_duplicate",
        "corrected_resend",
    }  # fmt: skip
    for kind, entry in reported.items():
        assert entry.count >= 2, kind
        assert entry.count == len(sales_scan.found[kind]), kind
        assert set(entry.files) == sales_scan.files_of[kind], kind
        if kind == "malformed_missing_field":
            assert sorted(k[0] for k in report_keys(report, "sales", kind)) == sorted(
                k[0] for k in sales_scan.found[kind]
            )
        else:
            assert report_keys(report, "sales", kind) == sorted(sales_scan.found[kind]), kind
    assert len(sales_scan.clean) == report.clean_rows["sales"]
    kept = reported["unknown_product"].count + reported["unknown_promotion"].count
    assert report.expected_valid_keys["sales"] == report.clean_rows["sales"] + kept


def test_own_key_defects_use_keys_no_clean_row_uses(
    landing: tuple[Path, GenerationReport], sales_scan: SalesScan
) -> None:
    _, report = landing
    clean_keys = {(r["order_id"], r["line_number"]) for r in sales_scan.clean}
    own = [
        key
        for kind, entry in report.defects["sales"].items()
        if kind not in {"exact_duplicate", "corrected_resend"}
        for key in entry.keys
    ]
    as_text = [(str(order), str(line)) for order, line in own]
    assert len(set(as_text)) == len(as_text)
    assert not clean_keys & set(as_text)


def test_duplicates_and_resends_repeat_clean_keys(
    landing: tuple[Path, GenerationReport], sales_scan: SalesScan
) -> None:
    _, report = landing
    clean = {(r["order_id"], r["line_number"]): r for r in sales_scan.clean}
    resend_file = report.files["sales"][-1]
    assert report.defects["sales"]["corrected_resend"].files == [resend_file]
    assert resend_file in report.defects["sales"]["exact_duplicate"].files
    assert len(report.defects["sales"]["exact_duplicate"].files) >= 2  # in-file and re-sent
    for record in sales_scan.resent:
        original = clean[(record["order_id"], record["line_number"])]
        changed = {k for k in record if record[k] != original[k]}
        assert changed and changed <= {"quantity", "unit_price", "discount_amount"}
        assert int(record["quantity"]) >= 1 and Decimal(record["unit_price"]) > 0


def test_product_and_promotion_defects_match_an_independent_scan(
    landing: tuple[Path, GenerationReport],
) -> None:
    root, report = landing
    required = load_contract("products").required_columns
    found: dict[str, list[Key]] = defaultdict(list)
    clean = 0
    for record in read_records(root, report.files["products"]):
        key = (record["product_id"], record["updated_at"])
        if any(record[name] == "" for name in required):
            found["missing_required"].append(key)
        elif Decimal(record["unit_cost"]) < 0:
            found["negative_cost"].append(key)
        else:
            clean += 1
            assert Decimal(record["unit_cost"]) < Decimal(record["list_price"])
    for kind in ("missing_required", "negative_cost"):
        assert report_keys(report, "products", kind) == sorted(found[kind]), kind
    assert clean == report.clean_rows["products"]
    promotions = read_records(root, report.files["promotions"])
    broken = sorted((p["promotion_id"],) for p in promotions if p["end_date"] < p["start_date"])
    assert report_keys(report, "promotions", "end_before_start") == broken
    assert len(broken) >= 2
    assert len(promotions) - len(broken) == report.clean_rows["promotions"]


def test_money_has_two_decimals_and_text_is_quoted(
    landing: tuple[Path, GenerationReport], sales_scan: SalesScan
) -> None:
    root, report = landing
    for record in sales_scan.clean + sales_scan.resent:
        for name in SALES_MONEY:
            assert record[name] == "" or MONEY.match(record[name]), record
    for name, dataset in [(n, "products") for n in PRODUCT_MONEY] + [
        (n, "promotions") for n in PROMOTION_MONEY
    ]:
        for record in read_records(root, report.files[dataset]):
            assert record[name] == "" or MONEY.match(record[name]), (dataset, record)
    text = (root / report.files["products"][0]).read_text(encoding="utf-8")
    assert '""' in text  # a product name with an inch mark, quoted per RFC 4180
    names = [r["product_name"] for r in read_records(root, report.files["products"][:1])]
    assert any('"' in n and "," in n for n in names)
    assert "\r" not in text


def _versions(
    root: Path, report: GenerationReport
) -> dict[str, list[tuple[datetime, dict[str, str]]]]:
    versions: dict[str, list[tuple[datetime, dict[str, str]]]] = defaultdict(list)
    for record in read_records(root, report.files["products"]):
        if record["brand"] and record["unit_cost"] and not record["unit_cost"].startswith("-"):
            stamp = parse_ts(record["updated_at"])
            assert stamp is not None
            versions[record["product_id"]].append((stamp, record))
    for history in versions.values():
        history.sort(key=lambda item: item[0])
    return versions


def _check_line(
    record: dict[str, str],
    versions: dict[str, list[tuple[datetime, dict[str, str]]]],
    promotions: dict[str, dict[str, str]],
    *,
    list_price: bool,
) -> bool:
    """Assert a clean line is consistent with the catalogue and calendar; True if promoted."""
    ts = parse_ts(record["order_ts"])
    assert ts is not None and date(2025, 1, 1) <= ts.date() <= date(2025, 7, 1)
    valid = [v for stamp, v in versions[record["product_id"]] if stamp <= ts][-1]
    price, quantity = Decimal(record["unit_price"]), int(record["quantity"])
    if list_price:
        # The list price of the version valid at order_ts, give or take 2% till noise.
        tolerance = Decimal(valid["list_price"]) * Decimal("0.0201")
        assert abs(price - Decimal(valid["list_price"])) <= tolerance, record
    if not record["promotion_id"]:
        assert record["discount_amount"] in {"", "0.00"}
        return False
    promo = promotions[record["promotion_id"]]
    assert promo["start_date"] <= ts.date().isoformat() <= promo["end_date"]
    assert promo["channel"] in {"", record["channel"]}
    assert promo["product_id"] in {"", record["product_id"]}
    assert promo["category"] in {"", valid["category"]}
    expected = half_up(quantity * price * Decimal(promo["discount_pct"]) / 100)
    assert Decimal(record["discount_amount"]) == expected, record
    return True


def test_clean_lines_follow_catalogue_prices_and_promotions(
    landing: tuple[Path, GenerationReport], sales_scan: SalesScan
) -> None:
    root, report = landing
    versions = _versions(root, report)
    promotions = {
        p["promotion_id"]: p
        for p in read_records(root, report.files["promotions"])
        if p["end_date"] >= p["start_date"]
    }
    promoted = sum(_check_line(r, versions, promotions, list_price=True) for r in sales_scan.clean)
    for record in sales_scan.resent:
        _check_line(record, versions, promotions, list_price=False)
    assert promoted > 0


def _ts_style(text: str) -> str:
    if text.endswith("Z"):
        return "Z"
    return "offset" if re.search(r"[+-]\d{2}:\d{2}$", text) else "naive"


def test_sales_look_like_a_retailer(sales_scan: SalesScan) -> None:
    clean = sales_scan.clean
    anonymous = sum(not r["customer_id"] for r in clean) / len(clean)
    assert 0.2 < anonymous < 0.4
    assert {r["store_id"] for r in clean} >= {f"S{n:03d}" for n in range(1, 13)} | {"W001"}
    for record in clean:
        online = record["store_id"] == "W001"
        assert (record["channel"] in {"web", "mobile", "marketplace"}) == online
        assert 1 <= int(record["line_number"]) <= 5
    styles = Counter(_ts_style(r["order_ts"]) for r in clean)
    assert set(styles) == {"Z", "offset", "naive"}
    currencies = Counter(r["currency"] for r in clean)
    assert currencies[""] + currencies["USD"] > len(clean) / 2
    assert {"EUR", "GBP", "CAD"} <= set(currencies)


def test_promotion_calendar_shape(landing: tuple[Path, GenerationReport]) -> None:
    root, report = landing
    contract = load_contract("promotions")
    clean = [
        p
        for p in read_records(root, report.files["promotions"])
        if p["end_date"] >= p["start_date"]
    ]
    assert len(clean) >= 8
    scopes = Counter(
        "product" if p["product_id"] else "category" if p["category"] else "all" for p in clean
    )
    assert set(scopes) == {"product", "category", "all"}
    for promo in clean:
        assert promo["promotion_type"] in (contract.column("promotion_type").allowed or ())
        assert Decimal("5") <= Decimal(promo["discount_pct"]) <= Decimal("40")
        start, end = date.fromisoformat(promo["start_date"]), date.fromisoformat(promo["end_date"])
        assert 3 <= (end - start).days + 1 <= 21
        assert date(2025, 1, 1) <= start and end <= date(2025, 7, 1)
        assert promo["channel"] in {"", *(contract.column("channel").allowed or ())}


def test_product_change_extract(landing: tuple[Path, GenerationReport]) -> None:
    root, report = landing
    initial, *changes = report.files["products"]
    first = read_records(root, [initial])
    assert len(first) == max(60, LINES // 400)
    stamps = [parse_ts(r["updated_at"]) for r in first]
    assert all(ts is not None and ts < datetime(2025, 1, 1, tzinfo=UTC) for ts in stamps)
    keys = [
        (r["product_id"], r["updated_at"]) for r in read_records(root, report.files["products"])
    ]
    assert len(keys) == len(set(keys))
    for rel in changes:
        month = rel.split("/")[1][:7]
        records = read_records(root, [rel])
        assert records and all(r["updated_at"].startswith(month) for r in records)


def test_invalid_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="batch"):
        generate_landing(tmp_path, lines=500, batch="incremental")
    with pytest.raises(ValueError, match="lines"):
        generate_landing(tmp_path, lines=10)
    generate_landing(tmp_path, lines=500, start=date(2025, 3, 10), days=40)
    with pytest.raises(FileExistsError):
        generate_landing(tmp_path, lines=500, start=date(2025, 1, 1), days=40)


def test_medium_landing_set_keeps_its_shape(tmp_path: Path) -> None:
    lines = 200_000
    report = generate_landing(tmp_path, lines=lines, start=date(2024, 7, 1), days=366)
    assert report.rows["sales"] == lines
    scan = scan_sales(tmp_path, report)
    for kind, entry in report.defects["sales"].items():
        assert entry.count == len(scan.found[kind]) == 600, kind
    assert len(scan.clean) == report.clean_rows["sales"]
    by_weekday: Counter[int] = Counter()
    by_month: Counter[str] = Counter()
    for record in scan.clean:
        ts = parse_ts(record["order_ts"])
        assert ts is not None
        by_weekday[ts.weekday()] += 1
        by_month[ts.strftime("%m")] += 1
    assert min(by_weekday[5], by_weekday[6]) > max(by_weekday[d] for d in range(4))
    assert by_month["12"] > by_month["11"] > by_month["10"]
    assert by_month["08"] > by_month["07"]
    assert len(report.files["sales"]) == 14
    assert report.files["sales"][-1] == "sales/2025-07-02_sales_resend.csv"
