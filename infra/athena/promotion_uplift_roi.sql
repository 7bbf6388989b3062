-- Uplift and ROI per promotion, best ROI first. uplift_pct is null without a baseline,
-- roi is null when promo_cost is 0 (see the README's gold formulas).
SELECT
    promotion_id,
    promotion_name,
    promotion_type,
    scope,
    start_date,
    end_date,
    promotion_days,
    currency,
    attributed_lines,
    net_amount,
    discount_given,
    baseline_daily_net,
    promo_daily_net,
    uplift_pct,
    incremental_margin,
    promo_cost,
    roi
FROM ${EnvironmentName}_gold.promotion_performance
ORDER BY roi DESC NULLS LAST, uplift_pct DESC NULLS LAST
