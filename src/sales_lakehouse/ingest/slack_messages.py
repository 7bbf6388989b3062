"""Slack messages for what arrives on the SNS alert topic, one kind at a time.

The topic carries four kinds of message, each recognised from its JSON body:

- the consumer's alerts (``alerts.SnsPublisher``: ``{"alert", "subject", ...details}``);
- Glue job state changes and Glue Data Quality results, the EventBridge events as
  EventBridge delivers them to SNS (the whole event as JSON, no subject);
- CloudWatch alarm state changes (``AlarmName``, ``NewStateValue``, ``NewStateReason`` ...).

Anything else is shown as received, so a message nobody planned for still reaches people.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# A message body longer than this is cut in Slack (the full text is in the function's log).
SHOWN_CHARS = 2500
# How silver stops on a broken `fail` rule (quality.results.failure_message): the Glue job
# then fails with this text in its error message.
DQ_STOP_MARK = "fail rule(s) broke"
_JOB_EMOJI = {"FAILED": ":x:", "TIMEOUT": ":x:", "ERROR": ":x:", "SUCCEEDED": ":white_check_mark:"}
_ALARM_EMOJI = {"ALARM": ":red_circle:", "OK": ":large_green_circle:"}


@dataclass(frozen=True)
class SlackMessage:
    """One Slack post: the kind it was recognised as, a title and lines of mrkdwn."""

    kind: str
    emoji: str
    title: str
    lines: tuple[str, ...] = ()

    def text(self) -> str:
        """The mrkdwn text: the title in bold, then the lines (already escaped)."""
        return "\n".join([f"{self.emoji} *{escape(self.title)}*", *self.lines])

    def payload(self) -> dict[str, Any]:
        """The incoming-webhook body."""
        return {"text": self.text()}


def slack_message(sns: Mapping[str, Any]) -> SlackMessage:
    """The Slack message for one SNS notification (the ``Sns`` part of a Lambda record)."""
    text = str(sns.get("Message") or "")
    body = _json_object(text)
    if body is not None:
        recognisers: tuple[Callable[[Mapping[str, Any]], SlackMessage | None], ...] = (
            consumer_alert,
            glue_job_state,
            data_quality_result,
            cloudwatch_alarm,
        )
        for recognise in recognisers:
            message = recognise(body)
            if message is not None:
                return message
    return unrecognised(str(sns.get("Subject") or ""), text, str(sns.get("TopicArn") or ""))


def consumer_alert(body: Mapping[str, Any]) -> SlackMessage | None:
    """An alert of the sales events consumer: its subject, kind, source and details."""
    kind, subject = body.get("alert"), body.get("subject")
    if not isinstance(kind, str) or not isinstance(subject, str):
        return None
    details = {key: value for key, value in body.items() if key not in ("alert", "subject")}
    source = details.pop("source", None)
    origin = f"Sales events consumer alert `{escape(kind)}`"
    lines = [origin + (f" from {escape(str(source))}" if source else "")]
    if details:
        lines.append(code(json.dumps(details, indent=2, ensure_ascii=False)))
    return SlackMessage("consumer_alert", ":rotating_light:", subject, tuple(lines))


def glue_job_state(body: Mapping[str, Any]) -> SlackMessage | None:
    """A ``Glue Job State Change`` event: job, state, its error message and run id."""
    if body.get("source") != "aws.glue" or body.get("detail-type") != "Glue Job State Change":
        return None
    detail = _mapping(body.get("detail"))
    state = str(detail.get("state", "UNKNOWN"))
    emoji = _JOB_EMOJI.get(state, ":information_source:")
    lines = []
    message = str(detail.get("message") or "")
    if message:
        lines.append(escape(message))
    if DQ_STOP_MARK in message:
        lines.append(
            "A data-quality `fail` rule stopped the stage before it committed: "
            "the broken rules and sample keys are in `quality.dq_results`."
        )
    facts = [
        f"run {detail.get('jobRunId', '?')}",
        f"severity {detail.get('severity', '?')}",
        *_where(body),
    ]
    lines.append(escape(", ".join(facts)))
    title = f"Glue job {detail.get('jobName', '?')} {state}"
    return SlackMessage("glue_job", emoji, title, tuple(lines))


def data_quality_result(body: Mapping[str, Any]) -> SlackMessage | None:
    """A ``Data Quality Evaluation Results Available`` event: what was evaluated, the score."""
    if body.get("detail-type") != "Data Quality Evaluation Results Available":
        return None
    detail = _mapping(body.get("detail"))
    context = _mapping(detail.get("context"))
    if context.get("contextType") == "GLUE_DATA_CATALOG":
        target = f"table {context.get('databaseName', '?')}.{context.get('tableName', '?')}"
    elif context.get("contextType") == "GLUE_JOB":
        target = f"job {context.get('jobName', '?')}"
        if context.get("evaluationContext"):
            target += f" ({context['evaluationContext']})"
    else:
        target = "an evaluation"
    state = str(detail.get("state", "UNKNOWN"))
    score = detail.get("score")
    shown = f"{score:.2f}" if isinstance(score, int | float) else "?"
    rulesets = ", ".join(str(name) for name in detail.get("rulesetNames") or []) or "?"
    counts = (
        f"ruleset {rulesets}: score {shown}, {detail.get('rulesFailed', '?')} rules failed, "
        f"{detail.get('rulesSucceeded', '?')} passed, {detail.get('rulesSkipped', '?')} skipped"
    )
    # The documented events spell it resultID; some integrations send resultId.
    result = detail.get("resultID") or detail.get("resultId") or "?"
    facts = ", ".join([f"result {result}", *_where(body)])
    lines = (escape(counts), escape(facts))
    emoji = ":x:" if state == "FAILED" else ":white_check_mark:"
    return SlackMessage("data_quality", emoji, f"Glue Data Quality {state}: {target}", lines)


def cloudwatch_alarm(body: Mapping[str, Any]) -> SlackMessage | None:
    """A CloudWatch alarm notification: name, new and old state, the reason."""
    name, state = body.get("AlarmName"), body.get("NewStateValue")
    if not isinstance(name, str) or not isinstance(state, str):
        return None
    said = (body.get("AlarmDescription"), body.get("NewStateReason"))
    lines = [escape(str(text)) for text in said if text]
    facts = [
        f"was {body.get('OldStateValue', '?')}",
        str(body.get("StateChangeTime", "")),
        str(body.get("Region", "")),
    ]
    lines.append(escape(", ".join(fact for fact in facts if fact)))
    emoji = _ALARM_EMOJI.get(state, ":grey_question:")
    title = f"CloudWatch alarm {name} is {state}"
    return SlackMessage("cloudwatch_alarm", emoji, title, tuple(lines))


def unrecognised(subject: str, text: str, topic_arn: str) -> SlackMessage:
    """Any other message: its subject (if any) and its text as received."""
    topic = topic_arn.rsplit(":", 1)[-1] or "the alert topic"
    title = subject or f"Message on {topic}"
    lines = (f"Not a known alert format; the message as received on {escape(topic)}:", code(text))
    return SlackMessage("other", ":bell:", title, lines)


def escape(text: str) -> str:
    """Text as Slack mrkdwn shows it literally: &, < and > are control characters there."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """A code block, cut to ``SHOWN_CHARS`` characters."""
    shown = text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS]
    block = f"```{escape(shown) or ' '}```"
    if shown is text:
        return block
    return block + f"\n_cut at {SHOWN_CHARS} of {len(text)} characters; all of it is in the log_"


def _where(body: Mapping[str, Any]) -> list[str]:
    """When and where an EventBridge event happened: its time, region and account."""
    facts = [body.get("time"), body.get("region")]
    if body.get("account"):
        facts.append(f"account {body['account']}")
    return [str(fact) for fact in facts if fact]


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
