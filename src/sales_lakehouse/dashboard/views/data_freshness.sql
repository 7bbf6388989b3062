-- How recent gold is: the newest sale date and order time it holds, and its line count.
SELECT
    MAX(sale_date) AS latest_sale_date,
    MAX(order_ts) AS latest_order_ts,
    COUNT(*) AS line_count
FROM ${gold}.fact_sales
