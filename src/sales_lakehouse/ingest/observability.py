"""The consumer's one structured logger and one EMF metrics object (namespace SalesLakehouse).

Kept in their own module so every ingest module logs under the same service name and
adds to the same metric set, which the Lambda handler flushes once per invocation.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "sales-events-ingest"
NAMESPACE = "SalesLakehouse"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
