"""``sales-lakehouse package`` and ``deploy``, and infra/template.yaml on moto's CloudFormation.

Everything runs against the moto server (server mode, real HTTP). moto's CloudFormation
(moto 5.2) differs from AWS in ways these tests had to find out:

- It does not fail a stack on resource types it does not know: it logs "No Moto
  CloudFormation support for …", skips the resource and reports the stack
  ``CREATE_COMPLETE``. So the **whole** template is deployed here, not a filtered copy.
  Skipped are the types in ``MOTO_SKIPS``: every Glue and Athena resource, the bucket and
  topic policies, the CloudWatch alarms, ``AWS::SNS::Subscription`` (a topic's inline
  ``Subscription`` is applied) and ``AWS::SecretsManager::Secret``. Where a check needs one
  of those (the TLS-only bucket policies, the SMS filter), tests/infra/test_template.py
  checks the template instead. A function variable that ``Ref``s a skipped resource makes
  moto drop the function's whole ``Environment``.
- ``deploy`` creates a new stack from the bootstrap template inline, then updates it with
  the full template by ``TemplateURL``. moto does not fetch that URL: it takes the bucket
  and key out of it (path-style for ``https://s3….amazonaws.com/<bucket>/<key>`` or any
  ``localhost`` URL, else the first label of the host is the bucket) and reads the object
  from its own S3; ``http://127.0.0.1:<port>/<bucket>/<key>`` would name the bucket
  ``127``.
- A stack created through a change set gets no outputs; ``deploy`` therefore finds the
  artifacts bucket through the stack's resources, not its outputs.
- A change set whose only difference is in parameters lists no resource changes (moto
  diffs the template text), though executing it updates the resources that ``Ref`` the
  changed parameters. Resources that see a parameter only through a condition are not
  updated (an event source mapping created disabled stays disabled when ``LambdaCodeKey``
  is set later; on AWS the update enables it). ``deploy`` no longer relies on that: the
  functions and mappings are first created by the update that already has the code.
- It accepts but does not apply a function's ``DeadLetterConfig`` (``MOTO_DROPS``), and
  answers ``GetFunctionConcurrency`` of a function without a reservation with ``null``,
  which botocore reads as 0; ``GetFunction`` without ``Concurrency`` is the reliable sign.
- moto never rolls a stack back (a failing resource fails the API call), so the refusal of
  a ``ROLLBACK_COMPLETE`` stack is tested on :func:`check_status` directly.
- The order database's part (``EnableOperationalSource``) is not deployed here: moto's
  CloudFormation answers a server error for it (it cannot evaluate ``Fn::Cidr`` on a
  ``GetAtt``, and its RDS instances have no ``MasterUserSecret.SecretArn`` attribute).
  tests/infra/test_template.py checks that part against AWS's documented rules, and
  tests/oltp/test_aws_sources.py runs its code with the secret in moto's Secrets Manager.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from sales_lakehouse.runtime import cli
from sales_lakehouse_tools.deploy.package import Release, build_lambda_zip, load_release
from sales_lakehouse_tools.deploy.stack import DeployError, check_status
from sales_lakehouse_tools.deploy.template import (
    bootstrap_json,
    bootstrap_template,
    compact_json,
    compact_template,
    load_template,
)
from tests.aws.conftest import Aws
from tests.aws.lambda_events import ACCOUNT, REGION

pytestmark = [
    pytest.mark.aws,
    pytest.mark.filterwarnings("ignore:Tried to parse .* not supported by moto:UserWarning"),
]

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
MOTO_SKIPS = {
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",  # a topic's inline Subscription property is applied
    "AWS::SecretsManager::Secret",
    "AWS::CloudWatch::Alarm",
    "AWS::Glue::Database",
    "AWS::Glue::SecurityConfiguration",
    "AWS::Glue::Job",
    "AWS::Glue::Workflow",
    "AWS::Glue::Trigger",
    "AWS::Athena::WorkGroup",
    "AWS::Athena::NamedQuery",
}
# Settings moto's CloudFormation accepts but does not apply (cfn-lint, checkov and
# tests/infra/test_template.py check them on the template instead).
MOTO_DROPS = {
    "S3 BucketKeyEnabled",
    "S3 PublicAccessBlockConfiguration",
    "S3 OwnershipControls",
    "S3 VersioningConfiguration",
    "S3 LifecycleConfiguration",
    "S3 LoggingConfiguration",
    "S3::BucketPolicy",
    "Kinesis StreamEncryption",
    "Logs KmsKeyId",
    "Lambda KmsKeyArn",
    "Lambda TracingConfig",
    "Lambda DeadLetterConfig",
}
BUCKETS = ("access-logs", "lake", "landing", "artifacts", "athena")


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """One ``sales-lakehouse package`` for the module (pip needs PyPI or its cache)."""
    dist = tmp_path_factory.mktemp("dist")
    assert cli.main(["package", "--dist", str(dist)]) == 0
    return load_release(dist)


def env_name() -> str:
    """A fresh environment name: bucket names are global on the one moto server."""
    return f"t{uuid.uuid4().hex[:7]}"


# ---- package ---------------------------------------------------------------------------


def test_package_builds_wheel_zip_jobs_and_template(release: Release) -> None:
    assert release.wheel.name == "sales_lakehouse-0.1.0-py3-none-any.whl"
    assert sorted(p.name for p in release.jobs) == sorted(p.name for p in ROOT.glob("jobs/*.py"))
    assert [jar.name for jar in release.jars] == ["mariadb-java-client-3.5.6.jar"]
    with tarfile.open(release.training_source) as source:  # SageMaker's script mode
        assert "forecast_train.py" in source.getnames()
    assert json.loads(release.template.read_text()) == json.loads(compact_json(TEMPLATE))
    assert json.loads(release.bootstrap.read_text()) == json.loads(bootstrap_json(TEMPLATE))
    assert release.prefix.startswith("releases/0.1.0-")
    assert release.lambda_key.startswith(f"{release.prefix}/lambda-")


def test_lambda_zip_has_the_consumer_and_linux_wheels_but_no_spark(release: Release) -> None:
    names = zipfile.ZipFile(release.lambda_zip).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert "sales_lakehouse/ingest/handler.py" in names
    assert "sales_lakehouse/oltp/handler.py" in names
    assert "pymysql" in {name.split("/", 1)[0] for name in names}
    assert "sales_lakehouse/schemas" in {n.rsplit("/", 1)[0] for n in names if "schemas/" in n}
    assert {"pydantic", "pydantic_core", "aws_lambda_powertools", "yaml"} <= tops
    assert not tops & {"pyspark", "delta", "py4j", "boto3", "botocore", "bin"}
    binaries = [n for n in names if n.endswith(".so")]
    assert binaries and all("x86_64-linux-gnu" in n or "manylinux" in n for n in binaries)
    assert any(n.startswith("pydantic_core/_pydantic_core.cpython-311-") for n in binaries)


def test_the_zip_of_wheels_installs_without_an_index(release: Release, tmp_path: Path) -> None:
    """What the extract job's pip does in the VPC (--no-index): every requirement of the
    package resolves from the zip alone, as Linux x86_64 / CPython 3.11 wheels."""
    with zipfile.ZipFile(release.glue_modules) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path)
    assert "wheels/requirements.txt" in names
    assert f"wheels/{release.wheel_name}" in names
    wheels = tmp_path / "wheels"
    pins = (wheels / "requirements.txt").read_text().split()
    assert "sales-lakehouse==0.1.0" in pins
    assert not [p for p in pins if p.split("==")[0] in ("pyspark", "delta-spark", "py4j")]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--no-index", "--find-links", str(wheels), "--report", str(tmp_path / "report.json"),
         "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
         "--only-binary=:all:", "--target", str(tmp_path / "site"),
         "-r", str(wheels / "requirements.txt")],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    installed = {
        f"{re.sub(r'[-_.]+', '-', i['metadata']['name']).lower()}=={i['metadata']['version']}"
        for i in report["install"]
    }
    assert installed == set(pins)


def test_lambda_zip_is_reproducible(release: Release, tmp_path: Path) -> None:
    """Same inputs, same bytes: the zip's key carries its hash, so an unchanged rebuild
    must not look like new code to CloudFormation."""
    again = build_lambda_zip(ROOT, release.wheel, tmp_path / "lambda.zip")
    assert again.read_bytes() == release.lambda_zip.read_bytes()


def test_deploy_code_imports_no_spark() -> None:
    code = (
        "import sys, sales_lakehouse_tools.deploy.stack, sales_lakehouse_tools.deploy.package; "
        "sys.exit(any(m.split('.')[0] in ('pyspark', 'delta') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ---- the template on moto's CloudFormation ---------------------------------------------


@pytest.fixture(scope="module")
def stack(moto_endpoint: str) -> Iterator[tuple[str, Aws]]:
    """The whole template, created directly (no Lambda code). Read by TemplateURL, as on
    AWS a template over 51,200 bytes must be, from a scratch bucket."""
    aws = Aws(moto_endpoint)
    env = env_name()
    cfn = aws.client("cloudformation")
    scratch = aws.bucket()
    aws.s3.put_object(Bucket=scratch, Key="template.json", Body=compact_json(TEMPLATE).encode())
    cfn.create_stack(
        StackName=f"sales-lakehouse-{env}",
        TemplateURL=f"https://s3.{REGION}.amazonaws.com/{scratch}/template.json",
        Parameters=[
            {"ParameterKey": "EnvironmentName", "ParameterValue": env},
            {"ParameterKey": "AlertEmail", "ParameterValue": "alerts@example.com"},
        ],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    yield env, aws


def _resources(aws: Aws, stack_name: str) -> dict[str, dict[str, Any]]:
    pages = aws.client("cloudformation").get_paginator("list_stack_resources")
    return {
        r["LogicalResourceId"]: r
        for page in pages.paginate(StackName=stack_name)
        for r in page["StackResourceSummaries"]
        if r.get("LogicalResourceId")
    }


def _condition(template: dict[str, Any], expression: Any, values: dict[str, str]) -> Any:
    """The value of a condition expression (Fn::Equals/Not/And/Or, Condition, Ref)."""
    if isinstance(expression, dict):
        ((function, argument),) = expression.items()
        if function == "Ref":
            return values[argument]
        if function == "Condition":
            return _condition(template, template["Conditions"][argument], values)
        items = [_condition(template, item, values) for item in argument]
        operators = {
            "Fn::Equals": lambda: str(items[0]) == str(items[1]),
            "Fn::Not": lambda: not items[0],
            "Fn::And": lambda: all(items),
            "Fn::Or": lambda: any(items),
        }
        return operators[function]()
    return expression


def wanted_resources(parameters: dict[str, str]) -> dict[str, str]:
    """Logical id -> type of every resource whose condition holds with ``parameters``."""
    template = load_template(TEMPLATE)
    values = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    values |= parameters
    return {
        name: resource["Type"]
        for name, resource in template["Resources"].items()
        if "Condition" not in resource
        or _condition(template, {"Condition": resource["Condition"]}, values)
    }


def assert_whole_stack(aws: Aws, name: str, parameters: dict[str, str] | None = None) -> None:
    """The stack is complete and holds every resource of the full template whose condition
    holds, except those of the types moto skips (and nothing else)."""
    cfn = aws.client("cloudformation")
    status = cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    assert status in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    wanted = wanted_resources(parameters or {})
    created = _resources(aws, name)
    assert {r["ResourceStatus"] for r in created.values()} <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    assert {n: r["ResourceType"] for n, r in created.items()} == {
        n: t for n, t in wanted.items() if t not in MOTO_SKIPS
    }


def test_moto_creates_every_resource_of_a_type_it_supports(stack: tuple[str, Aws]) -> None:
    env, aws = stack
    assert_whole_stack(aws, f"sales-lakehouse-{env}")
    assert "EventArchiveStream" not in _resources(aws, f"sales-lakehouse-{env}")  # Firehose off


def _key_arn(aws: Aws, env: str) -> str:
    """The stack key's ARN. Built from the resource's id: moto's KMS answers DescribeKey
    with a server error for a key whose KeyPolicy came from CloudFormation as an object."""
    key_id = _resources(aws, f"sales-lakehouse-{env}")["DataKey"]["PhysicalResourceId"]
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


def stored(name: str, value: Any, expected: Any) -> None:
    """``value`` as moto stored it equals ``expected``; None (not stored) only for a
    setting listed in MOTO_DROPS."""
    if value is None:
        assert name in MOTO_DROPS, f"moto did not store {name}"
    else:
        assert value == expected, name


def _get(call: Any, *keys: str, **kwargs: str) -> Any:
    """``call(**kwargs)[keys…]``, or None when moto answers that the setting does not exist."""
    try:
        answer = call(**kwargs)
    except ClientError as error:
        if error.response["Error"]["Code"].startswith(("NoSuch", "OwnershipControlsNotFound")):
            return None
        raise
    for key in keys:
        answer = answer.get(key)
        if answer is None:
            return None
    return answer


def test_buckets_are_kms_encrypted_private_versioned_and_logged(stack: tuple[str, Aws]) -> None:
    env, aws = stack
    key = _key_arn(aws, env)
    s3 = aws.s3
    log_bucket = f"{env}-sales-access-logs-{ACCOUNT}-{REGION}"
    for purpose in BUCKETS:
        bucket = f"{env}-sales-{purpose}-{ACCOUNT}-{REGION}"
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        (rule,) = rules["Rules"]
        if purpose == "access-logs":  # S3 server access logs go only to an SSE-S3 bucket
            assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
        else:
            assert rule["ApplyServerSideEncryptionByDefault"] == {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": key,
            }
            stored("S3 BucketKeyEnabled", rule.get("BucketKeyEnabled") or None, True)
        stored(
            "S3 PublicAccessBlockConfiguration",
            _get(s3.get_public_access_block, "PublicAccessBlockConfiguration", Bucket=bucket),
            dict.fromkeys(
                (
                    "BlockPublicAcls",
                    "IgnorePublicAcls",
                    "BlockPublicPolicy",
                    "RestrictPublicBuckets",
                ),
                True,
            ),
        )
        stored(
            "S3 OwnershipControls",
            _get(s3.get_bucket_ownership_controls, "OwnershipControls", "Rules", Bucket=bucket),
            [{"ObjectOwnership": "BucketOwnerEnforced"}],
        )
        stored(
            "S3 VersioningConfiguration",
            _get(s3.get_bucket_versioning, "Status", Bucket=bucket),
            "Enabled",
        )
        lifecycle = _get(s3.get_bucket_lifecycle_configuration, "Rules", Bucket=bucket)
        stored("S3 LifecycleConfiguration", lifecycle and bool(lifecycle), True)
        if purpose != "access-logs":
            stored(
                "S3 LoggingConfiguration",
                _get(s3.get_bucket_logging, "LoggingEnabled", "TargetBucket", Bucket=bucket),
                log_bucket,
            )
        stored(
            "S3::BucketPolicy",
            _tls_only(_get(s3.get_bucket_policy, "Policy", Bucket=bucket)),
            True,
        )


def _tls_only(policy: str | None) -> bool | None:
    if policy is None:
        return None
    statements = json.loads(policy)["Statement"]
    return any(
        s.get("Sid") == "DenyInsecureTransport"
        and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )


def test_queues_have_the_dlq_and_six_times_the_function_timeout(stack: tuple[str, Aws]) -> None:
    env, aws = stack
    sqs = aws.sqs
    key = _key_arn(aws, env)

    def attributes(name: str) -> dict[str, str]:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])

    queue = attributes(f"{env}-sales-events")
    dlq = attributes(f"{env}-sales-events-dlq")
    failures = attributes(f"{env}-sales-events-kinesis-failures")
    assert queue["VisibilityTimeout"] == "360"
    assert queue["MessageRetentionPeriod"] == "345600"
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq["QueueArn"],
        "maxReceiveCount": 5,
    }
    assert dlq["MessageRetentionPeriod"] == failures["MessageRetentionPeriod"] == "1209600"
    assert queue["KmsMasterKeyId"] == dlq["KmsMasterKeyId"] == key


def test_topic_stream_and_log_groups(stack: tuple[str, Aws]) -> None:
    env, aws = stack
    key = _key_arn(aws, env)
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{env}-sales-alerts"
    topic = aws.sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    assert topic["KmsMasterKeyId"] == key
    assert topic["DisplayName"] == "sales-lakehouse alerts"
    subscriptions = aws.sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [
        ("email", "alerts@example.com")
    ]

    summary = aws.kinesis.describe_stream_summary(StreamName=f"{env}-sales-events")[
        "StreamDescriptionSummary"
    ]
    assert summary["OpenShardCount"] == 1
    assert summary["RetentionPeriodHours"] == 48
    encryption = summary["EncryptionType"]
    stored("Kinesis StreamEncryption", None if encryption == "NONE" else encryption, "KMS")

    logs = aws.client("logs")
    groups = {
        g["logGroupName"]: g
        for g in logs.describe_log_groups(logGroupNamePrefix="/aws")["logGroups"]
        if env in g["logGroupName"]
    }
    assert set(groups) == {
        f"/aws-glue/jobs/{env}-sales-lakehouse/error",
        f"/aws-glue/jobs/{env}-sales-lakehouse/output",
        f"/aws/lambda/{env}-sales-events-sqs",
        f"/aws/lambda/{env}-sales-events-kinesis",
    }
    assert {g["retentionInDays"] for g in groups.values()} == {90}
    for group in groups.values():
        stored("Logs KmsKeyId", group.get("kmsKeyId"), key)


def test_roles_trust_their_service_and_scope_the_consumer(stack: tuple[str, Aws]) -> None:
    env, aws = stack
    iam = aws.client("iam")
    trusted = {}
    roles = ("glue-etl", "glue-catalog", "workflow-events", "events-sqs", "events-kinesis")
    for role in roles:
        document = iam.get_role(RoleName=f"{env}-sales-{role}")["Role"]["AssumeRolePolicyDocument"]
        trusted[role] = document["Statement"][0]["Principal"]["Service"]
    assert trusted == {
        "glue-etl": "glue.amazonaws.com",
        "glue-catalog": "glue.amazonaws.com",
        "workflow-events": "events.amazonaws.com",
        "events-sqs": "lambda.amazonaws.com",
        "events-kinesis": "lambda.amazonaws.com",
    }
    landing = f"arn:aws:s3:::{env}-sales-landing-{ACCOUNT}-{REGION}"
    for source in ("sqs", "kinesis"):  # one role per consumer function
        consumer = f"{env}-sales-events-{source}"
        assert iam.list_role_policies(RoleName=consumer)["PolicyNames"] == ["consume-and-land"]
        document = _role_policy(iam, consumer, "consume-and-land")
        (land,) = [s for s in document["Statement"] if s["Sid"] == "LandEventsAndQuarantine"]
        assert land["Resource"] == [
            f"{landing}/landing/sales_events/*",
            f"{landing}/landing/_quarantine/*",
        ]
        (traces,) = [s for s in document["Statement"] if s["Sid"] == "WriteTraces"]
        assert traces["Action"] == ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]


def _role_policy(iam: Any, role: str, policy: str) -> Any:
    """An inline role policy. moto stores one that came from CloudFormation as Python's
    repr of the object (single quotes), not as JSON; read it as a Python literal."""
    text = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
    return ast.literal_eval(text) if isinstance(text, str) else text


def test_functions_and_mappings_without_lambda_code(stack: tuple[str, Aws]) -> None:
    """``LambdaCodeKey`` empty: placeholder code, the consumer's settings, mappings disabled."""
    env, aws = stack
    lam = aws.client("lambda")
    key = _key_arn(aws, env)
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{env}-sales-events"
    for source in ("sqs", "kinesis"):
        name = f"{env}-sales-events-{source}"
        config = lam.get_function_configuration(FunctionName=name)
        assert config["Runtime"] == "python3.11"
        assert config["Handler"] == "index.handler"
        assert (config["Timeout"], config["MemorySize"]) == (60, 512)
        assert config["Role"] == f"arn:aws:iam::{ACCOUNT}:role/{env}-sales-events-{source}"
        stored("Lambda KmsKeyArn", config.get("KMSKeyArn"), key)
        tracing = config.get("TracingConfig", {}).get("Mode")
        stored("Lambda TracingConfig", None if tracing == "PassThrough" else tracing, "Active")
        variables = config["Environment"]["Variables"]
        assert variables["LANDING_BUCKET"] == f"{env}-sales-landing-{ACCOUNT}-{REGION}"
        assert variables["ALERT_TOPIC_ARN"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:{env}-sales-alerts"
        # moto keeps a Number parameter's Ref as a number; AWS makes every variable a string.
        assert str(variables["ALERT_SALE_AMOUNT"]) == "10000"
        # ConsumerReservedConcurrency 0 (the default): no reservation. (GetFunctionConcurrency
        # is no help: moto answers null for "none", which botocore reads as 0.)
        assert "Concurrency" not in lam.get_function(FunctionName=name)
        (mapping,) = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
        assert mapping["State"] == "Disabled"
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        if source == "sqs":
            assert mapping["EventSourceArn"] == queue_arn
            assert mapping["BatchSize"] == 100
            assert mapping["ScalingConfig"] == {"MaximumConcurrency": 5}
        else:
            assert mapping["BisectBatchOnFunctionError"] is True
            assert mapping["MaximumRetryAttempts"] == 5
            assert mapping["MaximumRecordAgeInSeconds"] == 86400
            assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == (
                f"{queue_arn}-kinesis-failures"
            )


# ---- sales-lakehouse deploy ------------------------------------------------------------


def deploy(capsys: pytest.CaptureFixture[str], endpoint: str, *args: str) -> tuple[int, str]:
    """Run ``sales-lakehouse deploy … --endpoint-url`` through the CLI's main()."""
    code = cli.main(["deploy", *args, "--endpoint-url", endpoint, "--region", REGION])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_deploy_dry_run_then_create_then_no_changes(
    moto_endpoint: str, release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_name()
    name = f"sales-lakehouse-{env}"
    aws = Aws(moto_endpoint)
    cfn = aws.client("cloudformation")
    first = ("--stack", name, "--env-name", env, "--alert-email", "ops@example.com")
    built = ("--no-build", "--dist", str(release.dist))

    code, out = deploy(capsys, moto_endpoint, *first, *built, "--dry-run")
    assert code == 0, out
    assert "bootstrap deployment" in out
    assert "the full template follows in the update" in out
    assert "Add     DataKey                            AWS::KMS::Key" in out
    assert "Add     ArtifactsBucket                    AWS::S3::Bucket" in out
    assert "SqsConsumerFunction" not in out  # not in the bootstrap template
    assert "dry run: nothing created" in out
    assert f"updates the stack with the full template ({release.template_key})" in out
    with pytest.raises(ClientError, match="does not exist"):
        cfn.describe_stacks(StackName=name)

    code, out = deploy(capsys, moto_endpoint, *first, *built)
    assert code == 0, out
    assert f"created stack {name}" in out
    # wheel, jobs, Lambda zip, the extract's zip of wheels and jar, training source, template
    assert f"uploaded {len(release.jobs) + 6} files" in out
    assert f"LambdaCodeKey: '' -> '{release.lambda_key}'" in out
    assert f"updated stack {name}: release {release.prefix}" in out

    bucket = f"{env}-sales-artifacts-{ACCOUNT}-{REGION}"
    assert aws.keys(bucket, release.prefix) == sorted(
        [
            f"{release.prefix}/{release.wheel_name}",
            release.lambda_key,
            release.template_key,
            *[f"{release.prefix}/jobs/{job.name}" for job in release.jobs],
            f"{release.prefix}/glue-modules.gluewheels.zip",
            f"{release.prefix}/jars/mariadb-java-client-3.5.6.jar",
            f"{release.prefix}/forecast/sourcedir.tar.gz",
        ]
    )
    # Phase two made the whole stack: every resource moto supports, from the full template.
    assert_whole_stack(aws, name)
    deployed = cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
    assert json.loads(json.dumps(deployed)) == compact_template(TEMPLATE)
    zip_sha = base64.b64encode(hashlib.sha256(release.lambda_zip.read_bytes()).digest()).decode()
    lam = aws.client("lambda")
    for source in ("sqs", "kinesis"):
        config = lam.get_function_configuration(FunctionName=f"{env}-sales-events-{source}")
        assert config["Handler"] == f"sales_lakehouse.ingest.handler.{source}_handler"
        assert config["CodeSha256"] == zip_sha
        # Created by the update, with the code: enabled from the start.
        (mapping,) = lam.list_event_source_mappings(FunctionName=config["FunctionName"])[
            "EventSourceMappings"
        ]
        assert mapping["State"] == "Enabled"
    parameters = {
        p["ParameterKey"]: p["ParameterValue"]
        for p in cfn.describe_stacks(StackName=name)["Stacks"][0]["Parameters"]
    }
    assert parameters["EnvironmentName"] == env
    assert parameters["ArtifactsPrefix"] == release.prefix

    code, out = deploy(capsys, moto_endpoint, "--stack", name, *built)
    assert code == 0, out
    assert f"no changes: stack {name} is up to date" in out

    code, out = deploy(capsys, moto_endpoint, "--stack", name, *built, "-p", "GlueWorkers=4")
    assert code == 0, out
    assert "GlueWorkers: '2' -> '4'" in out
    assert f"updated stack {name}" in out

    code, out = deploy(capsys, moto_endpoint, "--stack", name, *built, "--dry-run")
    assert code == 0, out
    assert "no changes" in out


# Every optional part of the template switched on.
GATED = {
    "EnableSlackAlerts": "true",
    "AlertPhoneNumber": "+4915112345678",
    "SourceApiUrl": "https://api.example.com/sales",
    "ConsumerReservedConcurrency": "5",
}


def test_first_deploy_with_every_option_creates_the_gated_resources(
    moto_endpoint: str, release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    """Slack notifier, SMS subscription, API producer and reserved concurrency: created by
    the update of the first deployment (none of them is in the bootstrap template)."""
    env = env_name()
    name = f"sales-lakehouse-{env}"
    aws = Aws(moto_endpoint)
    options = [arg for key, value in GATED.items() for arg in ("-p", f"{key}={value}")]
    code, out = deploy(
        capsys,
        moto_endpoint,
        *("--stack", name, "--env-name", env, "--alert-email", "ops@example.com"),
        *("--no-build", "--dist", str(release.dist), *options),
    )
    assert code == 0, out
    bootstrap = bootstrap_template(compact_template(TEMPLATE))["Resources"]
    gated = {n for n, r in load_template(TEMPLATE)["Resources"].items() if "Condition" in r}
    assert gated and not gated & set(bootstrap)
    assert_whole_stack(aws, name, GATED)
    resources = _resources(aws, name)

    lam = aws.client("lambda")
    zip_sha = base64.b64encode(hashlib.sha256(release.lambda_zip.read_bytes()).digest()).decode()
    notifier = lam.get_function(FunctionName=f"{env}-sales-alerts-notifier")["Configuration"]
    assert notifier["Handler"] == "sales_lakehouse.ingest.notifier.handler"
    assert notifier["CodeSha256"] == zip_sha
    assert notifier["Role"] == f"arn:aws:iam::{ACCOUNT}:role/{env}-sales-alerts-notifier"
    # moto skips the secret, and with it the function's only variable (its Ref).
    stored(
        "Lambda DeadLetterConfig",
        notifier.get("DeadLetterConfig", {}).get("TargetArn"),
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:{env}-sales-alerts-notifier-dlq",
    )
    assert resources["NotifierInvokePermission"]["ResourceStatus"] == "CREATE_COMPLETE"

    producer = lam.get_function(FunctionName=f"{env}-sales-api-producer")["Configuration"]
    assert producer["Handler"] == "sales_lakehouse.ingest.api_producer.handler"
    assert producer["Role"] == f"arn:aws:iam::{ACCOUNT}:role/{env}-sales-api-producer"
    assert producer["Environment"]["Variables"]["SOURCE_API_URL"] == GATED["SourceApiUrl"]
    events = aws.client("events")
    rule = events.describe_rule(Name=f"{env}-sales-api-producer")
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = events.list_targets_by_rule(Rule=f"{env}-sales-api-producer")["Targets"]
    assert target["Arn"] == producer["FunctionArn"]

    # The notifier's and the SMS subscriptions (AWS::SNS::Subscription) are skipped by moto:
    # tests/infra/ checks them on the template.
    for source in ("sqs", "kinesis"):
        function = lam.get_function(FunctionName=f"{env}-sales-events-{source}")
        assert int(function["Concurrency"]["ReservedConcurrentExecutions"]) == 5


def test_deploy_dry_run_of_an_update_changes_nothing(
    moto_endpoint: str, release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    env = env_name()
    name = f"sales-lakehouse-{env}"
    built = ("--no-build", "--dist", str(release.dist))
    code, out = deploy(
        capsys, moto_endpoint, "--stack", name, "--env-name", env, "--alert-email", "a@b.co", *built
    )
    assert code == 0, out
    code, out = deploy(
        capsys, moto_endpoint, "--stack", name, *built, "--dry-run", "-p", "KinesisShards=2"
    )
    assert code == 0, out
    assert "KinesisShards: '1' -> '2'" in out
    assert "change set sales-lakehouse-" in out
    assert "dry run: change set deleted" in out
    # The change set reads the full template from S3: the dry run uploads it, and only it.
    assert f"uploaded the template to s3://{env}-sales-artifacts-" in out
    assert "only the template was uploaded" in out
    cfn = Aws(moto_endpoint).client("cloudformation")
    parameters = cfn.describe_stacks(StackName=name)["Stacks"][0]["Parameters"]
    assert {"ParameterKey": "KinesisShards", "ParameterValue": "1"} in parameters


def test_deploy_refuses_bad_input_with_one_line(
    moto_endpoint: str, release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    built = ("--no-build", "--dist", str(release.dist))
    code, out = deploy(capsys, moto_endpoint, "--stack", "sales-lakehouse-nothere", *built)
    assert code == 2
    assert "needs --env-name and --alert-email" in out

    first = ("--env-name", "dev", "--alert-email", "a@b.co")
    code, out = deploy(capsys, moto_endpoint, "--stack", "x", *first, *built, "-p", "Nope=1")
    assert (code, out.strip()) == (
        2,
        "sales-lakehouse deploy: error: the template has no parameter Nope",
    )

    code, out = deploy(
        capsys, moto_endpoint, "--stack", "x", *first, *built, "-p", "LambdaCodeKey=a.zip"
    )
    assert code == 2 and "set by deploy itself" in out


def test_deploy_without_credentials_says_so(
    moto_endpoint: str,
    release: Release,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out = deploy(
        capsys, moto_endpoint, "--stack", "x", "--no-build", "--dist", str(release.dist)
    )
    assert code == 1
    assert out.startswith("sales-lakehouse deploy: error: no AWS credentials")


@pytest.mark.parametrize("status", ["ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"])
def test_stacks_that_cannot_be_updated_are_refused(status: str) -> None:
    with pytest.raises(DeployError, match=f"stack s is {status}: .*delete-stack --stack-name s"):
        check_status("s", status)


def test_busy_and_failed_rollback_stacks_are_refused() -> None:
    with pytest.raises(DeployError, match=r"busy \(UPDATE_IN_PROGRESS\)"):
        check_status("s", "UPDATE_IN_PROGRESS")
    with pytest.raises(DeployError, match="continue-update-rollback --stack-name s"):
        check_status("s", "UPDATE_ROLLBACK_FAILED")
    for fine in ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"):
        check_status("s", fine)
