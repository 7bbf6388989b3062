"""The reference engine: silver sales, gold fact_sales and daily_sales with DuckDB SQL.

Independent of the package's transforms: landing CSVs are read with Python's csv module
(DuckDB's own reader lets some lines with a wrong field count through, and those lines
must be quarantined), then plain SQL applies the contract's rules as README and
``schemas/`` describe them — strict typing, required values, ranges, allowed values,
patterns, row rules — keeps the latest version per key (the later file in a batch, the
later batch across batches: a MERGE), and computes the README's gold formulas with
exact DECIMAL arithmetic. Only the contract's metadata is shared with the pipeline.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from sales_lakehouse.contracts import Column, Contract, load_contract

CHUNK_ROWS = 200_000
INTEGER = r"^[+-]?[0-9]+$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
SQL_TYPES = {"int": "INTEGER", "long": "BIGINT", "date": "DATE", "timestamp": "TIMESTAMPTZ"}


def read_landing(files: Iterable[Path], columns: list[str]) -> pa.Table:
    """Well-formed lines of the files as text columns plus ``file_name`` (in Arrow chunks).

    A line whose field count differs from its file's header is malformed: it can only be
    quarantined, so it is left out here. Columns are matched by header name.
    """
    names = [*columns, "file_name"]
    schema = pa.schema([(name, pa.string()) for name in names])
    batches: list[pa.RecordBatch] = []
    values: list[list[str | None]] = [[] for _ in names]
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = [name.strip().lstrip("\ufeff").lower() for name in next(reader, [])]
            at = [header.index(name) if name in header else None for name in columns]
            width = len(header)
            for line in reader:
                if len(line) != width:
                    continue
                for target, position in zip(values, at, strict=False):
                    target.append(None if position is None else line[position])
                values[-1].append(path.name)
                if len(values[-1]) >= CHUNK_ROWS:
                    batches.append(pa.record_batch(values, schema=schema))
                    values = [[] for _ in names]
    batches.append(pa.record_batch(values, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_type(type_name: str) -> str:
    if type_name.startswith("decimal"):
        return type_name.upper()
    return SQL_TYPES.get(type_name, "VARCHAR")


def _pattern(column: Column) -> str | None:
    """The text shape a landed value must have before it is cast (None: any string)."""
    if column.type.startswith("decimal"):
        precision, scale = column.decimal_precision or (18, 2)
        fraction = rf"(\.[0-9]{{1,{scale}}})?" if scale else ""
        return rf"^[+-]?[0-9]{{1,{precision - scale}}}{fraction}$"
    return {"int": INTEGER, "long": INTEGER, "date": DATE, "timestamp": TIMESTAMP}.get(column.type)


def typed(column: Column, raw: str) -> str:
    """SQL of a column's typed value: null unless the text has the type's shape and casts."""
    shape = _pattern(column)
    if shape is None:
        return raw
    return (
        f"CASE WHEN regexp_matches({raw}, {_literal(shape)}) "
        f"THEN TRY_CAST({raw} AS {sql_type(column.type)}) END"
    )


def _value(column: Column, defaults: dict[str, str]) -> str:
    """Typed value, or the column's default when nothing was landed."""
    raw = f'"__raw_{column.name}"'
    value = typed(column, raw)
    default = defaults.get(column.name, column.default)
    if default is None:
        return value
    return f"CASE WHEN {raw} IS NULL THEN {typed(column, _literal(default))} ELSE {value} END"


def column_failures(column: Column) -> list[str]:
    """SQL conditions under which a row breaks one of the column's rules."""
    name, raw = f'"{column.name}"', f'"__raw_{column.name}"'
    fails = [f"({raw} IS NOT NULL AND {name} IS NULL)"]
    if column.required:
        fails.append(f"{raw} IS NULL")
    if column.min is not None:
        fails.append(f"{name} < {column.min}")
    if column.max is not None:
        fails.append(f"{name} > {column.max}")
    if column.allowed is not None:
        fails.append(f"{name} NOT IN ({', '.join(_literal(v) for v in column.allowed)})")
    if column.pattern is not None:
        fails.append(f"NOT regexp_matches({name}, {_literal(column.pattern)})")
    return [f"COALESCE({fail}, FALSE)" for fail in fails]


