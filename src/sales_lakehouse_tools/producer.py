"""Send generated sale events to a Kinesis stream or an SQS queue, as the source APIs would.

A load-test tool (``sales-lakehouse produce``): the events come from
:mod:`sales_lakehouse_tools.sale_events`, the puts and their retries are the Lambda
package's (:mod:`sales_lakehouse.ingest.stream_put`). Messages still failing after the
last attempt, and those SQS blames on the sender, are counted as failed, not raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sales_lakehouse.ingest.stream_put import Pacing, Target, chunks, send_with_retries
from sales_lakehouse_tools.sale_events import messages


@dataclass
class ProduceSummary:
    """Messages accepted by the service, given up on, and how many were bad or duplicates."""

    sent: int = 0
    failed: int = 0
    bad: int = 0
    duplicates: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        return (
            f"sent {self.sent}, failed {self.failed}, bad {self.bad}, "
            f"duplicates {self.duplicates} in {self.seconds:.1f}s ({rate:.0f}/s)"
        )


def produce(
    target: Target,
    count: int,
    *,
    seed: int = 7,
    bad_share: float = 0.0,
    duplicate_share: float = 0.0,
    start: datetime | None = None,
    pacing: Pacing | None = None,
    progress: Callable[[ProduceSummary], None] | None = None,
) -> ProduceSummary:
    """Generate ``count`` messages and send them in batches; return what happened."""
    if count < 0:
        raise ValueError("count must be 0 or more")
    pacing = pacing or Pacing()
    if pacing.rate is not None and pacing.rate <= 0:
        raise ValueError("rate must be above 0 events per second")
    summary = ProduceSummary()
    began = pacing.clock()
    stream = messages(count, seed, start or datetime.now(UTC), bad_share, duplicate_share)
    size = (
        target.batch_size
        if pacing.rate is None
        else max(1, min(target.batch_size, int(pacing.rate)))
    )
    for batch in chunks(stream, size):
        _wait_for_rate(pacing, began, summary.sent + summary.failed + len(batch))
        failed = send_with_retries(target, batch, pacing)
        summary.sent += len(batch) - len(failed)
        summary.failed += len(failed)
        summary.bad += sum(1 for m in batch if m.kind == "bad")
        summary.duplicates += sum(1 for m in batch if m.kind == "duplicate")
        summary.seconds = pacing.clock() - began
        if progress is not None:
            progress(summary)
    summary.seconds = pacing.clock() - began
    return summary


def _wait_for_rate(pacing: Pacing, began: float, total: int) -> None:
    """Sleep until ``total`` messages (this batch included) fit in ``rate`` per second."""
    if pacing.rate is None:
        return
    ahead = total / pacing.rate - (pacing.clock() - began)
    if ahead > 0:
        pacing.sleep(ahead)
