"""Settings of the Lambda consumer, read from its environment once per container.

Every variable is checked at once so that a misconfigured function fails on its first
event with a single message naming each bad variable, instead of failing later on a
half-processed batch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

# S3 general-purpose bucket names: 3-63 lower-case letters, digits, dots and hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SNS_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


# The function's own variables, as the template sets them and from_env reads them
# (AWS_ENDPOINT_URL, a standard AWS variable, is read too: for local emulators).
VARIABLES: tuple[str, ...] = (
    "LANDING_BUCKET",
    "LANDING_PREFIX",
    "ALERT_TOPIC_ARN",
    "ALERT_SALE_AMOUNT",
    "REFUND_SPIKE_PCT",
    "INVALID_BURST_COUNT",
)


class ConfigError(ValueError):
    """The Lambda environment is missing a variable or holds an invalid value."""


@dataclass(frozen=True)
class IngestSettings:
    """Where events land, where alerts go, and the alert thresholds."""

    landing_bucket: str
    landing_prefix: str = "landing"
    alert_topic_arn: str | None = None
    alert_sale_amount: Decimal = Decimal("10000")
    refund_spike_pct: Decimal = Decimal("20")
    invalid_burst_count: int = 10
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IngestSettings:
        """Parse and check the variables; raise one :class:`ConfigError` listing every problem."""
        reader = _Reader(os.environ if env is None else env)
        settings = cls(
            landing_bucket=reader.required("LANDING_BUCKET", _bucket),
            landing_prefix=reader.optional("LANDING_PREFIX", _prefix) or "landing",
            alert_topic_arn=reader.optional("ALERT_TOPIC_ARN", _sns_arn),
            alert_sale_amount=reader.optional("ALERT_SALE_AMOUNT", _positive_decimal)
            or cls.alert_sale_amount,
            refund_spike_pct=reader.optional("REFUND_SPIKE_PCT", _positive_decimal)
            or cls.refund_spike_pct,
            invalid_burst_count=reader.optional("INVALID_BURST_COUNT", _positive_int)
            or cls.invalid_burst_count,
            endpoint_url=reader.optional("AWS_ENDPOINT_URL", _http_url),
        )
        if reader.problems:
            raise ConfigError("invalid Lambda configuration: " + "; ".join(reader.problems))
        return settings


class _Reader:
    """Reads variables through parsers, collecting a message per bad variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[str] = []

    def optional(self, name: str, parse: Callable[[str], T]) -> T | None:
        text = self._env.get(name, "").strip()
        if not text:
            return None
        try:
            return parse(text)
        except ValueError as error:
            self.problems.append(f"{name}={text!r} {error}")
            return None

    def required(self, name: str, parse: Callable[[str], str]) -> str:
        value = self.optional(name, parse)
        if value is None and not any(problem.startswith(name + "=") for problem in self.problems):
            self.problems.append(f"{name} is required and not set")
        return value or ""


def _bucket(text: str) -> str:
    if not _BUCKET.match(text) or ".." in text:
        raise ValueError("is not a valid S3 bucket name (3-63 of a-z 0-9 . -)")
    return text


def _prefix(text: str) -> str:
    prefix = text.strip("/")
    if not prefix:
        raise ValueError("must name a key prefix, not only slashes")
    return prefix


def _sns_arn(text: str) -> str:
    if not _SNS_ARN.match(text):
        raise ValueError("is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
    return text


def _positive_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError("must be a number above 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError("is not a whole number") from None
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _http_url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("is not an http(s) URL")
    return text
