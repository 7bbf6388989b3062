-- Quarantined rows per dataset, day and failed rule. A row that failed several rules is
-- counted once per rule, so the per-rule counts can add up to more than the rows.
WITH quarantined AS (
    SELECT 'sales' AS dataset, rules, _quarantined_at FROM ${EnvironmentName}_quarantine.sales
    UNION ALL
    SELECT 'products' AS dataset, rules, _quarantined_at FROM ${EnvironmentName}_quarantine.products
    UNION ALL
    SELECT 'promotions' AS dataset, rules, _quarantined_at FROM ${EnvironmentName}_quarantine.promotions
)
SELECT
    dataset,
    CAST(_quarantined_at AS date) AS quarantine_date,
    rule,
    COUNT(*) AS row_count
FROM quarantined
CROSS JOIN UNNEST(rules) AS failed(rule)
GROUP BY dataset, CAST(_quarantined_at AS date), rule
ORDER BY quarantine_date DESC, row_count DESC
