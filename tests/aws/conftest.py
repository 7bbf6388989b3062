"""AWS services from one moto server on 127.0.0.1 (server mode: real HTTP, no mock_aws).

The server starts once per session; every test makes its own bucket, queues, topic or
stream under a unique name, so tests do not see each other's data.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from sales_lakehouse.ingest import handler
from sales_lakehouse.ingest.config import VARIABLES
from tests.aws.lambda_events import REGION

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    # Never read a developer's real profile or credentials.
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start moto_server on a free local port with fake credentials; yield its URL."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_ENV.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@dataclass
class Aws:
    """boto3 clients pointed at the moto server, and helpers to create resources."""

    endpoint: str

    def client(self, service: str) -> Any:
        s3 = {"addressing_style": "path"} if service == "s3" else None
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION, config=Config(s3=s3)
        )

    def __post_init__(self) -> None:
        self.s3 = self.client("s3")
        self.sqs = self.client("sqs")
        self.sns = self.client("sns")
        self.kinesis = self.client("kinesis")

    def bucket(self) -> str:
        name = f"landing-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def read_lines(self, bucket: str, key: str) -> list[dict[str, Any]]:
        text = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        assert text.endswith("\n")
        return [json.loads(line) for line in text.splitlines()]

    def drop_bucket(self, bucket: str) -> None:
        for key in self.keys(bucket):
            self.s3.delete_object(Bucket=bucket, Key=key)
        self.s3.delete_bucket(Bucket=bucket)

    def queue_with_dlq(self, max_receive_count: int = 2) -> tuple[str, str, str]:
        """(queue URL, queue ARN, DLQ URL): a queue whose redrive policy names a DLQ."""
        name = f"sales-events-{uuid.uuid4().hex[:8]}"
        dlq_url = self.sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = self.queue_arn(dlq_url)
        redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
        url = self.sqs.create_queue(
            QueueName=name,
            Attributes={"RedrivePolicy": json.dumps(redrive), "VisibilityTimeout": "30"},
        )["QueueUrl"]
        return url, self.queue_arn(url), dlq_url

    def queue_arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def receive_all(self, url: str, expected: int | None = None) -> list[dict[str, Any]]:
        """Receive until the queue is empty (or ``expected`` messages came), all attributes."""
        messages: list[dict[str, Any]] = []
        while expected is None or len(messages) < expected:
            batch = self.sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                break
            messages += batch
        return messages

    def alert_topic(self) -> tuple[str, str]:
        """(topic ARN, URL of an SQS queue subscribed to it) for reading published alerts."""
        suffix = uuid.uuid4().hex[:8]
        topic_arn = self.sns.create_topic(Name=f"sales-alerts-{suffix}")["TopicArn"]
        url = self.sqs.create_queue(QueueName=f"sales-alerts-{suffix}")["QueueUrl"]
        queue_arn = self.queue_arn(url)
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
                }
            ],
        }
        self.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        self.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        return topic_arn, url

    def alerts(self, url: str) -> list[dict[str, Any]]:
        """The SNS notifications (envelope with Subject and Message) waiting in ``url``."""
        return [json.loads(message["Body"]) for message in self.receive_all(url)]

    def stream(self, shards: int = 1) -> str:
        name = f"sales-events-{uuid.uuid4().hex[:8]}"
        self.kinesis.create_stream(StreamName=name, ShardCount=shards)
        self.kinesis.get_waiter("stream_exists").wait(
            StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
        )
        return name

    def stream_records(self, stream: str) -> list[dict[str, Any]]:
        """Every record of every shard, from the start, in shard then sequence order."""
        records: list[dict[str, Any]] = []
        shards = self.kinesis.list_shards(StreamName=stream)["Shards"]
        for shard in shards:
            iterator = self.kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                answer = self.kinesis.get_records(ShardIterator=iterator, Limit=1000)
                records += answer["Records"]
                if not answer["Records"]:
                    break
                iterator = answer.get("NextShardIterator")
        return records


@pytest.fixture
def aws(moto_endpoint: str) -> Aws:
    return Aws(moto_endpoint)


Configure = Callable[..., None]


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> Iterator[Configure]:
    """Set the function's environment (pointed at moto) as a cold start would see it.

    The handler builds its app from the environment once per container; clearing that
    cache makes each call of ``configure`` a new cold start with the variables given.
    """
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        handler.default_app.cache_clear()

    yield apply
    handler.default_app.cache_clear()
