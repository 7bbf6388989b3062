"""The alert notifier Lambda: every message on the SNS alert topic, posted to Slack.

The alert topic collects the consumer's alerts, Glue job failures and Glue Data Quality
results (EventBridge rules) and CloudWatch alarm state changes. This function, subscribed
to the topic, turns each into one readable Slack message (``slack_messages``) and posts
it to an incoming webhook whose URL it reads from Secrets Manager once per container.

Delivery is not best-effort here: an unreadable secret, a Slack error or an unreachable
Slack raises, so Lambda retries the asynchronous invocation and finally hands the event
to the function's on-failure destination (or dead-letter queue). See docs/streaming.md.

Imports no Spark: this module, and everything it imports, runs in Lambda.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from sales_lakehouse.aws import client
from sales_lakehouse.ingest.config import ConfigError
from sales_lakehouse.ingest.slack_messages import SlackMessage, slack_message

# The function's own variables, as the template sets them and from_env reads them
# (AWS_ENDPOINT_URL, a standard AWS variable, is read too: for local emulators).
VARIABLES: tuple[str, ...] = ("SLACK_WEBHOOK_SECRET_ARN",)

# Plain http is accepted only to this machine (a test stand-in for Slack); a webhook URL
# is a credential and never travels unencrypted to another host.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Slack's error answers are short codes (invalid_payload, no_service, ...).
_SHOWN_ANSWER = 200

logger = Logger(service="sales-alerts-notifier")


class NotifierError(RuntimeError):
    """The webhook secret cannot be used, or the event is not an SNS event."""


class SlackDeliveryError(NotifierError):
    """Slack did not accept a message (non-2xx answer, no connection, timeout)."""


@dataclass(frozen=True)
class NotifierSettings:
    """Which secret holds the webhook URL, and how long to wait for Slack."""

    webhook_secret_id: str
    timeout_seconds: float = 5.0
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifierSettings:
        """Read the variables; a missing secret id is a :class:`ConfigError`."""
        env = os.environ if env is None else env
        secret_id = env.get("SLACK_WEBHOOK_SECRET_ARN", "").strip()
        if not secret_id:
            raise ConfigError(
                "invalid notifier configuration: SLACK_WEBHOOK_SECRET_ARN is required and not set"
            )
        return cls(secret_id, endpoint_url=env.get("AWS_ENDPOINT_URL", "").strip() or None)


def webhook_url(secret_string: str | None, secret_id: str) -> str:
    """The webhook URL a secret holds, as the bare URL or as ``{"webhook_url": "..."}``.

    Errors name the secret, never its value: the URL is the credential.
    """
    text = (secret_string or "").strip()
    if text.startswith("{"):
        try:
            value = json.loads(text).get("webhook_url")
        except (ValueError, AttributeError):
            value = None
        text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise NotifierError(
            f"secret {secret_id} holds no Slack webhook URL: store the URL itself "
            'or JSON {"webhook_url": "https://hooks.slack.com/services/..."}'
        )
    try:
        parts = urlsplit(text)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:  # e.g. an unclosed [ in an IPv6 host
        scheme, host = "", None
    secure = scheme == "https" and bool(host)
    local = scheme == "http" and host in LOOPBACK_HOSTS
    if not (secure or local):
        raise NotifierError(
            f"secret {secret_id} does not hold an https URL "
            "(plain http is accepted only to 127.0.0.1, localhost or ::1)"
        )
    return text


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Webhooks answer directly; a redirect is an error, not a reason to re-send elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class SlackWebhook:
    """Posts to the Slack incoming webhook named by a secret; raises when Slack does not accept.

    The URL is read on the first post and kept for the container's life. A failed post
    forgets it, so a retry after the webhook was replaced in the secret uses the new one.
    """

    def __init__(self, secrets: Any, secret_id: str, timeout: float = 5.0) -> None:
        self._secrets = secrets
        self._secret_id = secret_id
        self._timeout = timeout
        self._url: str | None = None

    def url(self) -> str:
        if self._url is None:
            self._url = webhook_url(self._read_secret(), self._secret_id)
        return self._url

    def _read_secret(self) -> str | None:
        try:
            answer = self._secrets.get_secret_value(SecretId=self._secret_id)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            raise NotifierError(
                f"Slack webhook secret {self._secret_id} cannot be read: {code}"
            ) from error
        except BotoCoreError as error:
            raise NotifierError(
                f"Slack webhook secret {self._secret_id} cannot be read: {error}"
            ) from error
        secret = answer.get("SecretString")
        return secret if isinstance(secret, str) else None

    def post(self, message: SlackMessage, message_id: str) -> None:
        """Post one message; :class:`SlackDeliveryError` unless Slack answers 2xx."""
        request = urllib.request.Request(
            self.url(),
            data=json.dumps(message.payload()).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        alert = f"{message.kind} alert {message.title!r} (SNS message {message_id})"
        # Errors are raised "from None": urllib's exceptions carry the URL, a credential.
        try:
            with _OPENER.open(request, timeout=self._timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as error:
            self._url = None
            answer = error.read(_SHOWN_ANSWER).decode("utf-8", "replace").strip()
            raise SlackDeliveryError(
                f"Slack answered HTTP {error.code} ({answer or 'no body'}) to {alert}"
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            self._url = None
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            raise SlackDeliveryError(f"Slack not reached ({reason}) for {alert}") from None
        if not 200 <= status < 300:
            self._url = None
            raise SlackDeliveryError(f"Slack answered HTTP {status} to {alert}")


@cache
def default_webhook() -> SlackWebhook:
    """The webhook from the environment, once per Lambda container (its cold start)."""
    settings = NotifierSettings.from_env()
    secrets = client("secretsmanager", settings.endpoint_url)
    return SlackWebhook(secrets, settings.webhook_secret_id, settings.timeout_seconds)


def notify(event: Mapping[str, Any], webhook: SlackWebhook) -> int:
    """Post every SNS record of a Lambda event to Slack; returns how many were posted."""
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise NotifierError("not an SNS event: it has no Records")
    for record in records:
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict):
            raise NotifierError(f"not an SNS record: {str(record)[:200]}")
        message = slack_message(sns)
        message_id = str(sns.get("MessageId", "?"))
        logger.info(
            "posting alert to Slack",
            extra={
                "kind": message.kind,
                "title": message.title,
                "message_id": message_id,
                "topic_arn": sns.get("TopicArn"),
                "sns_message": sns.get("Message"),
            },
        )
        webhook.post(message, message_id)
    return len(records)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """Entry point for the SNS subscription of the alert topic."""
    return {"posted": notify(event, default_webhook())}
