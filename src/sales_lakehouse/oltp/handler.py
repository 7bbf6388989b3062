"""The fill Lambda of the AWS stack: :func:`sales_lakehouse.oltp.fill.fill` on a schedule.

An EventBridge schedule invokes it; each invocation places ``FILL_ORDERS`` orders, then
changes the database at ``FILL_RATE`` changes a second for ``FILL_DURATION`` seconds
(never past the function's own timeout), like ``sales-lakehouse oltp fill``. The event may
override the three (``{"orders": 500, "rate": 0, "duration": 0}`` for a one-off load).

The function runs in the database's VPC. It reads the database's address from ``OLTP_DSN``
(``mysql://HOST:PORT/DATABASE``) and the credentials from the RDS-managed secret
``OLTP_SECRET_ARN`` through the VPC's Secrets Manager endpoint. No Spark.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sales_lakehouse.oltp.fill import fill
from sales_lakehouse.oltp.secret import resolve_dsn

# The function's variables, as the template sets them.
VARIABLES: tuple[str, ...] = (
    "OLTP_DSN",
    "OLTP_SECRET_ARN",
    "FILL_ORDERS",
    "FILL_RATE",
    "FILL_DURATION",
)
# Seconds kept free before the function's timeout to commit and return.
MARGIN_SECONDS = 10.0


class FillConfigError(ValueError):
    """A variable or event field is missing or not a non-negative number."""


@dataclass(frozen=True)
class FillRequest:
    orders: int
    rate: float
    duration: float


def _number(name: str, value: Any, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise FillConfigError(f"{name} must be a number, got {value!r}") from None
    if number < 0:
        raise FillConfigError(f"{name} must not be negative, got {value!r}")
    return number


def fill_request(
    event: Mapping[str, Any] | None, env: Mapping[str, str], remaining_seconds: float | None
) -> FillRequest:
    """What to do: the event's fields over the variables, the duration cut to fit the time
    left (a scheduled event carries none of the fields)."""
    event = event if isinstance(event, Mapping) else {}

    def setting(field: str, kind: type) -> Any:
        if field in event:
            return _number(f"event field {field!r}", event[field], kind)
        variable = f"FILL_{field.upper()}"
        return _number(variable, env.get(variable, "0"), kind)

    orders, rate, duration = (
        setting("orders", int),
        setting("rate", float),
        setting("duration", float),
    )
    if remaining_seconds is not None and duration:
        duration = max(0.0, min(duration, remaining_seconds - MARGIN_SECONDS))
    if not rate or not duration:
        rate = duration = 0.0
    return FillRequest(orders, rate, duration)


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Fill the order database; returns what was done (orders, lines, corrections …)."""
    env = os.environ
    for name in ("OLTP_DSN", "OLTP_SECRET_ARN"):
        if not env.get(name, "").strip():
            raise FillConfigError(f"{name} is not set")
    remaining = None
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        remaining = context.get_remaining_time_in_millis() / 1000.0
    request = fill_request(event, env, remaining)
    dsn = resolve_dsn(env["OLTP_DSN"], env["OLTP_SECRET_ARN"])
    stats = fill(dsn, orders=request.orders, rate=request.rate, duration=request.duration)
    print(stats.line(), flush=True)
    return asdict(stats)
