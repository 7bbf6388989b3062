"""Lambda entry points: ``sqs_handler`` for an SQS event source, ``kinesis_handler`` for Kinesis.

Both return a partial batch response (``batchItemFailures``); the event source mapping
must have ``FunctionResponseTypes: [ReportBatchItemFailures]``. Valid events land as
one NDJSON object per batch, invalid ones are quarantined and not retried, and records
whose write failed are reported for retry. See docs/streaming.md.

Imports no Spark: this module, and everything it imports, runs in Lambda.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from sales_lakehouse.aws import client
from sales_lakehouse.ingest.alerts import Alert, AlertRules, SnsPublisher, evaluate
from sales_lakehouse.ingest.config import IngestSettings
from sales_lakehouse.ingest.observability import logger, metrics
from sales_lakehouse.ingest.processor import BatchSummary, LandingBatchProcessor, record_handler
from sales_lakehouse.ingest.sink import S3Sink


class IngestApp:
    """The consumer for one configuration: a processor per event source, and alert outlets.

    ``s3`` and ``sns`` clients may be passed in (tests, other runtimes); by default they
    are built from the settings' endpoint.
    """

    def __init__(self, settings: IngestSettings, *, s3: Any = None, sns: Any = None) -> None:
        s3 = s3 if s3 is not None else client("s3", settings.endpoint_url)
        sink = S3Sink(s3, settings.landing_bucket, settings.landing_prefix)
        self.processors = {
            event_type: LandingBatchProcessor(event_type, sink)
            for event_type in (EventType.SQS, EventType.KinesisDataStreams)
        }
        self.rules = AlertRules(
            settings.alert_sale_amount, settings.refund_spike_pct, settings.invalid_burst_count
        )
        self.sns: SnsPublisher | None = None
        if settings.alert_topic_arn:
            sns = sns if sns is not None else client("sns", settings.endpoint_url)
            self.sns = SnsPublisher(sns, settings.alert_topic_arn)

    def handle(
        self, event: dict[str, Any], context: LambdaContext, event_type: EventType
    ) -> PartialItemFailureResponse:
        """Process one batch; record metrics and raise alerts for what it landed."""
        processor = self.processors[event_type]
        response = process_partial_response(event, record_handler, processor, context)
        self._report(processor.summary, processor.source)
        return response

    def _report(self, summary: BatchSummary, source: str) -> None:
        """Count the batch in metrics, log it in one line, then evaluate and send alerts."""
        landed = summary.landed
        metrics.add_dimension(name="source", value=source)
        counts = {
            "EventsReceived": summary.received,
            "EventsLanded": len(landed.events) if landed else 0,
            "DuplicateEventsDropped": landed.duplicates if landed else 0,
            "EventsQuarantined": summary.quarantined,
            "RecordsFailed": summary.failed,
        }
        for name, value in counts.items():
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        logger.info(
            "batch processed",
            extra={
                **counts,
                "landed_keys": landed.keys if landed else [],
                "quarantine_key": summary.quarantine_key,
                "errors": summary.errors,
            },
        )
        self._alert(evaluate(self.rules, summary.landed_events, summary.quarantined, source))

    def _alert(self, alerts: list[Alert]) -> None:
        """Publish each alert to SNS; a publish failure is logged and counted.

        The alert notifier function takes them from the topic to Slack.
        """
        for alert in alerts:
            logger.warning("alert raised", extra={"alert": alert.kind, "subject": alert.subject})
            metrics.add_metric(name="AlertsRaised", unit=MetricUnit.Count, value=1)
            if self.sns is None:
                continue
            try:
                self.sns.send(alert)
            except Exception:  # best-effort: the data is landed, do not retry it
                logger.exception("alert not published to SNS", extra={"alert": alert.kind})
                metrics.add_metric(name="AlertDeliveryFailures", unit=MetricUnit.Count, value=1)


@cache
def default_app() -> IngestApp:
    """The app built from the environment, once per Lambda container (its cold start).

    A bad variable fails here, on the container's first event and before any record is
    read, with one :class:`~sales_lakehouse.ingest.config.ConfigError` naming it.
    """
    return IngestApp(IngestSettings.from_env())


@logger.inject_lambda_context
@metrics.log_metrics
def sqs_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Entry point for an SQS event source mapping."""
    return default_app().handle(event, context, EventType.SQS)


@logger.inject_lambda_context
@metrics.log_metrics
def kinesis_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Entry point for a Kinesis event source mapping."""
    return default_app().handle(event, context, EventType.KinesisDataStreams)
