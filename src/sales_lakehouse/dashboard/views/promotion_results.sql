-- Every promotion's uplift and return: daily net sales of its scope during the promotion
-- against the baseline before it, the margin it added, its cost and ROI.
SELECT
    promotion_id,
    promotion_name,
    promotion_type,
    scope,
    start_date,
    end_date,
    currency,
    units,
    net_amount,
    baseline_daily_net,
    promo_daily_net,
    uplift_pct,
    incremental_margin,
    promo_cost,
    roi
FROM ${gold}.promotion_performance
