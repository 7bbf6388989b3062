"""An independent oracle for the pipeline: expected sales figures computed with DuckDB.

Everything here is derived straight from the landing CSV files and the generator's report
(``_generation_report.json``), never with the package's transforms: DuckDB reads each file
as text, the report says which keys are defects, and the SQL below types the values,
deduplicates by file name order and joins each sale to the product version valid at its
order time (an ASOF join, falling back to the first version for earlier sales).
Money stays DECIMAL end to end, so DuckDB hands Python exact ``Decimal`` values.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from sales_lakehouse.contracts import load_contract
from sales_lakehouse_tools.generate import GenerationReport

REPORT_NAME = "_generation_report.json"
DEFAULT_CURRENCY = "USD"
# Sales defect kinds that do not end in quarantine: kept lines (their product or promotion
# may arrive later) and copies, resolved as duplicates. Every other kind is quarantined.
NOT_QUARANTINED = frozenset(
    {"unknown_product", "unknown_promotion", "exact_duplicate", "corrected_resend"}
)
MALFORMED_KINDS = frozenset({"malformed_extra_field", "malformed_missing_field"})
DAILY_GRAIN = ("sale_date", "store_id", "product_id", "currency")
DAILY_MEASURES = (
    "units",
    "gross_amount",
    "discount_amount",
    "net_amount",
    "cost_amount",
    "margin_amount",
    "order_count",
    "line_count",
)

SalesKey = tuple[str, int]


def load_report(landing: Path) -> GenerationReport:
    """The report the generator wrote beside the landing files."""
    return GenerationReport.model_validate_json((landing / REPORT_NAME).read_text("utf-8"))


def quarantine_kinds(report: GenerationReport) -> dict[str, list[SalesKey]]:
    """Sales keys of every defect kind the pipeline must quarantine, per kind."""
    return {
        kind: [(str(key[0]), int(key[1])) for key in entry.keys]
        for kind, entry in report.defects["sales"].items()
        if kind not in NOT_QUARANTINED
    }


def sales_keys(report: GenerationReport, kind: str) -> list[SalesKey]:
    return [(str(key[0]), int(key[1])) for key in report.defects["sales"][kind].keys]


def product_defect_keys(report: GenerationReport) -> list[tuple[str, str]]:
    """(product_id, updated_at as written) of every defective product version."""
    return [
        (str(key[0]), str(key[1]))
        for entry in report.defects["products"].values()
        for key in entry.keys
    ]


@dataclass(frozen=True)
class LandedLines:
    """Sales lines as Python's csv module sees them, independently of Spark and DuckDB."""

    rows: int
    malformed: list[tuple[str, ...]] = field(default_factory=list)


def count_landed_lines(folder: Path) -> LandedLines:
    """Data rows of every CSV in ``folder``; rows whose field count differs from the header
    are the malformed ones (returned as their fields)."""
    rows, malformed = 0, []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            for row in reader:
                rows += 1
                if len(row) != len(header):
                    malformed.append(tuple(row))
    return LandedLines(rows, malformed)


def _load_landed(
    con: duckdb.DuckDBPyConnection, table: str, folder: Path, columns: Sequence[str]
) -> None:
    """``table``: every well-formed line of the folder's CSV files (read with Python's csv
    module), contract columns as trimmed text (empty means null), plus the file name.

    Lines with a wrong field count are left out here (the report lists them and tests count
    them from the raw files); DuckDB's own error skipping is not relied on, since it accepts
    some lines with a trailing extra field.
    """
    rows: list[tuple[str | None, ...]] = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            positions = [header.index(name) if name in header else None for name in columns]
            for line in reader:
                if len(line) != len(header):
                    continue
                values = [None if at is None else line[at].strip() or None for at in positions]
                rows.append((*values, path.name))
    names = ", ".join(f'"{name}" VARCHAR' for name in [*columns, "file_name"])
    con.execute(f"CREATE TABLE {table} ({names})")
    if rows:
        marks = ", ".join("?" for _ in range(len(columns) + 1))
        con.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)


_SALES_VALID = """
CREATE TABLE sales_valid AS
SELECT * EXCLUDE (version_rank) FROM (
    SELECT
        order_id,
        CAST(line_number AS INTEGER) AS line_number,
        CAST(order_ts AS TIMESTAMPTZ) AS order_ts,
        store_id,
        customer_id,
        product_id,
        CAST(quantity AS INTEGER) AS quantity,
        CAST(unit_price AS DECIMAL(12, 2)) AS unit_price,
        COALESCE(CAST(discount_amount AS DECIMAL(12, 2)), 0) AS discount_amount,
        promotion_id,
        channel,
        COALESCE(currency, $currency) AS currency,
        file_name,
        row_number() OVER (
            PARTITION BY order_id, CAST(line_number AS INTEGER) ORDER BY file_name DESC
        ) AS version_rank
    FROM sales_landed AS s
    WHERE NOT EXISTS (
        SELECT 1 FROM excluded_sales AS e
        WHERE e.order_id = s.order_id AND e.line_number = TRY_CAST(s.line_number AS INTEGER)
    )
)
WHERE version_rank = 1
"""

_PRODUCT_VERSIONS = """
CREATE TABLE product_versions AS
SELECT * EXCLUDE (version_rank) FROM (
    SELECT
        product_id,
        CAST(updated_at AS TIMESTAMPTZ) AS updated_at,
        category,
        CAST(unit_cost AS DECIMAL(12, 2)) AS unit_cost,
        row_number() OVER (
            PARTITION BY product_id, CAST(updated_at AS TIMESTAMPTZ) ORDER BY file_name DESC
        ) AS version_rank
    FROM products_landed AS p
    WHERE NOT EXISTS (
        SELECT 1 FROM excluded_products AS e
        WHERE e.product_id = p.product_id AND e.updated_at = p.updated_at
    )
)
WHERE version_rank = 1
"""

