-- Net revenue, margin, units and sale lines per sale date and currency, with 7-day moving
-- averages over the currency's last seven sale dates. Amounts in different currencies are
-- never added.
SELECT
    sale_date,
    currency,
    revenue,
    margin_amount,
    units,
    line_count,
    AVG(revenue) OVER (
        PARTITION BY currency ORDER BY sale_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW
    ) AS revenue_ma7,
    AVG(margin_amount) OVER (
        PARTITION BY currency ORDER BY sale_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW
    ) AS margin_ma7,
    AVG(units) OVER (
        PARTITION BY currency ORDER BY sale_date ROWS BETWEEN 6 PRECEDING AND CURRENT ROW
    ) AS units_ma7
FROM (
    SELECT
        sale_date,
        currency,
        SUM(net_amount) AS revenue,
        SUM(margin_amount) AS margin_amount,
        SUM(units) AS units,
        SUM(line_count) AS line_count
    FROM ${gold}.daily_sales
    GROUP BY sale_date, currency
) AS daily
