"""The order database without a server: its connection string (parsed, turned into a JDBC URL,
never leaked), its DDL and the catalogue the fill sells."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from sales_lakehouse.oltp.dsn import Dsn
from sales_lakehouse.oltp.fill import Product, ddl_statements, read_catalogue


def test_a_dsn_gives_the_jdbc_url_spark_needs_for_its_mysql_dialect() -> None:
    dsn = Dsn.parse("mysql://lake:p%40ss@db.internal:3307/shop")
    assert (dsn.user, dsn.password, dsn.host, dsn.port, dsn.database) == (
        "lake", "p@ss", "db.internal", 3307, "shop",
    )  # fmt: skip
    # jdbc:mysql (not jdbc:mariadb): Spark's MySQL dialect quotes columns with backticks.
    assert dsn.jdbc_url.startswith("jdbc:mysql://db.internal:3307/shop?permitMysqlScheme")
    assert dsn.jdbc_properties()["driver"] == "org.mariadb.jdbc.Driver"
    assert "p@ss" not in dsn.redacted() and "p%40ss" not in dsn.redacted()


def test_the_port_defaults_to_3306() -> None:
    assert Dsn.parse("mysql://lake:pw@db/shop").port == 3306


@pytest.mark.parametrize(
    "text",
    [
        "postgres://lake:pw@db/shop",
        "mysql://lake:pw@db",
        "mysql://db/shop",
        "mysql://lake:pw@db:x/s",
    ],
)
def test_a_malformed_dsn_is_refused_without_showing_the_password(text: str) -> None:
    with pytest.raises(ValueError, match=r"mysql://USER:PASSWORD@HOST|port") as caught:
        Dsn.parse(text)
    assert ":pw@" not in str(caught.value)


def test_no_dsn_at_all_names_the_option_and_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SALES_LAKEHOUSE_OLTP_DSN", raising=False)
    with pytest.raises(ValueError, match=r"--dsn or set \$SALES_LAKEHOUSE_OLTP_DSN"):
        Dsn.parse(None)


def test_the_ddl_creates_both_tables_with_their_cursor_indexes() -> None:
    statements = ddl_statements()
    assert [s.split("(")[0].split()[-1] for s in statements] == ["orders", "order_lines"]
    assert "KEY ix_orders_cursor (updated_at, order_id)" in statements[0]
    assert "KEY ix_order_lines_cursor (updated_at, order_id, line_number)" in statements[1]


def test_the_fill_sells_the_latest_price_of_each_landed_product(tmp_path: Path) -> None:
    (tmp_path / "2025-01-01_products.csv").write_text(
        "product_id,sku,list_price\nP00001,A,10.00\nP00002,B,not-a-price\nP00003,C,0\n",
        encoding="utf-8",
    )
    (tmp_path / "2025-02-01_products.csv").write_text(
        "product_id,sku,list_price\nP00001,A,12.50\n", encoding="utf-8"
    )
    assert read_catalogue(tmp_path) == [Product("P00001", Decimal("12.50"))]
    (tmp_path / "empty.csv").write_text("product_id,list_price\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no products with product_id and list_price"):
        read_catalogue(tmp_path / "empty.csv")
