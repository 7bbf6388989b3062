#!/usr/bin/env bash
# spark-submit inside the Glue 5 image with what a Glue job gets from
# `--datalake-formats delta` and the template's single `--conf` chain: the Delta SQL
# extension and catalog (the image already has the Delta jars). Spark's in-memory catalog
# keeps table registrations inside the run, as on Glue without --enable-glue-datacatalog.
#
#   docker/spark-submit-delta.sh jobs/silver_sales.py --landing /data/landing --lake /data/lake
set -euo pipefail
exec spark-submit \
  --master 'local[*]' \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.sql.catalogImplementation=in-memory \
  --conf spark.sql.shuffle.partitions=4 \
  "$@"
