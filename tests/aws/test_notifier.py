"""The alert notifier end to end: what reaches the alert topic reaches a stand-in Slack.

SNS, SQS and Secrets Manager are the moto server. A queue subscribed to the topic (raw
delivery off) receives each notification in the envelope SNS delivers, and the Lambda
SNS event is built from that envelope. Slack is a local http.server on 127.0.0.1 that
records what it is sent and can be told to answer with an error.
"""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from sales_lakehouse.ingest import handler, notifier
from sales_lakehouse.ingest.config import ConfigError
from sales_lakehouse.ingest.notifier import NotifierError, SlackDeliveryError
from tests.aws.conftest import Aws, Configure
from tests.aws.lambda_events import FakeLambdaContext, body, sale, sqs_event, sqs_record

pytestmark = pytest.mark.aws

CONTEXT = FakeLambdaContext(function_name="sales-alerts-notifier")

# As EventBridge delivers the events of the stack's rules to SNS: the whole event as
# compact JSON, no subject. Shapes from the Glue developer guide ("Automating AWS Glue
# with EventBridge", "Setting up alerts ... for AWS Glue Data Quality").
GLUE_JOB_FAILED = {
    "version": "0",
    "id": "ad3c3da1-148c-d5da-9a6a-79f1bc9a8a2e",
    "detail-type": "Glue Job State Change",
    "source": "aws.glue",
    "account": "123456789012",
    "time": "2025-03-01T02:14:06Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "jobName": "dev-sales-silver-sales",
        "severity": "ERROR",
        "state": "FAILED",
        "jobRunId": "jr_ca2144d747b45ad412d3c66a1b6934b6",
        "message": "StageFailedError: silver sales: stopped before committing, 1 fail rule(s) "
        "broke: quantity_range (row: 2 rows; e.g. O-7|1, O-9|2)",
    },
}
DQ_FAILED = {
    "version": "0",
    "id": "abcdef00-1234-5678-9abc-def012345678",
    "detail-type": "Data Quality Evaluation Results Available",
    "source": "aws.glue-dataquality",
    "account": "123456789012",
    "time": "2025-03-01T02:20:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {
        "context": {
            "contextType": "GLUE_DATA_CATALOG",
            "runId": "dqrun-0123456789abcdef",
            "databaseName": "dev_sales_silver",
            "tableName": "sales",
            "catalogId": "123456789012",
        },
        "resultID": "dqresult-0123456789abcdef",
        "rulesetNames": ["silver-sales-ruleset"],
        "state": "FAILED",
        "score": 0.75,
        "rulesSucceeded": 3,
        "rulesFailed": 1,
        "rulesSkipped": 0,
    },
}
# As a CloudWatch alarm action publishes to SNS: a subject and the alarm as JSON.
ALARM_SUBJECT = 'ALARM: "dev-sales-events-sqs-errors" in US East (N. Virginia)'
ALARM = {
    "AlarmName": "dev-sales-events-sqs-errors",
    "AlarmDescription": "The SQS consumer function raised errors (whole invocations failed).",
    "AWSAccountId": "123456789012",
    "AlarmConfigurationUpdatedTimestamp": "2025-02-28T10:00:00.000+0000",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [2.0 (01/03/25 02:10:00)] "
    "was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
    "StateChangeTime": "2025-03-01T02:15:27.123+0000",
    "Region": "US East (N. Virginia)",
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:dev-sales-events-sqs-errors",
    "OldStateValue": "OK",
    "OKActions": [],
    "AlarmActions": ["arn:aws:sns:us-east-1:123456789012:dev-sales-alerts"],
    "InsufficientDataActions": [],
    "Trigger": {
        "MetricName": "Errors",
        "Namespace": "AWS/Lambda",
        "StatisticType": "Statistic",
        "Statistic": "SUM",
        "Unit": None,
        "Dimensions": [{"value": "dev-sales-events-sqs", "name": "FunctionName"}],
        "Period": 300,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.0,
        "TreatMissingData": "notBreaching",
        "EvaluateLowSampleCountPercentile": "",
    },
}


