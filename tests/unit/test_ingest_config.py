"""Lambda settings from the environment: defaults, parsing and the one error message."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sales_lakehouse.ingest.config import ConfigError, IngestSettings


def test_defaults_with_only_the_bucket() -> None:
    settings = IngestSettings.from_env({"LANDING_BUCKET": "my-landing"})

    assert settings == IngestSettings(
        landing_bucket="my-landing",
        landing_prefix="landing",
        alert_topic_arn=None,
        alert_sale_amount=Decimal("10000"),
        refund_spike_pct=Decimal("20"),
        invalid_burst_count=10,
        endpoint_url=None,
    )


def test_every_variable_is_read() -> None:
    env = {
        "LANDING_BUCKET": "lake.example-1",
        "LANDING_PREFIX": "/raw/landing/",
        "ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:sales-alerts",
        "ALERT_SALE_AMOUNT": "2500.50",
        "REFUND_SPIKE_PCT": "12.5",
        "INVALID_BURST_COUNT": "4",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    }

    settings = IngestSettings.from_env(env)

    assert settings.landing_prefix == "raw/landing"
    assert settings.alert_topic_arn == "arn:aws:sns:eu-west-1:123456789012:sales-alerts"
    assert (settings.alert_sale_amount, settings.refund_spike_pct) == (
        Decimal("2500.50"),
        Decimal("12.5"),
    )
    assert settings.invalid_burst_count == 4
    assert settings.endpoint_url == "http://127.0.0.1:5000"


def test_missing_bucket() -> None:
    with pytest.raises(ConfigError) as raised:
        IngestSettings.from_env({})

    assert (
        str(raised.value) == "invalid Lambda configuration: LANDING_BUCKET is required and not set"
    )


def test_every_bad_variable_is_named_in_one_message() -> None:
    env = {
        "LANDING_BUCKET": "ok-bucket",
        "ALERT_TOPIC_ARN": "sales-alerts",
        "ALERT_SALE_AMOUNT": "-5",
        "REFUND_SPIKE_PCT": "lots",
        "INVALID_BURST_COUNT": "0",
        "AWS_ENDPOINT_URL": "file:///etc/passwd",
    }

    with pytest.raises(ConfigError) as raised:
        IngestSettings.from_env(env)

    assert str(raised.value) == (
        "invalid Lambda configuration: "
        "ALERT_TOPIC_ARN='sales-alerts' is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>); "
        "ALERT_SALE_AMOUNT='-5' must be a number above 0; "
        "REFUND_SPIKE_PCT='lots' is not a number; "
        "INVALID_BURST_COUNT='0' must be at least 1; "
        "AWS_ENDPOINT_URL='file:///etc/passwd' is not an http(s) URL"
    )


@pytest.mark.parametrize("bucket", ["ab", "Upper", "under_score", "a..b", "-start", "x" * 64])
def test_bad_bucket_names(bucket: str) -> None:
    with pytest.raises(ConfigError, match="LANDING_BUCKET="):
        IngestSettings.from_env({"LANDING_BUCKET": bucket})


def test_a_prefix_of_only_slashes_is_refused() -> None:
    with pytest.raises(ConfigError, match="LANDING_PREFIX='/' must name a key prefix"):
        IngestSettings.from_env({"LANDING_BUCKET": "ok-bucket", "LANDING_PREFIX": "/"})
