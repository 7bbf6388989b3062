"""Scheduled Lambda: pull new sale events from the sales API and put them on Kinesis.

Entry point ``sales_lakehouse.ingest.api_producer.handler``, invoked by an EventBridge
schedule; the scheduled event's content is ignored. Each invocation continues from the
stored cursor, fetches up to ``SOURCE_API_MAX_PAGES`` pages and returns
``{"pages": n, "events": n, "cursor": "...", "caught_up": bool}``.

The API contract (docs/streaming.md, "Pulling from a sales API")::

    GET <SOURCE_API_URL>?after=<cursor>&limit=<n>      (no ``after`` on the very first call)
    Authorization: Bearer <token>                       (only with SOURCE_API_TOKEN_SECRET_ARN)
    200 {"events": [<sale event objects>], "next_cursor": "<opaque>" | null}

- ``events``: oldest first, at most ``limit``, each a JSON object shaped as in
  ``schemas/sales_events.yaml``. A page with fewer than ``limit`` events means "caught up".
- ``next_cursor``: passed back as ``after`` to get the events after this page. It is
  required on every page that has events (also the last one available now) and must
  differ from ``after``; ``null`` means an empty page: nothing new, ask again later
  with the same ``after``.
- Anything else (a non-2xx status, a redirect, a body that is not JSON, no ``events``
  list, an event that is not an object, a cursor that does not advance) fails the
  invocation with a :class:`~sales_lakehouse.ingest.source_api.SourceApiError` naming the
  URL, the status and the problem; nothing of that page is put.

Events are not validated here. An object that breaks the event contract is put on the
stream like any other and the consumer Lambda quarantines it with the reason, next to
the raw event: one validator, one quarantine. Refusing it here would either block the
cursor on data only the source can fix or drop the event where nobody sees it.

**Cursor.** One JSON object, ``{"cursor", "updated_at", "source"}``, at
``s3://$LANDING_BUCKET/$LANDING_PREFIX/_producer/$PRODUCER_NAME/cursor.json``. S3 rather
than an SSM parameter because the bucket, its KMS key and the function's access to it
already exist, and because S3 writes can be conditional: the cursor is written with
``If-Match`` on the ETag read at the start (``If-None-Match: *`` for the first one), so
two overlapping invocations (a slow run and the next tick, or Lambda's retry of a failed
asynchronous invocation) cannot move it backwards; the loser fails with
``CursorConflictError`` (``ingest/cursor_store.py``). SSM ``PutParameter`` has no
compare-and-set. The landing bucket's versioning keeps earlier cursors (30 days) for a
manual rewind, and ``_producer/`` is no dataset folder, so the pipeline never reads it.

**Delivery is at least once.** The cursor moves past a page only after Kinesis accepted
every event of it: rejected records are retried (``send_with_retries`` of the CLI
producer); if some still fail, :class:`DeliveryError` is raised with their number and
the cursor stays, so the next invocation fetches and puts the whole page again. The
events that did get in are then on the stream twice, which is harmless: the consumer
drops a repeated ``event_id`` within a batch, and silver treats a redelivered event as
the same version of its line (same values, same ``event_ts``), counted as a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from sales_lakehouse.aws import client
from sales_lakehouse.ingest.config import (
    ConfigError,
    _bucket,
    _http_url,
    _prefix,
    _Reader,
)
from sales_lakehouse.ingest.cursor_store import S3CursorStore
from sales_lakehouse.ingest.source_api import Page, SourceApi, event_json
from sales_lakehouse.ingest.stream_put import (
    KINESIS_BATCH,
    KinesisTarget,
    Message,
    Pacing,
    Rejected,
    send_with_retries,
)

SERVICE = "sales-api-producer"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace="SalesLakehouse", service=SERVICE)

# The function's own variables, as the template sets them and from_env reads them
# (AWS_ENDPOINT_URL, a standard AWS variable, is read too: for local emulators).
VARIABLES: tuple[str, ...] = (
    "SOURCE_API_URL",
    "SOURCE_API_TOKEN_SECRET_ARN",
    "SOURCE_API_PAGE_SIZE",
    "SOURCE_API_MAX_PAGES",
    "SOURCE_API_TIMEOUT_SECONDS",
    "EVENT_STREAM_NAME",
    "LANDING_BUCKET",
    "LANDING_PREFIX",
    "PRODUCER_NAME",
)

# Kinesis PutRecords limits: 1 MiB per record and 5 MiB per call (data + partition key).
MAX_RECORD_BYTES = 1024 * 1024
MAX_CALL_BYTES = 5 * 1024 * 1024
# Hosts a token may be sent to over plain http (a local stand-in of the API).
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Time kept free, beyond the HTTP timeout, to put a page and write the cursor.
_RESERVE_SECONDS = 15


class ApiProducerError(RuntimeError):
    """An invocation stopped; the cursor was not moved past anything left undelivered."""


class DeliveryError(ApiProducerError):
    """Kinesis still rejected some events of a page after the retries."""


@dataclass(frozen=True)
class ProducerSettings:
    """Where events come from and go to, where the cursor is kept, and how much per run."""

    source_api_url: str
    event_stream_name: str
    landing_bucket: str
    landing_prefix: str = "landing"
    producer_name: str = "sales-api"
    token_secret_arn: str | None = None
    page_size: int = 500
    max_pages: int = 20
    timeout_seconds: float = 10.0
    endpoint_url: str | None = None

    @property
    def cursor_key(self) -> str:
        return f"{self.landing_prefix}/_producer/{self.producer_name}/cursor.json"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProducerSettings:
        """Parse and check the variables; raise one :class:`ConfigError` listing every problem."""
        reader = _Reader(os.environ if env is None else env)
        settings = cls(
            source_api_url=reader.required("SOURCE_API_URL", _http_url),
            event_stream_name=reader.required("EVENT_STREAM_NAME", _name(128)),
            landing_bucket=reader.required("LANDING_BUCKET", _bucket),
            landing_prefix=reader.optional("LANDING_PREFIX", _prefix) or "landing",
            producer_name=reader.optional("PRODUCER_NAME", _name(64)) or cls.producer_name,
            token_secret_arn=reader.optional("SOURCE_API_TOKEN_SECRET_ARN", _secret_arn),
            page_size=reader.optional("SOURCE_API_PAGE_SIZE", _count(10_000)) or cls.page_size,
            max_pages=reader.optional("SOURCE_API_MAX_PAGES", _count(1_000)) or cls.max_pages,
            timeout_seconds=reader.optional("SOURCE_API_TIMEOUT_SECONDS", _seconds)
            or cls.timeout_seconds,
            endpoint_url=reader.optional("AWS_ENDPOINT_URL", _http_url),
        )
        url = urlsplit(settings.source_api_url)
        if settings.token_secret_arn and url.scheme != "https" and url.hostname not in _LOOPBACK:
            reader.problems.append("SOURCE_API_URL must be https when a token is sent")
        if reader.problems:
            raise ConfigError("invalid Lambda configuration: " + "; ".join(reader.problems))
        return settings


class ApiProducer:
    """Pulls pages from the API and puts each on Kinesis before moving the cursor past it.

    Clients may be passed in (tests, other runtimes); by default they are built from the
    settings' endpoint. ``pacing``: the Kinesis retry settings.
    """

    def __init__(
        self,
        settings: ProducerSettings,
        *,
        kinesis: Any = None,
        s3: Any = None,
        secrets: Any = None,
        pacing: Pacing | None = None,
    ) -> None:
        self.settings = settings
        self._kinesis = kinesis if kinesis is not None else client("kinesis", settings.endpoint_url)
        s3 = s3 if s3 is not None else client("s3", settings.endpoint_url)
        source = urlunsplit(urlsplit(settings.source_api_url)._replace(query="", fragment=""))
        self.cursors = S3CursorStore(s3, settings.landing_bucket, settings.cursor_key, source)
        self._secrets = secrets
        self._pacing = pacing or Pacing()

    def run(self, context: Any = None) -> dict[str, Any]:
        """Fetch and put pages until caught up, out of pages or (in Lambda) out of time."""
        limit, timeout = self.settings.page_size, self.settings.timeout_seconds
        api = SourceApi(self.settings.source_api_url, timeout, self._token())
        state = self.cursors.read()
        pages = events = 0
        caught_up = False
        for number in range(self.settings.max_pages):
            if number and _seconds_left(context) < timeout + _RESERVE_SECONDS:
                logger.warning("stopping early: too little time left for another page")
                break
            page = api.fetch(state.cursor, limit)
            self._put(page, state.cursor)
            pages, events = pages + 1, events + len(page.events)
            if page.next_cursor is not None and page.next_cursor != state.cursor:
                state = self.cursors.write(page.next_cursor, state)
            logger.info("page done", extra={"events": len(page.events), "cursor": state.cursor})
            if page.next_cursor is None or len(page.events) < limit:
                caught_up = True
                break
        return {"pages": pages, "events": events, "cursor": state.cursor, "caught_up": caught_up}

    def _token(self) -> str | None:
        """The bearer token, read on every run so that a rotated secret is picked up.

        The secret's value is the token itself or ``{"token": "..."}``.
        """
        if not self.settings.token_secret_arn:
            return None
        if self._secrets is None:
            self._secrets = client("secretsmanager", self.settings.endpoint_url)
        answer = self._secrets.get_secret_value(SecretId=self.settings.token_secret_arn)
        text = str(answer.get("SecretString") or "").strip()
        try:
            stored = json.loads(text)
        except ValueError:
            stored = None
        token = str(stored.get("token") or "") if isinstance(stored, dict) else text
        if not token.strip():
            raise ApiProducerError(
                f"secret {self.settings.token_secret_arn} holds no token "
                '(expected the token itself or {"token": "..."})'
            )
        return token.strip()

    def _put(self, page: Page, cursor: str | None) -> None:
        """Put every event of the page; :class:`DeliveryError` if Kinesis keeps some out."""
        messages = [_message(event) for event in page.events]
        stream = self.settings.event_stream_name
        for batch in _batches(messages):
            target = _Remembering(KinesisTarget(self._kinesis, stream))
            failed = send_with_retries(target, batch, self._pacing)
            if failed:
                reasons = ", ".join(f"{code} x{n}" for code, n in Counter(target.reasons).items())
                raise DeliveryError(
                    f"{len(failed)} of the {len(messages)} events of the page after cursor "
                    f"{cursor!r} still rejected by Kinesis stream {stream} after "
                    f"{self._pacing.attempts} attempts ({reasons}); the cursor was not moved, "
                    "the next invocation fetches and puts the page again"
                )


class _Remembering:
    """A target that keeps the error codes of the last call, for the error message."""

    def __init__(self, target: KinesisTarget) -> None:
        self._target = target
        self.batch_size = target.batch_size
        self.reasons: list[str] = []

    def send(self, batch: Sequence[Message]) -> Rejected:
        rejected = self._target.send(batch)
        self.reasons = rejected.reasons
        return rejected


def _message(event: dict[str, Any]) -> Message:
    """A Kinesis record for an event: partition key order_id, as the CLI producer uses.

    An event without a usable order_id (the consumer will quarantine it) is keyed by
    the hash of its body, so it still gets a valid, evenly spread partition key.
    """
    body = event_json(event)
    order_id = event.get("order_id")
    key = order_id if isinstance(order_id, str) and 1 <= len(order_id) <= 256 else None
    return Message(body, key or hashlib.sha256(body.encode()).hexdigest(), "api")


def _batches(messages: Sequence[Message]) -> Iterator[list[Message]]:
    """PutRecords calls within Kinesis's count and size limits; checked before any put."""
    sizes = [len(m.body.encode()) + len(m.partition_key.encode()) for m in messages]
    too_big = [index for index, size in enumerate(sizes) if size > MAX_RECORD_BYTES]
    if too_big:
        raise DeliveryError(
            f"events at positions {too_big[:10]} of the page are above Kinesis's 1 MiB "
            "record limit; nothing of the page was put"
        )
    batch: list[Message] = []
    total = 0
    for message, size in zip(messages, sizes, strict=True):
        if batch and (len(batch) == KINESIS_BATCH or total + size > MAX_CALL_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(message)
        total += size
    if batch:
        yield batch


def _seconds_left(context: Any) -> float:
    """Seconds before the Lambda times out; unlimited outside Lambda."""
    if context is None or not hasattr(context, "get_remaining_time_in_millis"):
        return float("inf")
    return float(context.get_remaining_time_in_millis()) / 1000


def _name(longest: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if len(text) > longest or not all(
            c.isascii() and (c.isalnum() or c in "_.-") for c in text
        ):
            raise ValueError(f"must be 1-{longest} of A-Z a-z 0-9 _ . -")
        return text

    return parse


def _count(highest: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or not 1 <= int(text) <= highest:
            raise ValueError(f"must be a whole number from 1 to {highest}")
        return int(text)

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("is not a number") from None
    if not 0 < value <= 900:
        raise ValueError("must be above 0 and at most 900 (seconds)")
    return value


def _secret_arn(text: str) -> str:
    parts = text.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "secretsmanager" or parts[5] != "secret":
        raise ValueError("is not a Secrets Manager secret ARN (arn:aws:secretsmanager:...)")
    return text


@cache
def default_producer() -> ApiProducer:
    """The producer built from the environment, once per Lambda container."""
    return ApiProducer(ProducerSettings.from_env())


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point for the EventBridge schedule: one pull-and-put run."""
    try:
        summary = default_producer().run(context)
    except Exception:
        metrics.add_metric(name="ProducerRunsFailed", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="PagesFetched", unit=MetricUnit.Count, value=summary["pages"])
    metrics.add_metric(name="EventsPut", unit=MetricUnit.Count, value=summary["events"])
    logger.info("run done", extra=summary)
    return summary
