-- Net revenue, margin, units and orders per sale date, store and category over the last
-- 90 days, per currency (amounts in different currencies are never added).
-- gold.fact_sales is partitioned by sale_date, so the date filter prunes partitions.
SELECT
    sale_date,
    store_id,
    category,
    currency,
    SUM(net_amount) AS revenue,
    SUM(margin_amount) AS margin_amount,
    SUM(quantity) AS units,
    COUNT(DISTINCT order_id) AS order_count
FROM ${EnvironmentName}_gold.fact_sales
WHERE sale_date >= date_add('day', -90, current_date)
GROUP BY sale_date, store_id, category, currency
ORDER BY sale_date DESC, revenue DESC