_FACT = """
CREATE TABLE fact AS
WITH first_version AS (
    SELECT
        product_id,
        arg_min(unit_cost, updated_at) AS unit_cost,
        arg_min(category, updated_at) AS category
    FROM product_versions
    GROUP BY product_id
),
as_of AS (
    SELECT
        s.*,
        v.product_id IS NOT NULL AS matched,
        v.unit_cost AS cost_as_of,
        v.category AS category_as_of
    FROM sales_valid AS s
    ASOF LEFT JOIN product_versions AS v
        ON s.product_id = v.product_id AND s.order_ts >= v.updated_at
),
costed AS (
    SELECT
        a.*,
        f.product_id IS NOT NULL AS product_known,
        CASE WHEN a.matched THEN a.category_as_of ELSE COALESCE(f.category, 'Unknown') END
            AS category,
        CASE WHEN a.matched THEN a.cost_as_of ELSE f.unit_cost END AS unit_cost_at_sale
    FROM as_of AS a
    LEFT JOIN first_version AS f ON a.product_id = f.product_id
)
SELECT
    order_id,
    line_number,
    CAST(order_ts AS DATE) AS sale_date,
    store_id,
    product_id,
    currency,
    quantity,
    unit_price,
    discount_amount,
    CAST(quantity * unit_price AS DECIMAL(18, 2)) AS gross_amount,
    CAST(quantity * unit_price - discount_amount AS DECIMAL(18, 2)) AS net_amount,
    product_known,
    category,
    unit_cost_at_sale AS unit_cost,
    CAST(quantity * unit_cost_at_sale AS DECIMAL(18, 2)) AS cost_amount,
    CAST(quantity * unit_price - discount_amount - quantity * unit_cost_at_sale
        AS DECIMAL(18, 2)) AS margin_amount,
    file_name
FROM costed
"""

_DAILY = """
CREATE TABLE daily AS
SELECT
    sale_date,
    store_id,
    product_id,
    currency,
    CAST(sum(quantity) AS BIGINT) AS units,
    CAST(sum(gross_amount) AS DECIMAL(18, 2)) AS gross_amount,
    CAST(sum(discount_amount) AS DECIMAL(18, 2)) AS discount_amount,
    CAST(sum(net_amount) AS DECIMAL(18, 2)) AS net_amount,
    CAST(sum(cost_amount) AS DECIMAL(18, 2)) AS cost_amount,
    CAST(sum(margin_amount) AS DECIMAL(18, 2)) AS margin_amount,
    count(DISTINCT order_id) AS order_count,
    count(*) AS line_count
FROM fact
GROUP BY sale_date, store_id, product_id, currency
"""


class Oracle:
    """Expected silver sales, fact lines and daily sales of a landing folder.

    ``excluded_sales`` are keys whose every line must be quarantined (their rows are left
    out), ``excluded_products`` the defective product versions.
    """

    def __init__(
        self,
        landing: Path,
        *,
        excluded_sales: Iterable[SalesKey],
        excluded_products: Iterable[tuple[str, str]],
    ) -> None:
        self.landing = landing
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        sales_columns = load_contract("sales").column_names
        product_columns = load_contract("products").column_names
        _load_landed(self.con, "sales_landed", landing / "sales", sales_columns)
        _load_landed(self.con, "products_landed", landing / "products", product_columns)
        self.con.execute("CREATE TABLE excluded_sales (order_id VARCHAR, line_number INTEGER)")
        self.con.executemany("INSERT INTO excluded_sales VALUES (?, ?)", list(excluded_sales))
        self.con.execute("CREATE TABLE excluded_products (product_id VARCHAR, updated_at VARCHAR)")
        self.con.executemany("INSERT INTO excluded_products VALUES (?, ?)", list(excluded_products))
        self.con.execute(_SALES_VALID, {"currency": DEFAULT_CURRENCY})
        self.con.execute(_PRODUCT_VERSIONS)
        self.con.execute(_FACT)
        self.con.execute(_DAILY)

    @classmethod
    def for_generated(cls, landing: Path, report: GenerationReport) -> Oracle:
        """The oracle of a generated landing set: quarantine kinds and bad versions left out."""
        excluded = [key for keys in quarantine_kinds(report).values() for key in keys]
        return cls(landing, excluded_sales=excluded, excluded_products=product_defect_keys(report))

    def close(self) -> None:
        self.con.close()

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        row = self.con.execute(sql, params or []).fetchone()
        assert row is not None
        return row[0]

    @property
    def landed_rows(self) -> int:
        """Rows DuckDB read (lines with a wrong field count excluded)."""
        return int(self.scalar("SELECT count(*) FROM sales_landed"))

    @property
    def silver_count(self) -> int:
        return int(self.scalar("SELECT count(*) FROM sales_valid"))

    @property
    def total_net(self) -> Decimal:
        return Decimal(self.scalar("SELECT CAST(sum(net_amount) AS DECIMAL(18, 2)) FROM fact"))

    def daily(self, dates: Iterable[date] | None = None) -> list[tuple[Any, ...]]:
        """daily_sales rows: the grain columns then the measures, optionally for some dates."""
        columns = ", ".join((*DAILY_GRAIN, *DAILY_MEASURES))
        if dates is None:
            return self.rows(f"SELECT {columns} FROM daily")
        wanted = sorted(set(dates))
        marks = ", ".join("?" for _ in wanted)
        return self.rows(f"SELECT {columns} FROM daily WHERE sale_date IN ({marks})", wanted)

    def fact(self, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        return self.rows(f"SELECT {', '.join(columns)} FROM fact")
