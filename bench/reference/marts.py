"""Silver sales and the gold marts fact_sales and daily_sales, as DuckDB SQL.

The README's formulas: gross = quantity x unit_price, net = gross - discount; a sale is
costed with the product version valid at its order time (the first version for a sale
before it; none for an unknown product, then category 'Unknown' and no cost), cost =
quantity x unit_cost, margin = net - cost; daily_sales sums fact_sales per day, store,
product and currency. Money is DECIMAL end to end, so every sum is exact.

Each table's columns and exact types are listed once here: the tests select them, the
bench compares them (``bench.verify``).
"""

from __future__ import annotations

AMOUNT = "DECIMAL(18,2)"
PRICE = "DECIMAL(12,2)"

SILVER_SALES_TYPES = {
    "order_id": "VARCHAR",
    "line_number": "INTEGER",
    "order_ts": "TIMESTAMPTZ",
    "store_id": "VARCHAR",
    "customer_id": "VARCHAR",
    "product_id": "VARCHAR",
    "quantity": "INTEGER",
    "unit_price": PRICE,
    "discount_amount": PRICE,
    "promotion_id": "VARCHAR",
    "channel": "VARCHAR",
    "currency": "VARCHAR",
    "sale_date": "DATE",
    "gross_amount": AMOUNT,
    "net_amount": AMOUNT,
}
FACT_SALES_TYPES = {
    "order_id": "VARCHAR",
    "line_number": "INTEGER",
    "sale_date": "DATE",
    "store_id": "VARCHAR",
    "product_id": "VARCHAR",
    "currency": "VARCHAR",
    "quantity": "INTEGER",
    "unit_price": PRICE,
    "gross_amount": AMOUNT,
    "discount_amount": PRICE,
    "net_amount": AMOUNT,
    "product_known": "BOOLEAN",
    "category": "VARCHAR",
    "unit_cost": PRICE,
    "cost_amount": AMOUNT,
    "margin_amount": AMOUNT,
}
DAILY_GRAIN_TYPES = {
    "sale_date": "DATE",
    "store_id": "VARCHAR",
    "product_id": "VARCHAR",
    "currency": "VARCHAR",
}
# The daily_sales measures: SQL over fact_sales and the exact type of each.
DAILY_MEASURE_SQL = {
    "units": ("sum(quantity)", "BIGINT"),
    "gross_amount": ("sum(gross_amount)", AMOUNT),
    "discount_amount": ("sum(discount_amount)", AMOUNT),
    "net_amount": ("sum(net_amount)", AMOUNT),
    "cost_amount": ("sum(cost_amount)", AMOUNT),
    "margin_amount": ("sum(margin_amount)", AMOUNT),
    "order_count": ("count(DISTINCT order_id)", "BIGINT"),
    "line_count": ("count(*)", "BIGINT"),
}
DAILY_GRAIN = tuple(DAILY_GRAIN_TYPES)
DAILY_MEASURES = tuple(DAILY_MEASURE_SQL)
DAILY_SALES_TYPES = {
    **DAILY_GRAIN_TYPES,
    **{name: kind for name, (_, kind) in DAILY_MEASURE_SQL.items()},
}

# From batch_latest: the accepted, typed, latest lines of a batch (see rules.accepted_sql).
SILVER_SALES = """
SELECT order_id, line_number, order_ts, store_id, customer_id, product_id, quantity,
       unit_price, discount_amount, promotion_id, channel, currency,
       CAST(order_ts AS DATE) AS sale_date,
       CAST(CAST(quantity AS DECIMAL(10, 0)) * unit_price AS DECIMAL(18, 2)) AS gross_amount,
       CAST(CAST(quantity AS DECIMAL(10, 0)) * unit_price - discount_amount
            AS DECIMAL(18, 2)) AS net_amount,
       file_name
FROM batch_latest
"""

# From products_latest: one row per accepted (product_id, updated_at) version.
PRODUCT_VERSIONS = """
CREATE OR REPLACE TABLE product_versions AS
SELECT product_id, category, unit_cost, updated_at AS valid_from,
       COALESCE(lead(updated_at) OVER w, TIMESTAMPTZ '9999-12-31 00:00:00+00') AS valid_to,
       row_number() OVER w AS version_number
FROM products_latest
WINDOW w AS (PARTITION BY product_id ORDER BY updated_at)
"""


def fact_sql(where: str = "") -> str:
    """fact_sales of the silver lines ``where`` selects (a condition on ``s``, or all)."""
    return f"""
SELECT s.order_id, s.line_number, s.sale_date, s.store_id, s.product_id, s.currency,
       s.quantity, s.unit_price, s.gross_amount, s.discount_amount, s.net_amount,
       p.product_id IS NOT NULL AS product_known,
       COALESCE(p.category, 'Unknown') AS category,
       p.unit_cost,
       CAST(CAST(s.quantity AS DECIMAL(10, 0)) * p.unit_cost AS DECIMAL(18, 2)) AS cost_amount,
       CAST(s.net_amount - CAST(CAST(s.quantity AS DECIMAL(10, 0)) * p.unit_cost
            AS DECIMAL(18, 2)) AS DECIMAL(18, 2)) AS margin_amount
FROM silver_sales AS s
LEFT JOIN product_versions AS p
  ON s.product_id = p.product_id
 AND (s.order_ts >= p.valid_from OR p.version_number = 1)
 AND s.order_ts < p.valid_to
{f"WHERE {where}" if where else ""}
"""


def daily_sql(where: str = "") -> str:
    """daily_sales of the fact lines ``where`` selects (a condition, or all)."""
    measures = ", ".join(
        f"CAST({sql} AS {kind}) AS {name}" for name, (sql, kind) in DAILY_MEASURE_SQL.items()
    )
    return (
        f"SELECT {', '.join(DAILY_GRAIN)}, {measures} FROM fact_sales "
        f"{f'WHERE {where} ' if where else ''}GROUP BY {', '.join(DAILY_GRAIN)}"
    )