def accepted_sql(contract: Contract, source: str, defaults: dict[str, str]) -> str:
    """The rows of ``source`` (text columns + file_name) no quarantine rule rejects, typed,
    latest file first per business key, one row per key."""
    cleaned = ", ".join(f'NULLIF(trim("{n}"), \'\') AS "__raw_{n}"' for n in contract.column_names)
    values = ", ".join(f'{_value(c, defaults)} AS "{c.name}"' for c in contract.columns)
    fails = [fail for column in contract.columns for fail in column_failures(column)]
    rules = [
        f"COALESCE(NOT ({rule.expr}), FALSE)" for rule in contract.rules if rule.action != "warn"
    ]
    keys = ", ".join(f'"{k}"' for k in contract.business_key)
    return f"""
        WITH cleaned AS (SELECT {cleaned}, file_name FROM {source}),
        typed AS (SELECT *, {values} FROM cleaned)
        SELECT * EXCLUDE ({", ".join(f'"__raw_{n}"' for n in contract.column_names)})
        FROM typed
        WHERE NOT ({" OR ".join(fails + rules)})
        QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY file_name DESC) = 1
    """


SILVER_SALES = """
SELECT order_id, line_number, order_ts, store_id, customer_id, product_id, quantity,
       unit_price, discount_amount, promotion_id, channel, currency,
       CAST(order_ts AS DATE) AS sale_date,
       CAST(CAST(quantity AS DECIMAL(10, 0)) * unit_price AS DECIMAL(18, 2)) AS gross_amount,
       CAST(CAST(quantity AS DECIMAL(10, 0)) * unit_price - discount_amount
            AS DECIMAL(18, 2)) AS net_amount
FROM batch_latest
"""

PRODUCT_VERSIONS = """
CREATE OR REPLACE TABLE product_versions AS
SELECT product_id, category, unit_cost, updated_at AS valid_from,
       COALESCE(lead(updated_at) OVER w, TIMESTAMPTZ '9999-12-31 00:00:00+00') AS valid_to,
       row_number() OVER w AS version_number
FROM products_latest
WINDOW w AS (PARTITION BY product_id ORDER BY updated_at)
"""

FACT = """
SELECT s.order_id, s.line_number, s.sale_date, s.store_id, s.product_id, s.currency,
       s.quantity, s.unit_price, s.gross_amount, s.discount_amount, s.net_amount,
       p.product_id IS NOT NULL AS product_known, p.unit_cost,
       CAST(CAST(s.quantity AS DECIMAL(10, 0)) * p.unit_cost AS DECIMAL(18, 2)) AS cost_amount,
       CAST(s.net_amount - CAST(CAST(s.quantity AS DECIMAL(10, 0)) * p.unit_cost
            AS DECIMAL(18, 2)) AS DECIMAL(18, 2)) AS margin_amount
FROM silver_sales AS s
LEFT JOIN product_versions AS p
  ON s.product_id = p.product_id
 AND (s.order_ts >= p.valid_from OR p.version_number = 1)
 AND s.order_ts < p.valid_to
{where}
"""

DAILY = """
SELECT sale_date, store_id, product_id, currency,
       CAST(sum(quantity) AS BIGINT) AS units,
       CAST(sum(gross_amount) AS DECIMAL(18, 2)) AS gross_amount,
       CAST(sum(discount_amount) AS DECIMAL(18, 2)) AS discount_amount,
       CAST(sum(net_amount) AS DECIMAL(18, 2)) AS net_amount,
       CAST(sum(cost_amount) AS DECIMAL(18, 2)) AS cost_amount,
       CAST(sum(margin_amount) AS DECIMAL(18, 2)) AS margin_amount,
       count(DISTINCT order_id) AS order_count,
       count(*) AS line_count
FROM fact_sales
"""


@dataclass
class ReferenceTimes:
    """Seconds of one reference phase: reading CSVs, silver, gold (fact + daily)."""

    phase: str
    rows_in: int = 0
    load: float = 0.0
    silver: float = 0.0
    gold: float = 0.0
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.load + self.silver + self.gold


