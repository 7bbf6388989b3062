"""The reference engine: silver sales, gold fact_sales and daily_sales of a landing set.

A whole landing folder first (``initial``), then later batches of sales files merged in
(``increment``: a MERGE on the business key, then the gold dates the batch touched are
rebuilt). Its tables live in one DuckDB connection: ``silver_sales``, ``fact_sales``,
``daily_sales`` (the columns of ``marts``), read by the bench's comparison and the tests.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

from bench.reference.landed import Landed, load_landed
from bench.reference.marts import (
    AMOUNT,
    DAILY_GRAIN,
    DAILY_MEASURES,
    PRODUCT_VERSIONS,
    SILVER_SALES,
    daily_sql,
    fact_sql,
)
from bench.reference.rules import accepted_sql
from sales_lakehouse.contracts import load_contract

SALES_KEY = ("order_id", "line_number")


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
        self.landed: dict[str, Landed] = {}

    def __enter__(self) -> Reference:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    def initial(self, landing: Path) -> ReferenceTimes:
        """Build silver sales, product versions and the gold marts from every landed file."""
        times = ReferenceTimes("initial")
        started = time.perf_counter()
        products = sorted((landing / "products").glob("*.csv"))
        self.landed["products"] = load_landed(
            self.con, "products_landed", products, self.products.column_names
        )
        times.load = time.perf_counter() - started
        self._load_sales(times, sorted((landing / "sales").glob("*.csv")))
        started = time.perf_counter()
        self.con.execute(
            "CREATE OR REPLACE TABLE products_latest AS "
            + accepted_sql(self.products, "products_landed", {})
        )
        self.con.execute(PRODUCT_VERSIONS)
        self._accept_sales()
        self.con.execute(f"CREATE OR REPLACE TABLE silver_sales AS {SILVER_SALES}")
        times.silver = time.perf_counter() - started
        started = time.perf_counter()
        self.con.execute(f"CREATE OR REPLACE TABLE fact_sales AS {fact_sql()}")
        self.con.execute(f"CREATE OR REPLACE TABLE daily_sales AS {daily_sql()}")
        times.gold = time.perf_counter() - started
        return times

    def increment(self, phase: str, files: list[Path]) -> ReferenceTimes:
        """Upsert a later batch of sales files (MERGE) and rebuild the gold dates it touched."""
        times = ReferenceTimes(phase)
        self._load_sales(times, files)
        started = time.perf_counter()
        self._accept_sales()
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE batch_silver AS {SILVER_SALES}")
        # Dates whose gold rows change: the batch's dates and the old dates of replaced keys.
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE touched AS "
            "SELECT sale_date FROM batch_silver UNION "
            "SELECT t.sale_date FROM silver_sales AS t "
            f"JOIN batch_silver AS s USING ({', '.join(SALES_KEY)})"
        )
        columns = self._silver_columns()
        self.con.execute(
            "MERGE INTO silver_sales AS t USING batch_silver AS s ON "
            + " AND ".join(f"t.{key} = s.{key}" for key in SALES_KEY)
            + " WHEN MATCHED THEN UPDATE SET "
            + ", ".join(f"{name} = s.{name}" for name in columns if name not in SALES_KEY)
            + " WHEN NOT MATCHED THEN INSERT VALUES ("
            + ", ".join(f"s.{name}" for name in columns)
            + ")"
        )
        times.silver = time.perf_counter() - started
        started = time.perf_counter()
        in_touched = "sale_date IN (SELECT sale_date FROM touched)"
        self.con.execute(f"DELETE FROM fact_sales WHERE {in_touched}")
        self.con.execute("INSERT INTO fact_sales " + fact_sql(f"s.{in_touched}"))
        self.con.execute(f"DELETE FROM daily_sales WHERE {in_touched}")
        self.con.execute("INSERT INTO daily_sales " + daily_sql(in_touched))
        times.gold = time.perf_counter() - started
        times.extra["touched_dates"] = self.count("touched")
        return times

    def _load_sales(self, times: ReferenceTimes, files: Iterable[Path]) -> None:
        started = time.perf_counter()
        landed = load_landed(self.con, "sales_landed", files, self.sales.column_names)
        self.landed["sales"] = landed
        times.rows_in, times.extra["malformed_lines"] = landed.rows, landed.malformed
        times.load += time.perf_counter() - started

    def _accept_sales(self) -> None:
        """batch_latest: the landed sales lines silver accepts, the latest per key."""
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE batch_latest AS "
            + accepted_sql(self.sales, "sales_landed", self.defaults)
        )
        self.con.execute("DROP TABLE sales_landed")

    def _silver_columns(self) -> list[str]:
        rows = self.con.execute("DESCRIBE silver_sales").fetchall()
        return [str(row[0]) for row in rows]

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        # fetchall: a result left unfinished would block the connection's next register().
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0][0] if rows else None

    def count(self, table: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {table}") or 0)

    def total_net(self) -> Decimal:
        """Net amount of every fact line, exactly."""
        return Decimal(self.scalar(f"SELECT CAST(sum(net_amount) AS {AMOUNT}) FROM fact_sales"))

    def daily(self, dates: Iterable[date] | None = None) -> list[tuple[Any, ...]]:
        """daily_sales rows: the grain columns then the measures, optionally for some dates."""
        select = f"SELECT {', '.join((*DAILY_GRAIN, *DAILY_MEASURES))} FROM daily_sales"
        if dates is None:
            return self.rows(select)
        wanted = sorted(set(dates))
        return self.rows(f"{select} WHERE sale_date IN ({', '.join('?' for _ in wanted)})", wanted)

    def fact(self, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        return self.rows(f"SELECT {', '.join(columns)} FROM fact_sales")
