"""The scheduled API producer against moto (Kinesis, S3, Secrets Manager) and a local API.

The sales API is an ``http.server`` on 127.0.0.1 serving pages of a list of events the
test writes (as JSON text, so a number such as ``19.90`` is sent exactly as written),
with cursors ``pos-<n>``; it can answer a queued fault instead of a page.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from sales_lakehouse.ingest import api_producer, handler
from sales_lakehouse.ingest.api_producer import (
    VARIABLES,
    ApiProducer,
    DeliveryError,
    ProducerSettings,
)
from sales_lakehouse.ingest.config import ConfigError
from sales_lakehouse.ingest.cursor_store import CursorConflictError, S3CursorStore
from sales_lakehouse.ingest.source_api import SourceApiError
from sales_lakehouse.ingest.stream_put import Pacing
from tests.aws.conftest import Aws, Configure
from tests.aws.lambda_events import (
    ACCOUNT,
    REGION,
    FakeLambdaContext,
    body,
    kinesis_event_from_records,
    sale,
)
from tests.unit.test_ingest_no_spark import spark_modules_after_importing

pytestmark = pytest.mark.aws

CONTEXT = FakeLambdaContext()
# What an EventBridge schedule sends; the producer ignores it.
SCHEDULED_EVENT = {
    "version": "0",
    "id": "89d1a02d-5ec7-412e-82f5-13505f849b41",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": ACCOUNT,
    "time": "2025-03-01T10:00:00Z",
    "region": REGION,
    "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/sales-api-producer"],
    "detail": {},
}
THROTTLED = {
    "ErrorCode": "ProvisionedThroughputExceededException",
    "ErrorMessage": "Rate exceeded for shard shardId-000000000000.",
}
# Answers the API gives instead of a page, one per queued fault.
FAULTS: dict[str, tuple[int, bytes]] = {
    "500": (500, b'{"message": "internal error"}'),
    "not_json": (200, b"<html>upstream timeout</html>"),
    "no_events": (200, b'{"items": [], "next_cursor": null}'),
    "not_object": (200, b'{"events": [{"event_id": "e-3"}, "e-4"], "next_cursor": "pos-4"}'),
}


class FakeSalesApi:
    """``GET ...?after=pos-<n>&limit=<k>`` over ``events``; records every request."""

    def __init__(self) -> None:
        self.url = ""
        self.events: list[str] = []
        self.faults: list[str] = []
        self.queries: list[dict[str, str]] = []
        self.authorizations: list[str | None] = []

    def add(self, *event_ids: str) -> None:
        for event_id in event_ids:
            self.events.append(body(sale(event_id, f"O-{event_id}")))

    def answer(self, query: dict[str, str]) -> tuple[int, bytes]:
        if self.faults and self.faults[0] == "slow":
            self.faults.pop(0)
            time.sleep(1)
        elif self.faults:
            return FAULTS[self.faults.pop(0)]
        start = int(query.get("after", "pos-0").removeprefix("pos-"))
        page = self.events[start : start + int(query["limit"])]
        cursor = f'"pos-{start + len(page)}"' if page else "null"
        text = '{"events": [' + ", ".join(page) + '], "next_cursor": ' + cursor + "}"
        return 200, text.encode()


@pytest.fixture
def api() -> Iterator[FakeSalesApi]:
    """The fake sales API on a free port of 127.0.0.1, in a thread."""
    state = FakeSalesApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.queries.append(dict(parse_qsl(urlsplit(self.path).query)))
            state.authorizations.append(self.headers.get("Authorization"))
            status, payload = state.answer(state.queries[-1])
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except ConnectionError:  # the client gave up waiting ("slow")
                pass

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/v1/sale-events"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


class FlakyKinesis:
    """The moto Kinesis client, except that PutRecords rejects the records of chosen
    events (event id -> how many more times) as throttled, as Kinesis reports it."""

    def __init__(self, kinesis: Any, failures: dict[str, int]) -> None:
        self.kinesis = kinesis
        self.failures = failures
        self.calls: list[list[str]] = []

    def put_records(  # boto3's parameter names
        self,
        *,
        StreamName: str,  # noqa: N803
        Records: list[dict[str, Any]],  # noqa: N803
    ) -> dict[str, Any]:
        ids = [json.loads(record["Data"])["event_id"] for record in Records]
        self.calls.append(ids)
        rejected = set()
        for index, event_id in enumerate(ids):
            if self.failures.get(event_id, 0) > 0:
                self.failures[event_id] -= 1
                rejected.add(index)
        kept = [record for index, record in enumerate(Records) if index not in rejected]
        answer = self.kinesis.put_records(StreamName=StreamName, Records=kept) if kept else {}
        accepted = iter(answer.get("Records", []))
        results = [THROTTLED if i in rejected else next(accepted) for i in range(len(Records))]
        return {"FailedRecordCount": len(rejected), "Records": results}


def producer(
    aws: Aws, api: FakeSalesApi, stream: str, bucket: str, kinesis: Any = None, **settings: Any
) -> tuple[ApiProducer, list[float]]:
    """A producer as a new Lambda container would build it, and its recorded backoffs."""
    slept: list[float] = []
    producer = ApiProducer(
        ProducerSettings(api.url, stream, bucket, **settings),
        kinesis=kinesis or aws.client("kinesis"),
        s3=aws.client("s3"),
        pacing=Pacing(attempts=3, sleep=slept.append),
    )
    return producer, slept


def stream_event_ids(aws: Aws, stream: str) -> list[str]:
    return [json.loads(record["Data"])["event_id"] for record in aws.stream_records(stream)]


def stored_cursor(aws: Aws, bucket: str) -> Any:
    key = "landing/_producer/sales-api/cursor.json"
    return json.loads(aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())["cursor"]


def test_two_invocations_pull_three_pages_and_put_each_event_once(
    aws: Aws, api: FakeSalesApi
) -> None:
    stream, bucket = aws.stream(), aws.bucket()
    api.add("e-1", "e-2")
    # Money as a JSON number with its trailing zero: it must reach Kinesis as written.
    api.events.append(
        body(sale("e-3", "O-e-3")).replace('"unit_price": "19.9"', '"unit_price": 19.90')
    )
    api.add("e-4", "e-5")

    first, _ = producer(aws, api, stream, bucket, page_size=2, max_pages=2)
    assert first.run(CONTEXT) == {"pages": 2, "events": 4, "cursor": "pos-4", "caught_up": False}
    assert stored_cursor(aws, bucket) == "pos-4"

    second, _ = producer(aws, api, stream, bucket, page_size=2, max_pages=2)
    assert second.run(CONTEXT) == {"pages": 1, "events": 1, "cursor": "pos-5", "caught_up": True}

    assert api.queries == [
        {"limit": "2"},
        {"after": "pos-2", "limit": "2"},
        {"after": "pos-4", "limit": "2"},
    ]
    records = aws.stream_records(stream)
    assert [json.loads(r["Data"])["event_id"] for r in records] == [
        "e-1",
        "e-2",
        "e-3",
        "e-4",
        "e-5",
    ]
    assert [r["PartitionKey"] for r in records] == ["O-e-1", "O-e-2", "O-e-3", "O-e-4", "O-e-5"]
    assert b'"unit_price":19.90,' in records[2]["Data"]
    assert stored_cursor(aws, bucket) == "pos-5"
    assert api.authorizations == [None, None, None]


def test_caught_up_run_puts_nothing_and_new_events_follow(aws: Aws, api: FakeSalesApi) -> None:
    stream, bucket = aws.stream(), aws.bucket()
    api.add("e-1", "e-2", "e-3")
    run, _ = producer(aws, api, stream, bucket, page_size=2)
    assert run.run(CONTEXT) == {"pages": 2, "events": 3, "cursor": "pos-3", "caught_up": True}

    assert run.run(CONTEXT) == {"pages": 1, "events": 0, "cursor": "pos-3", "caught_up": True}
    api.add("e-4")
    assert run.run(CONTEXT) == {"pages": 1, "events": 1, "cursor": "pos-4", "caught_up": True}

    assert api.queries[2:] == [{"after": "pos-3", "limit": "2"}, {"after": "pos-3", "limit": "2"}]
    assert stream_event_ids(aws, stream) == ["e-1", "e-2", "e-3", "e-4"]


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ("500", """HTTP 500: expected a 2xx status; body: '{"message": "internal error"}'"""),
        (
            "not_json",
            "HTTP 200: body is not JSON (Expecting value: line 1 column 1 (char 0)): "
            "'<html>upstream timeout</html>'",
        ),
        ("no_events", 'HTTP 200: "events" is null or missing, expected a list of event objects'),
        ("not_object", "HTTP 200: events at positions [1] are not JSON objects"),
    ],
)
def test_bad_answer_puts_nothing_keeps_the_cursor_and_the_page_comes_next_time(
    aws: Aws, api: FakeSalesApi, fault: str, problem: str
) -> None:
    stream, bucket = aws.stream(), aws.bucket()
    api.add("e-1", "e-2", "e-3", "e-4", "e-5")
    run, _ = producer(aws, api, stream, bucket, page_size=2, max_pages=1)
    assert run.run(CONTEXT)["cursor"] == "pos-2"
    key = "landing/_producer/sales-api/cursor.json"
    etag = aws.s3.head_object(Bucket=bucket, Key=key)["ETag"]

    api.faults.append(fault)
    with pytest.raises(SourceApiError) as raised:
        run.run(CONTEXT)

    assert str(raised.value) == f"GET {api.url}?after=pos-2&limit=2: {problem}"
    assert stream_event_ids(aws, stream) == ["e-1", "e-2"]
    assert aws.s3.head_object(Bucket=bucket, Key=key)["ETag"] == etag
    assert stored_cursor(aws, bucket) == "pos-2"

    # The API recovered: the same page is asked for again and delivered.
    assert run.run(CONTEXT) == {"pages": 1, "events": 2, "cursor": "pos-4", "caught_up": False}
    assert api.queries[1:] == [{"after": "pos-2", "limit": "2"}] * 2
    assert stream_event_ids(aws, stream) == ["e-1", "e-2", "e-3", "e-4"]


def test_an_api_that_does_not_answer_in_time_is_a_clear_error(aws: Aws, api: FakeSalesApi) -> None:
    stream, bucket = aws.stream(), aws.bucket()
    api.add("e-1")
    api.faults.append("slow")
    run, _ = producer(aws, api, stream, bucket, page_size=2, timeout_seconds=0.2)

    with pytest.raises(SourceApiError) as raised:
        run.run(CONTEXT)

    assert str(raised.value) == f"GET {api.url}?limit=2: no answer: timed out"
    assert stream_event_ids(aws, stream) == []
    assert aws.keys(bucket) == []
    assert run.run(CONTEXT) == {"pages": 1, "events": 1, "cursor": "pos-1", "caught_up": True}


def test_rejected_records_are_retried_and_nothing_is_lost(aws: Aws, api: FakeSalesApi) -> None:
    stream, bucket = aws.stream(), aws.bucket()
    api.add("e-1", "e-2", "e-3", "e-4", "e-5")
    kinesis = FlakyKinesis(aws.client("kinesis"), {"e-2": 2, "e-4": 1})
    run, slept = producer(aws, api, stream, bucket, kinesis, page_size=5)

    # A full page, then an empty one that says "caught up".
    assert run.run(CONTEXT) == {"pages": 2, "events": 5, "cursor": "pos-5", "caught_up": True}

    assert kinesis.calls == [["e-1", "e-2", "e-3", "e-4", "e-5"], ["e-2", "e-4"], ["e-2"]]
    assert slept == [0.1, 0.2]
    assert sorted(stream_event_ids(aws, stream)) == ["e-1", "e-2", "e-3", "e-4", "e-5"]


def test_records_still_rejected_fail_the_run_and_keep_the_cursor(
    aws: Aws, api: FakeSalesApi, configure: Configure
) -> None:
    stream, bucket = aws.stream(), aws.bucket()
    api.add("e-1", "e-2", "e-3", "e-4", "e-5")
    kinesis = FlakyKinesis(aws.client("kinesis"), {"e-4": 3})
    run, slept = producer(aws, api, stream, bucket, kinesis, page_size=2)

    with pytest.raises(DeliveryError) as raised:
        run.run(CONTEXT)

    assert str(raised.value) == (
        f"1 of the 2 events of the page after cursor 'pos-2' still rejected by Kinesis stream "
        f"{stream} after 3 attempts (ProvisionedThroughputExceededException x1); the cursor "
        "was not moved, the next invocation fetches and puts the page again"
    )
    assert kinesis.calls == [["e-1", "e-2"], ["e-3", "e-4"], ["e-4"], ["e-4"]]
    assert slept == [0.1, 0.2]
    assert stored_cursor(aws, bucket) == "pos-2"
    assert stream_event_ids(aws, stream) == ["e-1", "e-2", "e-3"]

    # Kinesis recovered: the page is fetched and put again; e-3 is on the stream twice.
    assert run.run(CONTEXT) == {"pages": 2, "events": 3, "cursor": "pos-5", "caught_up": True}
    assert Counter(stream_event_ids(aws, stream)) == Counter(
        {"e-1": 1, "e-2": 1, "e-3": 2, "e-4": 1, "e-5": 1}
    )

    # Harmless: the consumer, given the whole stream as one batch, lands each event once.
    configure(LANDING_BUCKET=bucket)
    event = kinesis_event_from_records(aws.stream_records(stream), stream)
    assert handler.kinesis_handler(event, CONTEXT) == {"batchItemFailures": []}
    (landed,) = aws.keys(bucket, "landing/sales_events/")
    assert [line["event_id"] for line in aws.read_lines(bucket, landed)] == [
        "e-1",
        "e-2",
        "e-3",
        "e-4",
        "e-5",
    ]


def test_event_breaking_the_contract_is_put_and_quarantined_by_the_consumer(
    aws: Aws, api: FakeSalesApi, configure: Configure
) -> None:
    stream, bucket = aws.stream(), aws.bucket()
    api.add("e-1")
    api.events.append(body(sale("e-2", "O-e-2", quantity=0)))
    api.events.append('{"event_id": "e-3", "note": "no order_id"}')
    run, _ = producer(aws, api, stream, bucket, page_size=10)

    assert run.run(CONTEXT) == {"pages": 1, "events": 3, "cursor": "pos-3", "caught_up": True}

    records = aws.stream_records(stream)
    assert [r["PartitionKey"] for r in records[:2]] == ["O-e-1", "O-e-2"]
    assert len(records[2]["PartitionKey"]) == 64  # sha256 of the body: no order_id to use
    configure(LANDING_BUCKET=bucket)
    event = kinesis_event_from_records(records, stream)
    assert handler.kinesis_handler(event, CONTEXT) == {"batchItemFailures": []}
    (landed,) = aws.keys(bucket, "landing/sales_events/")
    assert [line["event_id"] for line in aws.read_lines(bucket, landed)] == ["e-1"]
    (quarantined,) = aws.keys(bucket, "landing/_quarantine/")
    errors = [line["error"] for line in aws.read_lines(bucket, quarantined)]
    assert errors[0] == "invalid event: quantity: Input should be greater than or equal to 1"
    assert errors[1].startswith("invalid event: order_id: Field required;")


def test_a_second_writer_cannot_move_the_cursor_back(aws: Aws) -> None:
    bucket = aws.bucket()
    key = "landing/_producer/sales-api/cursor.json"
    store = S3CursorStore(aws.client("s3"), bucket, key, "https://api.example.com/v1/sale-events")
    start = store.read()
    assert (start.cursor, start.etag) == (None, None)

    mine = store.write("pos-2", start)
    with pytest.raises(CursorConflictError) as raised:
        store.write("pos-1", start)  # a slower invocation that also started with no cursor
    assert str(raised.value) == (
        f"s3://{bucket}/{key} was changed by another invocation since this one read it; this "
        "run's last page (up to 'pos-1') is on the stream, the cursor is left as the other "
        "invocation wrote it"
    )
    later = store.write("pos-4", mine)
    with pytest.raises(CursorConflictError):
        store.write("pos-3", mine)

    assert store.read() == later
    assert later.cursor == "pos-4"
    stored = json.loads(aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert (stored["cursor"], stored["source"]) == (
        "pos-4",
        "https://api.example.com/v1/sale-events",
    )


@pytest.mark.parametrize("secret", ["s3cr3t\n", '{"token": "s3cr3t"}'])
def test_handler_reads_the_environment_and_sends_the_token(
    aws: Aws, api: FakeSalesApi, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    stream, bucket = aws.stream(), aws.bucket()
    api.add("e-1", "e-2", "e-3")
    secrets = aws.client("secretsmanager")
    name = f"sales-api-token-{stream}"
    arn = secrets.create_secret(Name=name, SecretString=secret)["ARN"]
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    environment = {
        "SOURCE_API_URL": api.url + "?region=eu",
        "SOURCE_API_TOKEN_SECRET_ARN": arn,
        "SOURCE_API_PAGE_SIZE": "2",
        "EVENT_STREAM_NAME": stream,
        "LANDING_BUCKET": bucket,
        "LANDING_PREFIX": "/raw/",
        "PRODUCER_NAME": "pos-eu",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    api_producer.default_producer.cache_clear()
    try:
        summary = api_producer.handler(SCHEDULED_EVENT, CONTEXT)
    finally:
        api_producer.default_producer.cache_clear()

    assert summary == {"pages": 2, "events": 3, "cursor": "pos-3", "caught_up": True}
    assert api.authorizations == ["Bearer s3cr3t", "Bearer s3cr3t"]
    assert api.queries == [
        {"region": "eu", "limit": "2"},
        {"region": "eu", "after": "pos-2", "limit": "2"},
    ]
    assert aws.keys(bucket) == ["raw/_producer/pos-eu/cursor.json"]
    assert stream_event_ids(aws, stream) == ["e-1", "e-2", "e-3"]


def test_configuration_error_names_every_bad_variable() -> None:
    env = {
        "SOURCE_API_URL": "ftp://sales.example.com/events",
        "EVENT_STREAM_NAME": "sales events",
        "SOURCE_API_PAGE_SIZE": "0",
        "SOURCE_API_TIMEOUT_SECONDS": "ten",
        "SOURCE_API_TOKEN_SECRET_ARN": "sales-api-token",
    }
    with pytest.raises(ConfigError) as raised:
        ProducerSettings.from_env(env)

    assert str(raised.value) == (
        "invalid Lambda configuration: "
        "SOURCE_API_URL='ftp://sales.example.com/events' is not an http(s) URL; "
        "EVENT_STREAM_NAME='sales events' must be 1-128 of A-Z a-z 0-9 _ . -; "
        "LANDING_BUCKET is required and not set; "
        "SOURCE_API_TOKEN_SECRET_ARN='sales-api-token' is not a Secrets Manager secret ARN "
        "(arn:aws:secretsmanager:...); "
        "SOURCE_API_PAGE_SIZE='0' must be a whole number from 1 to 10000; "
        "SOURCE_API_TIMEOUT_SECONDS='ten' is not a number"
    )

    plain_http = {
        "SOURCE_API_URL": "http://sales.example.com/events",
        "SOURCE_API_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t-AbCdEf",
        "EVENT_STREAM_NAME": "sales-events",
        "LANDING_BUCKET": "landing-bucket",
    }
    with pytest.raises(ConfigError, match=r"SOURCE_API_URL must be https when a token is sent$"):
        ProducerSettings.from_env(plain_http)


def test_the_producer_function_imports_no_spark() -> None:
    assert spark_modules_after_importing("sales_lakehouse.ingest.api_producer") == "[]"