@dataclass
class Slack:
    """A stand-in incoming webhook: its URL, the JSON bodies it got, the status it answers."""

    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    status: int = 200
    answer: bytes = b"ok"


class _Webhook(BaseHTTPRequestHandler):
    slack: Slack

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.slack.content_types.append(self.headers["Content-Type"])
        self.slack.posts.append(json.loads(self.rfile.read(length)))
        self.send_response(self.slack.status)
        self.send_header("Content-Length", str(len(self.slack.answer)))
        self.end_headers()
        self.wfile.write(self.slack.answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def start_slack() -> Iterator[Callable[[], Slack]]:
    """Starts stand-ins on free ports of 127.0.0.1; all are stopped after the test."""
    servers: list[HTTPServer] = []

    def start() -> Slack:
        slack = Slack("")
        server = HTTPServer(("127.0.0.1", 0), type("Webhook", (_Webhook,), {"slack": slack}))
        slack.url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/XXXX"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return slack

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def slack(start_slack: Callable[[], Slack]) -> Slack:
    return start_slack()


@pytest.fixture
def secrets(aws: Aws) -> Any:
    return aws.client("secretsmanager")


@pytest.fixture
def use_secret(
    secrets: Any, monkeypatch: pytest.MonkeyPatch, moto_endpoint: str
) -> Iterator[Callable[[str], str]]:
    """Store a webhook secret and point the function at it, as a cold start sees it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)

    def store(secret_string: str) -> str:
        name = f"dev/sales-lakehouse/slack-webhook-{uuid.uuid4().hex[:8]}"
        arn = str(secrets.create_secret(Name=name, SecretString=secret_string)["ARN"])
        monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", arn)
        notifier.default_webhook.cache_clear()
        return arn

    yield store
    notifier.default_webhook.cache_clear()


def sns_event(envelope: dict[str, Any]) -> dict[str, Any]:
    """The Lambda SNS event for one notification, from the envelope an SQS subscriber got."""
    topic_arn = envelope["TopicArn"]
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{topic_arn}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": envelope.get("SignatureVersion", "1"),
                    "Timestamp": envelope["Timestamp"],
                    "Signature": envelope.get("Signature", "EXAMPLE"),
                    "SigningCertUrl": envelope.get("SigningCertURL", ""),
                    "MessageId": envelope["MessageId"],
                    "Message": envelope["Message"],
                    "MessageAttributes": envelope.get("MessageAttributes", {}),
                    "Type": envelope["Type"],
                    "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
                    "TopicArn": topic_arn,
                    "Subject": envelope.get("Subject"),
                },
            }
        ]
    }


def publish(aws: Aws, topic_arn: str, message: dict[str, Any] | str, subject: str = "") -> None:
    text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
    aws.sns.publish(TopicArn=topic_arn, Message=text, **({"Subject": subject} if subject else {}))


def delivered(aws: Aws, queue_url: str) -> dict[str, Any]:
    """The one notification waiting in the subscribed queue."""
    (envelope,) = aws.alerts(queue_url)
    assert envelope["Type"] == "Notification"
    return envelope


def test_every_kind_of_alert_reaches_slack_readably(
    aws: Aws, configure: Configure, use_secret: Callable[[str], str], slack: Slack
) -> None:
    topic_arn, queue_url = aws.alert_topic()
    use_secret(slack.url)

    # (a) a consumer alert, raised and published by the consumer itself
    configure(LANDING_BUCKET=aws.bucket(), ALERT_TOPIC_ARN=topic_arn, ALERT_SALE_AMOUNT="500")
    big = sale("big", "O-BIG", quantity=3, unit_price="250.00")
    handler.sqs_handler(sqs_event([sqs_record(body(big), "m-0", 1_740_823_200_000)]), CONTEXT)
    assert notifier.handler(sns_event(delivered(aws, queue_url)), CONTEXT) == {"posted": 1}
    # (b) a Glue job failure, (c) a CloudWatch alarm, (d) a Glue Data Quality result
    for message, subject in ((GLUE_JOB_FAILED, ""), (ALARM, ALARM_SUBJECT), (DQ_FAILED, "")):
        publish(aws, topic_arn, message, subject)
        assert notifier.handler(sns_event(delivered(aws, queue_url)), CONTEXT) == {"posted": 1}

    assert slack.content_types == ["application/json"] * 4
    assert [post["text"] for post in slack.posts] == [
        ":rotating_light: *Large sale: 1 above 500, max 749.00 USD order O-BIG*\n"
        "Sales events consumer alert `large_sale` from sqs\n"
        "```{\n"
        '  "threshold": "500",\n'
        '  "count": 1,\n'
        '  "sales": [\n'
        "    {\n"
        '      "event_id": "big",\n'
        '      "order_id": "O-BIG",\n'
        '      "line_number": 1,\n'
        '      "store_id": "S001",\n'
        '      "net_amount": "749.00",\n'
        '      "currency": "USD",\n'
        '      "event_ts": "2025-03-01T09:15:02+00:00"\n'
        "    }\n"
        "  ]\n"
        "}```",
        ":x: *Glue job dev-sales-silver-sales FAILED*\n"
        "StageFailedError: silver sales: stopped before committing, 1 fail rule(s) broke: "
        "quantity_range (row: 2 rows; e.g. O-7|1, O-9|2)\n"
        "A data-quality `fail` rule stopped the stage before it committed: "
        "the broken rules and sample keys are in `quality.dq_results`.\n"
        "run jr_ca2144d747b45ad412d3c66a1b6934b6, severity ERROR, 2025-03-01T02:14:06Z, "
        "us-east-1, account 123456789012",
        ":red_circle: *CloudWatch alarm dev-sales-events-sqs-errors is ALARM*\n"
        "The SQS consumer function raised errors (whole invocations failed).\n"
        "Threshold Crossed: 1 out of the last 1 datapoints [2.0 (01/03/25 02:10:00)] was greater "
        "than the threshold (0.0) (minimum 1 datapoint for OK -&gt; ALARM transition).\n"
        "was OK, 2025-03-01T02:15:27.123+0000, US East (N. Virginia)",
        ":x: *Glue Data Quality FAILED: table dev_sales_silver.sales*\n"
        "ruleset silver-sales-ruleset: score 0.75, 1 rules failed, 3 passed, 0 skipped\n"
        "result dqresult-0123456789abcdef, 2025-03-01T02:20:00Z, us-east-1, account 123456789012",
    ]


def test_an_unknown_message_is_posted_as_received(
    aws: Aws, use_secret: Callable[[str], str], slack: Slack
) -> None:
    topic_arn, queue_url = aws.alert_topic()
    topic = topic_arn.rsplit(":", 1)[1]
    use_secret(json.dumps({"webhook_url": slack.url}))  # the JSON form of the secret
    publish(aws, topic_arn, "Reporting host disk <90%> & rising", "Ops note")
    publish(aws, topic_arn, '["not", "an", "object"]')

    for envelope in sorted(aws.alerts(queue_url), key=lambda e: not e.get("Subject")):
        notifier.handler(sns_event(envelope), CONTEXT)

    assert [post["text"] for post in slack.posts] == [
        ":bell: *Ops note*\n"
        f"Not a known alert format; the message as received on {topic}:\n"
        "```Reporting host disk &lt;90%&gt; &amp; rising```",
        f":bell: *Message on {topic}*\n"
        f"Not a known alert format; the message as received on {topic}:\n"
        '```["not", "an", "object"]```',
    ]


def test_slack_error_raises_naming_status_and_alert_and_the_retry_rereads_the_secret(
    aws: Aws,
    secrets: Any,
    use_secret: Callable[[str], str],
    start_slack: Callable[[], Slack],
) -> None:
    broken, replacement = start_slack(), start_slack()
    broken.status, broken.answer = 500, b"internal_error"
    topic_arn, queue_url = aws.alert_topic()
    arn = use_secret(broken.url)
    publish(aws, topic_arn, GLUE_JOB_FAILED)
    event = sns_event(delivered(aws, queue_url))
    message_id = event["Records"][0]["Sns"]["MessageId"]

    with pytest.raises(SlackDeliveryError) as raised:
        notifier.handler(event, CONTEXT)

    assert str(raised.value) == (
        "Slack answered HTTP 500 (internal_error) to glue_job alert "
        f"'Glue job dev-sales-silver-sales FAILED' (SNS message {message_id})"
    )
    assert len(broken.posts) == 1
    # The webhook is replaced in the secret; Lambda's retry of the same event uses it.
    secrets.put_secret_value(SecretId=arn, SecretString=replacement.url)
    notifier.handler(event, CONTEXT)
    assert len(replacement.posts) == 1
    assert replacement.posts[0]["text"].startswith(":x: *Glue job dev-sales-silver-sales FAILED*")


def test_slack_not_reachable_raises(aws: Aws, use_secret: Callable[[str], str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/services/T000/B000/XXXX"
    topic_arn, queue_url = aws.alert_topic()
    use_secret(closed)
    publish(aws, topic_arn, ALARM, ALARM_SUBJECT)

    with pytest.raises(SlackDeliveryError, match=r"^Slack not reached \(.*refused.*\) for "):
        notifier.handler(sns_event(delivered(aws, queue_url)), CONTEXT)


def test_the_secret_is_read_once_per_container(
    aws: Aws, secrets: Any, use_secret: Callable[[str], str], slack: Slack
) -> None:
    topic_arn, queue_url = aws.alert_topic()
    arn = use_secret(slack.url)
    publish(aws, topic_arn, ALARM, ALARM_SUBJECT)
    publish(aws, topic_arn, DQ_FAILED)
    first, second = aws.alerts(queue_url)

    notifier.handler(sns_event(first), CONTEXT)
    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    notifier.handler(sns_event(second), CONTEXT)

    assert len(slack.posts) == 2


def test_a_missing_secret_is_a_clear_error(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, slack: Slack
) -> None:
    gone = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dev/no-such-webhook-AbCdEf"
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", gone)
    notifier.default_webhook.cache_clear()
    topic_arn, queue_url = aws.alert_topic()
    publish(aws, topic_arn, ALARM, ALARM_SUBJECT)
    event = sns_event(delivered(aws, queue_url))

    with pytest.raises(NotifierError) as raised:
        notifier.handler(event, CONTEXT)
    assert str(raised.value) == (
        f"Slack webhook secret {gone} cannot be read: ResourceNotFoundException"
    )

    monkeypatch.delenv("SLACK_WEBHOOK_SECRET_ARN")
    notifier.default_webhook.cache_clear()
    with pytest.raises(ConfigError) as unset:
        notifier.handler(event, CONTEXT)
    assert str(unset.value) == (
        "invalid notifier configuration: SLACK_WEBHOOK_SECRET_ARN is required and not set"
    )
    notifier.default_webhook.cache_clear()
    assert slack.posts == []


@pytest.mark.parametrize(
    ("secret_string", "problem"),
    [
        ("   ", "holds no Slack webhook URL"),
        ('{"url": "https://hooks.slack.com/services/T0/B0/x"}', "holds no Slack webhook URL"),
        ("hooks.slack.com/services/T0/B0/x", "does not hold an https URL"),
        ("http://hooks.slack.com/services/T0/B0/x", "does not hold an https URL"),
        ("file:///etc/passwd", "does not hold an https URL"),
    ],
)
def test_a_secret_without_a_usable_url_is_a_clear_error(
    aws: Aws, use_secret: Callable[[str], str], secret_string: str, problem: str
) -> None:
    topic_arn, queue_url = aws.alert_topic()
    arn = use_secret(secret_string)
    publish(aws, topic_arn, DQ_FAILED)

    with pytest.raises(NotifierError) as raised:
        notifier.handler(sns_event(delivered(aws, queue_url)), CONTEXT)

    assert str(raised.value).startswith(f"secret {arn} {problem}")
    assert "T0/B0" not in str(raised.value)  # the URL is the credential


def test_an_event_that_is_not_from_sns_is_refused(
    use_secret: Callable[[str], str], slack: Slack
) -> None:
    use_secret(slack.url)

    with pytest.raises(NotifierError, match=r"^not an SNS event: it has no Records$"):
        notifier.handler(GLUE_JOB_FAILED, CONTEXT)
    assert slack.posts == []
