"""The order database's credentials from AWS Secrets Manager.

On AWS nobody types the password: RDS keeps the master user's credentials in a secret it
manages (``ManageMasterUserPassword``), as ``{"username": "...", "password": "..."}``.
The extract job and the fill function get the database's address as a DSN without
credentials (``mysql://HOST:PORT/DATABASE``) and the secret's ARN; :func:`resolve_dsn`
puts the two together. A secret in the layout RDS documents for rotation also carries
``host``, ``port`` and ``dbname``; then the DSN may be left out.

boto3 only (no Spark): the fill Lambda imports this. ``AWS_ENDPOINT_URL`` (a standard AWS
variable) points boto3 at a local emulator. Errors name the secret, never its value.
"""

from __future__ import annotations

import json
import os
from typing import Any

from sales_lakehouse.oltp.dsn import DEFAULT_PORT, Dsn

SECRET_ENV = "SALES_LAKEHOUSE_OLTP_SECRET"


class SecretError(RuntimeError):
    """The secret cannot be read or does not hold the database's credentials."""


def read_secret(secret_id: str, client: Any | None = None) -> dict[str, Any]:
    """The secret's JSON object; SecretError with one line when it cannot be used."""
    from botocore.exceptions import BotoCoreError, ClientError

    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    try:
        answer = client.get_secret_value(SecretId=secret_id)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise SecretError(f"secret {secret_id} cannot be read: {code}") from error
    except BotoCoreError as error:
        raise SecretError(f"secret {secret_id} cannot be read: {error}") from error
    text = answer.get("SecretString")
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise SecretError(
            f"secret {secret_id} is not a JSON object with username and password "
            "(the layout RDS writes for a managed master password)"
        )
    return value


def resolve_dsn(dsn: str | None, secret_id: str | None = None, client: Any | None = None) -> Dsn:
    """The DSN to connect with: ``dsn`` as given when there is no secret (default
    ``$SALES_LAKEHOUSE_OLTP_SECRET``), else ``dsn`` with the secret's user and password, or
    the secret's own host, port and dbname when ``dsn`` is empty."""
    secret_id = secret_id or os.environ.get(SECRET_ENV, "").strip() or None
    if secret_id is None:
        return Dsn.parse(dsn)
    secret = read_secret(secret_id, client)
    user, password = secret.get("username"), secret.get("password")
    if not isinstance(user, str) or not user or not isinstance(password, str):
        raise SecretError(f"secret {secret_id} holds no username and password")
    if dsn or os.environ.get("SALES_LAKEHOUSE_OLTP_DSN"):
        return Dsn.parse(dsn, credentials=False).with_credentials(user, password)
    host, database = secret.get("host"), secret.get("dbname")
    if not host or not database:
        raise ValueError(
            f"secret {secret_id} names no host and dbname: pass --dsn mysql://HOST:PORT/DATABASE"
        )
    try:
        port = int(secret.get("port") or DEFAULT_PORT)
    except (TypeError, ValueError):
        raise SecretError(f"secret {secret_id}: port is not a number") from None
    return Dsn(user=user, password=password, host=str(host), port=port, database=str(database))