class Reference:
    """Silver sales and gold fact/daily sales of a landing set, batch by batch."""

    def __init__(self, default_currency: str = "USD", threads: int | None = None) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        self.defaults = {"currency": default_currency}
        self.sales = load_contract("sales")
        self.products = load_contract("products")

    def close(self) -> None:
        self.con.close()

    def initial(self, landing: Path) -> ReferenceTimes:
        """Build silver sales, product versions and the gold marts from every landed file."""
        times = ReferenceTimes("initial")
        started = time.perf_counter()
        sales = read_landing(sorted((landing / "sales").glob("*.csv")), self.sales.column_names)
        products = read_landing(
            sorted((landing / "products").glob("*.csv")), self.products.column_names
        )
        times.rows_in, times.load = sales.num_rows, time.perf_counter() - started
        started = time.perf_counter()
        self.con.register("products_landed", products)
        self.con.execute(
            "CREATE OR REPLACE TABLE products_latest AS "
            + accepted_sql(self.products, "products_landed", {})
        )
        self.con.execute(PRODUCT_VERSIONS)
        self.con.register("sales_landed", sales)
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE batch_latest AS "
            + accepted_sql(self.sales, "sales_landed", self.defaults)
        )
        self.con.execute(f"CREATE OR REPLACE TABLE silver_sales AS {SILVER_SALES}")
        self.con.unregister("sales_landed")
        times.silver = time.perf_counter() - started
        started = time.perf_counter()
        self.con.execute(f"CREATE OR REPLACE TABLE fact_sales AS {FACT.format(where='')}")
        self.con.execute(f"CREATE OR REPLACE TABLE daily_sales AS {DAILY} GROUP BY ALL")
        times.gold = time.perf_counter() - started
        return times

    def increment(self, phase: str, files: list[Path]) -> ReferenceTimes:
        """Upsert a later batch of sales files (MERGE) and rebuild the gold dates it touched."""
        times = ReferenceTimes(phase)
        started = time.perf_counter()
        sales = read_landing(files, self.sales.column_names)
        times.rows_in, times.load = sales.num_rows, time.perf_counter() - started
        started = time.perf_counter()
        self.con.register("sales_landed", sales)
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE batch_latest AS "
            + accepted_sql(self.sales, "sales_landed", self.defaults)
        )
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE batch_silver AS {SILVER_SALES}")
        # Dates whose gold rows change: the batch's dates and the old dates of replaced keys.
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE touched AS "
            "SELECT sale_date FROM batch_silver UNION "
            "SELECT t.sale_date FROM silver_sales AS t "
            "JOIN batch_silver AS s USING (order_id, line_number)"
        )
        keys = ("order_id", "line_number")
        columns = [name for name in self._silver_columns() if name not in keys]
        self.con.execute(
            "MERGE INTO silver_sales AS t USING batch_silver AS s "
            "ON t.order_id = s.order_id AND t.line_number = s.line_number "
            "WHEN MATCHED THEN UPDATE SET "
            + ", ".join(f"{name} = s.{name}" for name in columns)
            + " WHEN NOT MATCHED THEN INSERT VALUES ("
            + ", ".join(f"s.{name}" for name in self._silver_columns())
            + ")"
        )
        self.con.unregister("sales_landed")
        times.silver = time.perf_counter() - started
        started = time.perf_counter()
        in_touched = "sale_date IN (SELECT sale_date FROM touched)"
        self.con.execute(f"DELETE FROM fact_sales WHERE {in_touched}")
        self.con.execute("INSERT INTO fact_sales " + FACT.format(where=f"WHERE s.{in_touched}"))
        self.con.execute(f"DELETE FROM daily_sales WHERE {in_touched}")
        self.con.execute(f"INSERT INTO daily_sales {DAILY} WHERE {in_touched} GROUP BY ALL")
        times.gold = time.perf_counter() - started
        touched = self.con.execute("SELECT count(*) FROM touched").fetchall()
        times.extra["touched_dates"] = int(touched[0][0]) if touched else 0
        return times

    def _silver_columns(self) -> list[str]:
        rows = self.con.execute("DESCRIBE silver_sales").fetchall()
        return [str(row[0]) for row in rows]

    def count(self, table: str) -> int:
        row = self.con.execute(f"SELECT count(*) FROM {table}").fetchall()
        return int(row[0][0]) if row else 0
