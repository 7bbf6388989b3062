"""Firehose delivers sale events where bronze reads them, and bronze takes each one once.

The delivery stream is created on the moto server from the template's own
``EventArchiveStream`` ``ExtendedS3DestinationConfiguration`` (the few ``Fn::GetAtt`` /
``Fn::Sub`` values resolved to this test's bucket, role and key); sale events go in with
PutRecordBatch; the objects moto lands are copied to a local landing folder and the real
bronze events stage (:func:`ingest_events_bronze`) reads them.

What moto (5.2, ``moto/firehose/models.py``) models, and what it does not:

- It stores the whole destination configuration and returns it from
  DescribeDeliveryStream, so the template's configuration must be valid for the API.
- PutRecordBatch writes one S3 object per call at once (no buffering), to
  ``<Prefix><YYYY/MM/dd/HH>/<stream>-<version>-<YYYY-MM-dd-HH-mm-ss>-<uuid>``, the records
  joined with nothing in between.
- It does not evaluate ``!{timestamp:…}`` / ``!{firehose:…}`` expressions: ``Prefix`` is
  used literally, and the default ``YYYY/MM/dd/HH/`` folders are appended even though
  Firehose appends them only to a prefix without a timestamp expression. The copy to the
  local landing folder therefore writes each object under the key Firehose would have
  used (expression evaluated at the arrival time, no default folders); the file name is
  kept.
- It ignores ``CompressionFormat`` (no gzip, no ``.gz``), ``ProcessingConfiguration``
  (``AppendDelimiterToRecord`` adds no newline), ``EncryptionConfiguration``,
  ``ErrorOutputPrefix`` (nothing ever fails), the role, and ``BufferingHints``. A Kinesis
  source is never read, hence ``DirectPut`` here.

So a second case writes objects the way Firehose does with this template (gzip, a ``.gz``
key in the documented name form, each record followed by the newline of
``AppendDelimiterToRecord``), and one as Firehose writes without that processor (records
back to back), and shows bronze reads them too.
"""

from __future__ import annotations

import gzip
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from sales_lakehouse.config import Settings
from sales_lakehouse.lake import Lake
from sales_lakehouse.pipeline.bronze_events import ingest_events_bronze
from sales_lakehouse_tools.deploy.template import load_template
from tests.aws.conftest import Aws
from tests.aws.lambda_events import ACCOUNT, REGION

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
ENVIRONMENT = "dev"
FIREHOSE_FOLDER = "landing/sales_events/firehose/"


def _quiet(_message: str) -> None:
    """A progress sink that prints nothing."""


def _archive_stream() -> dict[str, Any]:
    return dict(load_template(TEMPLATE)["Resources"]["EventArchiveStream"]["Properties"])


