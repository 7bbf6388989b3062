-- Rows each quarantine rule took out, per run and dataset, from the quality results the
-- pipeline records on every run (a row failing several rules counts once per rule).
SELECT
    run_id,
    dataset,
    rule,
    MAX(evaluated_at) AS evaluated_at,
    SUM(rows_checked) AS rows_checked,
    SUM(rows_failed) AS rows_failed
FROM ${quality}.dq_results
WHERE action = 'quarantine' AND stage = 'silver'
GROUP BY run_id, dataset, rule
