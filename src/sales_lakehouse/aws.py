"""boto3 clients for the real AWS endpoints or a local emulator (moto, LocalStack)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

# Standard retry mode: throttling and 5xx are retried with backoff before an error surfaces.
_RETRIES = {"max_attempts": 5, "mode": "standard"}


def client(service: str, endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 client; with an ``endpoint_url`` S3 uses path-style addressing.

    Emulators serve every bucket under one host, so virtual-host addressing
    (``bucket.host``) would not resolve there.
    """
    s3 = {"addressing_style": "path"} if endpoint_url and service == "s3" else None
    config = Config(retries=_RETRIES, s3=s3, connect_timeout=5, read_timeout=30)
    return boto3.client(service, endpoint_url=endpoint_url, region_name=region, config=config)
