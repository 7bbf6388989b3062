#!/usr/bin/env bash
# Generate the sample landing set, then run every stage's Glue job script in workflow
# order (docs/aws.md, "Workflow order"), each as its own spark-submit, as Glue does.
#
#   docker/run-pipeline.sh [DATA_DIR] [LINES]      (defaults: /data, 5000)
set -euo pipefail
data="${1:-/data}"
lines="${2:-5000}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

sales-lakehouse generate --landing "$data/landing" --lines "$lines"
for job in bronze_ingest silver_products silver_promotions silver_sales gold_sales forecast_features maintenance; do
  echo "== $job"
  "$here/spark-submit-delta.sh" "jobs/$job.py" --landing "$data/landing" --lake "$data/lake"
done
echo "lake written to $data/lake"
