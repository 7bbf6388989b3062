-- The ten best-selling products of each category in the latest month, by net revenue
-- (rank_in_category is computed by the gold job within month, category and currency).
SELECT
    month,
    category,
    currency,
    rank_in_category,
    product_id,
    brand,
    revenue,
    units,
    margin_amount,
    order_count
FROM ${EnvironmentName}_gold.product_performance
WHERE month = (SELECT MAX(month) FROM ${EnvironmentName}_gold.product_performance)
    AND rank_in_category <= 10
ORDER BY category, currency, rank_in_category
