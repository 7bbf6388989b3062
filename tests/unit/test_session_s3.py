"""Local sessions on S3: which S3A settings and jars follow from the AWS environment.

Pure configuration (no Spark); tests/aws/test_s3a_pipeline.py runs the result against moto.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sales_lakehouse.config import Settings
from sales_lakehouse.runtime.session import (
    MissingJarsError,
    local_conf,
    local_s3a_jars,
    s3a_conf,
    uses_s3,
)

ENDPOINT = "spark.hadoop.fs.s3a.endpoint"
REGION = "spark.hadoop.fs.s3a.endpoint.region"
SSL = "spark.hadoop.fs.s3a.connection.ssl.enabled"
PATH_STYLE = "spark.hadoop.fs.s3a.path.style.access"
PROVIDER = "spark.hadoop.fs.s3a.aws.credentials.provider"


def test_service_endpoint_wins_over_the_general_one_and_http_turns_tls_off() -> None:
    conf = s3a_conf(
        {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:5055", "AWS_ENDPOINT_URL": "https://x:1"}
    )
    assert conf[ENDPOINT] == "http://127.0.0.1:5055"
    assert conf[SSL] == "false"
    assert conf[PATH_STYLE] == "true"


def test_general_endpoint_over_https_keeps_tls() -> None:
    conf = s3a_conf({"AWS_ENDPOINT_URL": "https://minio.internal:9000"})
    assert (conf[ENDPOINT], conf[SSL], conf[PATH_STYLE]) == (
        "https://minio.internal:9000",
        "true",
        "true",
    )


def test_real_aws_gets_no_endpoint_and_the_region_from_aws_region_first() -> None:
    conf = s3a_conf({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"})
    assert conf == {
        PROVIDER: "com.amazonaws.auth.DefaultAWSCredentialsProviderChain",
        REGION: "eu-west-1",
    }
    assert s3a_conf({"AWS_DEFAULT_REGION": "us-east-2"})[REGION] == "us-east-2"


def test_only_s3_roots_use_s3_and_no_root_gets_a_metastore(tmp_path: Path) -> None:
    local = Settings(landing=str(tmp_path / "landing"), lake=str(tmp_path / "lake"))
    on_s3 = Settings(landing="s3://landing-bucket/drop", lake="s3://lake-bucket/lake")
    assert not uses_s3(local)
    assert uses_s3(on_s3)
    assert uses_s3(Settings(landing="s3://landing-bucket/drop", lake=str(tmp_path / "lake")))
    assert PROVIDER not in local_conf(local)
    s3 = local_conf(on_s3)
    assert s3[PROVIDER]
    for conf in (local_conf(local), s3):
        assert "spark.sql.catalogImplementation" not in conf  # in-memory, not Hive/Derby
        assert not conf["spark.sql.warehouse.dir"].startswith(("s3a://", str(tmp_path)))


def test_missing_s3a_jars_say_to_run_make_jars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAVEN_REPOSITORY", str(tmp_path))
    with pytest.raises(MissingJarsError, match=r"hadoop-aws-3\.3\.4\.jar.*run `make jars`"):
        local_s3a_jars()