def _resolve(value: Any, names: dict[str, str]) -> Any:
    """``value`` with ``Ref`` / ``Fn::GetAtt`` / ``Fn::Sub`` replaced from ``names``
    (keys ``Name`` for a Ref or pseudo parameter, ``Resource.Attribute`` for GetAtt)."""
    if isinstance(value, list):
        return [_resolve(item, names) for item in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return names[value["Ref"]]
    if set(value) == {"Fn::GetAtt"}:
        return names[".".join(value["Fn::GetAtt"])]
    if set(value) == {"Fn::Sub"}:
        return re.sub(r"\$\{([^}]+)\}", lambda match: names[match.group(1)], value["Fn::Sub"])
    unknown = [key for key in value if key.startswith("Fn::")]
    assert not unknown, f"the test does not resolve {unknown}"
    return {key: _resolve(item, names) for key, item in value.items()}


def _java_time(pattern: str, when: datetime) -> str:
    """A ``!{timestamp:<pattern>}`` value: the DateTimeFormatter letters the template uses."""
    assert re.fullmatch(r"[yMdH/=_-]+", pattern), f"the test does not evaluate {pattern!r}"
    for letters, directive in (("yyyy", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H")):
        pattern = pattern.replace(letters, directive)
    return when.strftime(pattern)


def _evaluate(prefix: str, when: datetime) -> str:
    """A Firehose ``Prefix`` as Firehose evaluates it for records that arrived ``when``."""
    return re.sub(r"!\{timestamp:([^}]+)\}", lambda match: _java_time(match.group(1), when), prefix)


def _event(event_id: str, order_id: str, line: int, **values: object) -> dict[str, object]:
    return {
        "event_id": event_id,
        "event_type": "sale",
        "event_ts": "2025-03-01T10:00:00Z",
        "source": "web",
        "order_id": order_id,
        "line_number": line,
        "order_ts": "2025-03-01T09:59:00Z",
        "store_id": "S001",
        "product_id": "P00001",
        "quantity": 1,
        "unit_price": "10.00",
        **values,
    }


def _record(event: dict[str, object]) -> bytes:
    """One record as the producer puts it on the stream: compact JSON, no newline."""
    return json.dumps(event, separators=(",", ":")).encode("utf-8")


# ---- the template: where Firehose writes, and what stays ------------------------------------


def test_firehose_writes_inside_what_bronze_reads_and_errors_outside() -> None:
    template = load_template(TEMPLATE)
    destination = _archive_stream()["ExtendedS3DestinationConfiguration"]
    prefix, errors = destination["Prefix"], destination["ErrorOutputPrefix"]

    assert prefix.startswith(FIREHOSE_FOLDER)
    # Spark skips paths whose name starts with "_" or ".": none on the way to the files.
    assert not [part for part in prefix.split("/") if part[:1] in ("_", ".")]
    assert "/ingest_date=!{timestamp:yyyy-MM-dd}/" in prefix
    # A Prefix with expressions needs an ErrorOutputPrefix, with the error type in it.
    assert "!{firehose:error-output-type}" in errors
    assert not errors.startswith("landing/sales_events/")
    assert destination["CompressionFormat"] == "GZIP"
    processors = destination["ProcessingConfiguration"]["Processors"]
    assert {"Type": "AppendDelimiterToRecord"} in processors

    role = template["Resources"]["FirehoseRole"]["Properties"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    objects = next(s for s in statements if "s3:PutObject" in s["Action"])
    assert set(objects["Action"]) == {"s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"}
    granted = {resource["Fn::Sub"] for resource in objects["Resource"]}
    assert granted == {
        "${LandingBucket.Arn}/landing/sales_events/firehose/*",
        "${LandingBucket.Arn}/landing/_firehose_errors/*",
    }

    # Landed pipeline input never expires; Firehose's error records do.
    bucket = template["Resources"]["LandingBucket"]["Properties"]
    expiring = [
        rule.get("Prefix", "")
        for rule in bucket["LifecycleConfiguration"]["Rules"]
        if "ExpirationInDays" in rule
    ]
    assert "landing/_firehose_errors/" in expiring
    events = "landing/sales_events/"
    assert not [p for p in expiring if events.startswith(p) or p.startswith(events)]


# ---- moto: the template's delivery configuration, records in, bronze ------------------------


@pytest.fixture
def delivery(aws: Aws) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(bucket, stream name, resolved destination) of a DirectPut stream on moto."""
    bucket = aws.bucket()
    iam, kms, firehose = aws.client("iam"), aws.client("kms"), aws.client("firehose")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "firehose.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role_name = f"firehose-{uuid.uuid4().hex[:8]}"
    role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    names = {
        "LandingBucket.Arn": f"arn:aws:s3:::{bucket}",
        "FirehoseRole.Arn": role_arn,
        "DataKey.Arn": key_arn,
        "EnvironmentName": ENVIRONMENT,
        "AWS::AccountId": ACCOUNT,
        "AWS::Region": REGION,
    }
    properties = _archive_stream()
    destination = _resolve(properties["ExtendedS3DestinationConfiguration"], names)
    name = f"{_resolve(properties['DeliveryStreamName'], names)}-{uuid.uuid4().hex[:6]}"
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration=destination,
    )
    yield bucket, name, destination
    firehose.delete_delivery_stream(DeliveryStreamName=name)
    iam.delete_role(RoleName=role_name)
    aws.drop_bucket(bucket)


def _land_through_moto(
    aws: Aws, delivery: tuple[str, str, dict[str, Any]], landing_root: Path
) -> dict[str, tuple[Any, ...]]:
    """PutRecordBatch to the moto stream; copy the object moto lands to ``landing_root``
    under the key Firehose would use. The bronze rows expected from it, by event id."""
    bucket, stream, destination = delivery
    firehose = aws.client("firehose")
    described = firehose.describe_delivery_stream(DeliveryStreamName=stream)
    stored = described["DeliveryStreamDescription"]["Destinations"][0]
    assert stored["ExtendedS3DestinationDescription"]["Prefix"] == destination["Prefix"]

    events = [
        _event("fh-1", "FH1", 1, quantity=2, unit_price="19.99"),
        _event("fh-2", "FH1", 2, unit_price=5),
        _event("fh-3", "FH2", 1, event_type="return"),
        # Against the contract (unknown type, quantity not a number): bronze keeps it as
        # landed, silver quarantines it.
        _event("fh-bad", "FH3", 1, event_type="refund", quantity="many"),
    ]
    answer = firehose.put_record_batch(
        DeliveryStreamName=stream, Records=[{"Data": _record(event)} for event in events]
    )
    assert answer["FailedPutCount"] == 0

    keys = aws.keys(bucket)
    assert len(keys) == 1
    (key,) = keys
    # moto: the literal Prefix, the default hour folders, the documented name, no .gz.
    found = re.fullmatch(
        re.escape(destination["Prefix"]) + r"\d{4}/\d\d/\d\d/\d\d/" + re.escape(stream) + "-1-"
        r"(?P<at>\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)-[0-9a-f-]{36}",
        key,
    )
    assert found, key
    body = aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == b"".join(_record(event) for event in events)  # no delimiter, no gzip

    arrived = datetime.strptime(found["at"], "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
    landed = landing_root / _evaluate(destination["Prefix"], arrived) / key.rsplit("/", 1)[1]
    assert landed.parent.name == f"ingest_date={arrived:%Y-%m-%d}"
    landed.parent.mkdir(parents=True, exist_ok=True)
    landed.write_bytes(body)
    name = landed.name
    return {
        "fh-1": ("FH1", "1", "sale", "2", "19.99", False, name),
        "fh-2": ("FH1", "2", "sale", "1", "5", False, name),
        "fh-3": ("FH2", "1", "return", "1", "10.00", False, name),
        "fh-bad": ("FH3", "1", "refund", "many", "10.00", False, name),
    }


def _land_as_firehose(landing_root: Path) -> dict[str, tuple[Any, ...]]:
    """Objects as Firehose writes them with this template: gzip, under the evaluated
    prefix, named ``<stream>-<version>-<time>-<uuid>.gz``. The bronze rows expected."""
    properties = _archive_stream()
    stream = _resolve(properties["DeliveryStreamName"], {"EnvironmentName": ENVIRONMENT})
    prefix = properties["ExtendedS3DestinationConfiguration"]["Prefix"]
    folder = landing_root / _evaluate(prefix, datetime(2025, 3, 1, 10, 5, tzinfo=UTC))
    assert folder.as_posix().endswith("/landing/sales_events/firehose/ingest_date=2025-03-01")
    folder.mkdir(parents=True, exist_ok=True)

    def land(records: list[bytes], version: int) -> str:
        name = f"{stream}-{version}-2025-03-01-10-05-00-{uuid.uuid4()}.gz"
        (folder / name).write_bytes(gzip.compress(b"".join(records)))
        return name

    # As configured: AppendDelimiterToRecord puts a newline after every record.
    cut = b'{"event_id":"gz-cut","order_id"'  # a record that is not a whole JSON object
    delimited = land(
        [
            _record(_event("gz-1", "GZ1", 1, quantity=3)) + b"\n",
            _record(_event("gz-2", "GZ1", 2, unit_price="7.50")) + b"\n",
            cut + b"\n",
        ],
        version=2,
    )
    # Without that processor (Firehose's default): records back to back.
    back_to_back = land(
        [_record(_event("gz-3", "GZ2", 1)), _record(_event("gz-4", "GZ2", 2, quantity=4))],
        version=1,
    )
    return {
        "gz-1": ("GZ1", "1", "sale", "3", "10.00", False, delimited),
        "gz-2": ("GZ1", "2", "sale", "1", "7.50", False, delimited),
        cut.decode(): (None, None, None, None, None, True, delimited),
        "gz-3": ("GZ2", "1", "sale", "1", "10.00", False, back_to_back),
        "gz-4": ("GZ2", "2", "sale", "4", "10.00", False, back_to_back),
    }


@pytest.mark.aws
@pytest.mark.integration
def test_firehose_output_reaches_bronze_once(
    aws: Aws,
    delivery: tuple[str, str, dict[str, Any]],
    spark: SparkSession,
    tmp_path: Path,
) -> None:
    """What moto delivers, and objects as Firehose writes them, in one bronze run."""
    expected = _land_through_moto(aws, delivery, tmp_path) | _land_as_firehose(tmp_path)

    lake = Lake(spark, Settings(landing=str(tmp_path / "landing"), lake=str(tmp_path / "lake")))
    stats = ingest_events_bronze(lake, _quiet)
    assert stats is not None
    assert (stats.files, stats.rows_in) == (3, 9)
    rows = lake.read("bronze", "sales_events").collect()
    by_key = {row["event_id"] or row["_raw_line"]: row for row in rows}
    assert len(by_key) == len(rows) == 9  # each event once
    names = ("order_id", "line_number", "event_type", "quantity", "unit_price", "_is_malformed")
    found = {
        key: (*(row[name] for name in names), row["_source_file"].rsplit("/", 1)[1])
        for key, row in by_key.items()
    }
    assert found == expected
    for row in rows:
        assert "/landing/sales_events/firehose/ingest_date=" in row["_source_file"]
