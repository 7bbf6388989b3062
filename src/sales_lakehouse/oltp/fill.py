"""The order system's writer: places orders, then keeps changing them like a live store.

``sales-lakehouse oltp fill`` runs it from a laptop; the same :func:`fill` is the fill
Lambda of the AWS stack. Pure Python with PyMySQL (no Spark). It creates the tables from
``schemas/oltp/ddl.sql`` when they are missing.

What a live store does, and what the lake must follow:

- **new orders** of 1-4 lines, placed now (``order_ts`` is the commit time, UTC);
- **corrections**: a line's quantity or discount changed after the sale;
- **cancellations**: an order's status becomes ``cancelled`` (its rows stay);
- **line deletions**: a line's ``deleted`` flag is set (soft delete).

Every change sets ``updated_at`` to the time of the change (UTC, microseconds), which is
the extract's cursor. Order ids are ``DB-`` and a number, so they never collide with the
CSV exports' ids.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sales_lakehouse.contracts import schemas_dir
from sales_lakehouse.oltp.dsn import Dsn

ORDER_PREFIX = "DB-"
CHANNELS = ("store", "web", "mobile", "marketplace")
CHANNEL_WEIGHTS = (0.55, 0.3, 0.1, 0.05)
# Store -> currency, as the sample landing set's stores (sales_lakehouse_tools.generate).
STORES: dict[str, str] = {
    **{f"S{n:03d}": "USD" for n in range(1, 10)},
    "S010": "EUR",
    "S011": "GBP",
    "S012": "CAD",
}
# Share of each kind of change once the initial orders are placed (--rate/--duration).
CHANGE_MIX: tuple[tuple[str, float], ...] = (
    ("order", 0.70),
    ("correction", 0.15),
    ("cancellation", 0.10),
    ("deletion", 0.05),
)


class FillError(RuntimeError):
    """The database refused the fill (unreachable, access denied, a broken schema)."""


@dataclass(frozen=True)
class Product:
    product_id: str
    list_price: Decimal


def default_catalogue(count: int = 200, seed: int = 11) -> list[Product]:
    """Product ids as the sample catalogue numbers them (``P00001`` ...) with list prices."""
    rng = random.Random(seed)
    return [
        Product(f"P{n:05d}", Decimal(rng.choice((9, 19, 49, 99, 199, 499, 999))) + Decimal("0.99"))
        for n in range(1, count + 1)
    ]


def read_catalogue(path: Path) -> list[Product]:
    """Products from a landed products CSV (or a folder of them): product_id, list_price."""
    files = sorted(path.rglob("*.csv")) if path.is_dir() else [path]
    latest: dict[str, Product] = {}
    for file in files:
        with file.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                try:
                    price = Decimal(row["list_price"])
                except (KeyError, ArithmeticError):
                    continue  # a defect row of the sample set: not a product to sell
                if row.get("product_id") and price > 0:
                    latest[row["product_id"]] = Product(row["product_id"], price)
    if not latest:
        raise ValueError(f"{path}: no products with product_id and list_price")
    return [latest[key] for key in sorted(latest)]


def ddl_statements() -> list[str]:
    """The CREATE TABLE statements of ``schemas/oltp/ddl.sql``, comments removed."""
    text = (schemas_dir() / "oltp" / "ddl.sql").read_text(encoding="utf-8")
    lines = [line.split("--", 1)[0] for line in text.splitlines()]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


@dataclass
class FillStats:
    orders: int = 0
    lines: int = 0
    corrections: int = 0
    cancellations: int = 0
    deletions: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"oltp fill: {self.orders} orders with {self.lines} lines placed, "
            f"{self.corrections} lines corrected, {self.cancellations} orders cancelled, "
            f"{self.deletions} lines deleted in {self.seconds:.1f} s"
        )


def connect(dsn: Dsn) -> Any:
    """A PyMySQL connection in UTC, autocommit off; FillError with one line on failure."""
    import pymysql

    try:
        connection = pymysql.connect(
            host=dsn.host,
            port=dsn.port,
            user=dsn.user,
            password=dsn.password,
            database=dsn.database,
            connect_timeout=10,
            autocommit=False,
            init_command="SET time_zone = '+00:00'",
        )
    except pymysql.MySQLError as error:
        raise FillError(f"{dsn.redacted()}: {_message(error)}") from error
    return connection


def _message(error: Exception) -> str:
    args: tuple[Any, ...] = tuple(getattr(error, "args", ()))
    if len(args) == 2 and isinstance(args[1], str):
        return f"{args[1]} (MySQL error {args[0]})"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class OrderSystem:
    """Orders and their lines in the database, changed as a store would change them."""

    def __init__(self, connection: Any, catalogue: list[Product], seed: int | None = None) -> None:
        if not catalogue:
            raise ValueError("the catalogue has no products")
        self.db = connection
        self.catalogue = catalogue
        self.rng = random.Random(seed)
        self._next: int | None = None  # the next order number, read once from the database

    def create_tables(self) -> None:
        with self.db.cursor() as cursor:
            for statement in ddl_statements():
                cursor.execute(statement)
        self.db.commit()

    def _next_number(self, cursor: Any) -> int:
        """The next order number: read from the database once, then counted here (one
        writer at a time places orders: the fill Lambda runs with a concurrency of 1)."""
        if self._next is not None:
            return self._next
        cursor.execute(
            "SELECT COALESCE(MAX(CAST(SUBSTRING(order_id, %s) AS UNSIGNED)), 0) FROM orders "
            "WHERE order_id LIKE %s",
            (len(ORDER_PREFIX) + 1, ORDER_PREFIX + "%"),
        )
        return int(cursor.fetchone()[0]) + 1

    def place_orders(self, count: int, stats: FillStats, at: datetime | None = None) -> None:
        """Insert ``count`` orders of 1-4 lines in one transaction."""
        if count <= 0:
            return
        orders, lines = [], []
        with self.db.cursor() as cursor:
            number = self._next_number(cursor)
            for offset in range(count):
                now = at or _now()
                order_id = f"{ORDER_PREFIX}{number + offset:010d}"
                store = self.rng.choice(sorted(STORES))
                channel = self.rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
                customer = (
                    None if self.rng.random() < 0.3 else f"C{self.rng.randint(1, 50_000):06d}"
                )
                orders.append(
                    (order_id, store, customer, now, channel, STORES[store], "placed", now, now)
                )
                for line_number in range(1, self.rng.choice((1, 1, 2, 2, 3, 4)) + 1):
                    product = self.rng.choice(self.catalogue)
                    quantity = self.rng.choice((1, 1, 1, 2, 2, 3, 5))
                    discount = (
                        (product.list_price * quantity * Decimal("0.10")).quantize(Decimal("0.01"))
                        if self.rng.random() < 0.2
                        else Decimal("0.00")
                    )
                    lines.append(
                        (order_id, line_number, product.product_id, quantity,
                         product.list_price, discount, None, now, now)
                    )  # fmt: skip
            cursor.executemany(
                "INSERT INTO orders (order_id, store_id, customer_id, order_ts, channel, currency,"
                " status, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                orders,
            )
            cursor.executemany(
                "INSERT INTO order_lines (order_id, line_number, product_id, quantity, "
                "unit_price, discount_amount, promotion_id, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                lines,
            )
        self.db.commit()
        self._next = number + count
        stats.orders += len(orders)
        stats.lines += len(lines)

    def _pick_lines(self, cursor: Any, count: int) -> list[tuple[str, int, int, Decimal]]:
        cursor.execute(
            "SELECT l.order_id, l.line_number, l.quantity, l.unit_price FROM order_lines l "
            "JOIN orders o ON o.order_id = l.order_id "
            "WHERE o.status = 'placed' AND NOT l.deleted ORDER BY RAND(%s) LIMIT %s",
            (self.rng.randint(0, 2**31), count),
        )
        return [(str(r[0]), int(r[1]), int(r[2]), Decimal(r[3])) for r in cursor.fetchall()]

    def correct_lines(self, count: int, stats: FillStats) -> None:
        """Change the quantity (and the discount with it) of ``count`` live lines."""
        with self.db.cursor() as cursor:
            for order_id, line_number, quantity, price in self._pick_lines(cursor, count):
                new_quantity = quantity + 1 if quantity < 3 else quantity - 1
                discount = (price * new_quantity * Decimal("0.05")).quantize(Decimal("0.01"))
                cursor.execute(
                    "UPDATE order_lines SET quantity = %s, discount_amount = %s, updated_at = %s "
                    "WHERE order_id = %s AND line_number = %s",
                    (new_quantity, discount, _now(), order_id, line_number),
                )
                stats.corrections += 1
        self.db.commit()

    def delete_lines(self, count: int, stats: FillStats) -> None:
        """Soft-delete ``count`` live lines."""
        with self.db.cursor() as cursor:
            for order_id, line_number, _quantity, _price in self._pick_lines(cursor, count):
                cursor.execute(
                    "UPDATE order_lines SET deleted = TRUE, updated_at = %s "
                    "WHERE order_id = %s AND line_number = %s",
                    (_now(), order_id, line_number),
                )
                stats.deletions += 1
        self.db.commit()

    def cancel_orders(self, count: int, stats: FillStats) -> None:
        """Cancel ``count`` placed orders (their lines stay, the order's status changes)."""
        with self.db.cursor() as cursor:
            cursor.execute(
                "SELECT order_id FROM orders WHERE status = 'placed' ORDER BY RAND(%s) LIMIT %s",
                (self.rng.randint(0, 2**31), count),
            )
            for (order_id,) in cursor.fetchall():
                cursor.execute(
                    "UPDATE orders SET status = 'cancelled', updated_at = %s WHERE order_id = %s",
                    (_now(), order_id),
                )
                stats.cancellations += 1
        self.db.commit()

    def change(self, kind: str, stats: FillStats) -> None:
        actions: dict[str, Callable[[int, FillStats], None]] = {
            "order": self.place_orders,
            "correction": self.correct_lines,
            "cancellation": self.cancel_orders,
            "deletion": self.delete_lines,
        }
        actions[kind](1, stats)


def fill(
    dsn: Dsn,
    *,
    orders: int = 0,
    rate: float = 0.0,
    duration: float = 0.0,
    catalogue: list[Product] | None = None,
    seed: int | None = None,
    progress: Callable[[FillStats], None] | None = None,
) -> FillStats:
    """Create the tables if missing, place ``orders`` orders, then change the database at
    ``rate`` changes a second for ``duration`` seconds (``CHANGE_MIX``)."""
    import pymysql

    if orders < 0 or rate < 0 or duration < 0:
        raise ValueError("--orders, --rate and --duration must not be negative")
    if bool(rate) != bool(duration):
        raise ValueError("--rate and --duration go together")
    stats = FillStats()
    started = time.monotonic()
    with _connected(dsn) as db:
        system = OrderSystem(db, catalogue or default_catalogue(), seed)
        try:
            system.create_tables()
            for chunk in _chunks(orders, 1000):
                system.place_orders(chunk, stats)
                if progress:
                    progress(stats)
            for kind in _paced(system.rng, rate, duration):
                system.change(kind, stats)
                if progress:
                    progress(stats)
        except pymysql.MySQLError as error:
            raise FillError(f"{dsn.redacted()}: {_message(error)}") from error
    stats.seconds = time.monotonic() - started
    return stats


@contextmanager
def _connected(dsn: Dsn) -> Iterator[Any]:
    connection = connect(dsn)
    try:
        yield connection
    finally:
        connection.close()


def _chunks(total: int, size: int) -> Iterable[int]:
    while total > 0:
        yield min(size, total)
        total -= size


def _paced(rng: random.Random, rate: float, duration: float) -> Iterator[str]:
    """Kinds of change, one every ``1/rate`` seconds (no catch-up burst) for ``duration``."""
    if not rate:
        return
    kinds, weights = zip(*CHANGE_MIX, strict=True)
    interval, end = 1.0 / rate, time.monotonic() + duration
    next_at = time.monotonic()
    while next_at < end:
        yield rng.choices(kinds, weights)[0]
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
