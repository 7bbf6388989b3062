-- Net revenue, margin and units per sale date, product and currency, with the product's
-- category and brand as the sale recorded them: the grain of the top-product rankings.
SELECT
    sale_date,
    product_id,
    category,
    brand,
    currency,
    SUM(net_amount) AS revenue,
    SUM(margin_amount) AS margin_amount,
    SUM(quantity) AS units
FROM ${gold}.fact_sales
GROUP BY sale_date, product_id, category, brand, currency
