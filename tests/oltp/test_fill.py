"""The fill service against a real MariaDB server: orders placed, then changed like a store."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sales_lakehouse.oltp.dsn import Dsn
from sales_lakehouse.oltp.fill import FillError, fill
from tests.oltp.conftest import query


def test_fill_creates_the_tables_and_places_orders_with_their_lines(dsn: Dsn) -> None:
    stats = fill(dsn, orders=120, seed=1)

    (orders,) = query(dsn, "SELECT COUNT(*) FROM orders")[0]
    (lines,) = query(dsn, "SELECT COUNT(*) FROM order_lines")[0]
    assert (orders, lines) == (stats.orders, stats.lines) == (120, lines)
    assert lines >= orders  # every order has at least one line
    assert query(
        dsn,
        "SELECT COUNT(*) FROM orders o WHERE NOT EXISTS "
        "(SELECT 1 FROM order_lines l WHERE l.order_id = o.order_id)",
    ) == [(0,)]
    # Money as exact decimals; discounts never above the gross amount.
    ((low_price, bad_discounts),) = query(
        dsn, "SELECT MIN(unit_price), SUM(discount_amount > quantity * unit_price) FROM order_lines"
    )
    assert isinstance(low_price, Decimal) and low_price > 0 and bad_discounts == 0
    indexes = {row[2] for row in query(dsn, "SHOW INDEX FROM order_lines")}
    assert "ix_order_lines_cursor" in indexes


def test_a_second_fill_adds_orders_after_the_first_ones(dsn: Dsn) -> None:
    fill(dsn, orders=10, seed=1)
    fill(dsn, orders=5, seed=2)
    ids = [row[0] for row in query(dsn, "SELECT order_id FROM orders ORDER BY order_id")]
    assert ids == [f"DB-{n:010d}" for n in range(1, 16)]


def test_a_paced_fill_corrects_cancels_and_deletes_and_moves_updated_at(dsn: Dsn) -> None:
    fill(dsn, orders=50, seed=3)
    (before,) = query(dsn, "SELECT MAX(updated_at) FROM order_lines")[0]
    stats = fill(dsn, rate=60, duration=2.0, seed=4)

    assert stats.orders + stats.corrections + stats.cancellations + stats.deletions >= 100
    assert stats.corrections > 0 and stats.cancellations > 0
    (cancelled,) = query(dsn, "SELECT COUNT(*) FROM orders WHERE status = 'cancelled'")[0]
    assert cancelled == stats.cancellations
    (deleted,) = query(dsn, "SELECT COUNT(*) FROM order_lines WHERE deleted")[0]
    assert deleted == stats.deletions
    # Every change moved its row's updated_at past the earlier state.
    (changed,) = query(dsn, "SELECT COUNT(*) FROM order_lines WHERE updated_at > %s", (before,))[0]
    assert changed >= stats.corrections + stats.deletions
    assert query(dsn, "SELECT COUNT(*) FROM orders WHERE updated_at < created_at") == [(0,)]


def test_wrong_credentials_are_one_clear_error(dsn: Dsn) -> None:
    wrong = Dsn(dsn.user, "not-the-password", dsn.host, dsn.port, dsn.database)
    with pytest.raises(FillError, match="Access denied") as caught:
        fill(wrong, orders=1)
    assert "not-the-password" not in str(caught.value) and "\n" not in str(caught.value)
