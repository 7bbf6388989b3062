-- Net revenue, margin and units per sale date, store, category and currency: the grain of
-- the store and category comparisons (a period against the one before it).
SELECT
    sale_date,
    store_id,
    category,
    currency,
    SUM(net_amount) AS revenue,
    SUM(margin_amount) AS margin_amount,
    SUM(quantity) AS units
FROM ${gold}.fact_sales
GROUP BY sale_date, store_id, category, currency
