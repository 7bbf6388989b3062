"""Slack messages for the alert topic's message kinds, and the webhook URL check, without AWS."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from sales_lakehouse.ingest.config import ConfigError
from sales_lakehouse.ingest.notifier import NotifierError, NotifierSettings, webhook_url
from sales_lakehouse.ingest.slack_messages import DQ_STOP_MARK, SHOWN_CHARS, slack_message
from sales_lakehouse.quality.results import CheckResult, failure_message

TOPIC = "arn:aws:sns:us-east-1:123456789012:dev-sales-alerts"


def sns(message: dict[str, Any] | str, subject: str | None = None) -> dict[str, Any]:
    text = message if isinstance(message, str) else json.dumps(message)
    return {"Message": text, "Subject": subject, "TopicArn": TOPIC, "MessageId": "m-1"}


def glue_job(state: str, message: str) -> dict[str, Any]:
    detail = {"jobName": "dev-sales-gold", "severity": "INFO", "state": state}
    detail |= {"jobRunId": "jr_1", "message": message}
    return {"detail-type": "Glue Job State Change", "source": "aws.glue", "detail": detail}


def test_job_states_and_a_message_without_a_dq_stop() -> None:
    timeout = slack_message(sns(glue_job("TIMEOUT", "Job run timed out")))
    succeeded = slack_message(sns(glue_job("SUCCEEDED", "Job run succeeded")))

    assert (timeout.kind, succeeded.kind) == ("glue_job", "glue_job")
    assert timeout.text() == (
        ":x: *Glue job dev-sales-gold TIMEOUT*\nJob run timed out\nrun jr_1, severity INFO"
    )
    assert succeeded.text().startswith(":white_check_mark: *Glue job dev-sales-gold SUCCEEDED*")


def test_silver_stopped_by_a_fail_rule_is_recognised_in_the_job_message() -> None:
    """The mark the notifier looks for is what the silver stage actually raises."""
    broken = CheckResult(
        "r1", "silver", "sales", "quantity_range", "row", "fail", 10, 2, False, datetime(2025, 3, 1)
    )
    raised = failure_message("silver", "sales", [broken])

    assert DQ_STOP_MARK in raised
    text = slack_message(sns(glue_job("FAILED", f"StageFailedError: {raised}"))).text()
    assert "A data-quality `fail` rule stopped the stage before it committed" in text


def test_data_quality_in_a_glue_job_and_the_other_spelling_of_result_id() -> None:
    event = {
        "detail-type": "Data Quality Evaluation Results Available",
        "source": "aws.glue-dataquality",
        "detail": {
            "context": {
                "contextType": "GLUE_JOB",
                "jobId": "jr-12334567890",
                "jobName": "dq-eval-job-1234",
                "evaluationContext": "silver_sales",
            },
            "resultId": "dqresult-1",
            "rulesetNames": ["a", "b"],
            "state": "SUCCEEDED",
            "score": 1,
            "rulesSucceeded": 4,
            "rulesFailed": 0,
            "rulesSkipped": 1,
        },
    }

    assert slack_message(sns(event)).text() == (
        ":white_check_mark: *Glue Data Quality SUCCEEDED: job dq-eval-job-1234 (silver_sales)*\n"
        "ruleset a, b: score 1.00, 0 rules failed, 4 passed, 1 skipped\n"
        "result dqresult-1"
    )


def test_alarm_back_to_ok() -> None:
    alarm = {
        "AlarmName": "lag",
        "AlarmDescription": None,
        "NewStateValue": "OK",
        "NewStateReason": "Threshold Crossed: 1 datapoint (0.0) was not greater than 0.0",
        "StateChangeTime": "2025-03-01T03:00:00.000+0000",
        "Region": "EU (Ireland)",
        "OldStateValue": "ALARM",
    }

    assert slack_message(sns(alarm, 'OK: "lag" in EU (Ireland)')).text() == (
        ":large_green_circle: *CloudWatch alarm lag is OK*\n"
        "Threshold Crossed: 1 datapoint (0.0) was not greater than 0.0\n"
        "was ALARM, 2025-03-01T03:00:00.000+0000, EU (Ireland)"
    )


def test_consumer_alert_title_is_escaped_and_json_without_details_has_no_block() -> None:
    alert = {"alert": "custom", "subject": "Returns <b>&</b> refunds"}

    assert slack_message(sns(alert, "Returns")).text() == (
        ":rotating_light: *Returns &lt;b&gt;&amp;&lt;/b&gt; refunds*\n"
        "Sales events consumer alert `custom`"
    )


def test_a_long_unknown_message_is_cut_and_says_so() -> None:
    text = "x" * (SHOWN_CHARS + 10)

    posted = slack_message(sns(text)).text()

    assert posted == (
        ":bell: *Message on dev-sales-alerts*\n"
        "Not a known alert format; the message as received on dev-sales-alerts:\n"
        f"```{'x' * 2500}```\n"
        "_cut at 2500 of 2510 characters; all of it is in the log_"
    )


@pytest.mark.parametrize(
    ("secret", "url"),
    [
        ("https://hooks.slack.com/services/T0/B0/x", "https://hooks.slack.com/services/T0/B0/x"),
        (' {"webhook_url": " https://hooks.slack.com/x "} ', "https://hooks.slack.com/x"),
        ("http://localhost:8080/hook", "http://localhost:8080/hook"),
        ("http://[::1]:8080/hook", "http://[::1]:8080/hook"),
    ],
)
def test_webhook_url_forms(secret: str, url: str) -> None:
    assert webhook_url(secret, "s") == url


@pytest.mark.parametrize(
    "secret",
    [None, "", '{"webhook_url": 5}', '{"webhook_url": "', "http://10.0.0.1/hook", "https://"],
)
def test_webhook_url_refused(secret: str | None) -> None:
    with pytest.raises(NotifierError, match=r"^secret s "):
        webhook_url(secret, "s")


def test_settings_from_env() -> None:
    env = {"SLACK_WEBHOOK_SECRET_ARN": " arn:x ", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}

    assert NotifierSettings.from_env(env) == NotifierSettings(
        "arn:x", endpoint_url="http://127.0.0.1:5000"
    )
    with pytest.raises(ConfigError, match="SLACK_WEBHOOK_SECRET_ARN is required and not set"):
        NotifierSettings.from_env({"SLACK_WEBHOOK_SECRET_ARN": " "})
