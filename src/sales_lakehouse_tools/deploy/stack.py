"""Create or update the stack of infra/template.yaml through change sets (boto3).

:func:`deploy` does what ``aws cloudformation deploy`` does, plus the release steps:

1. On the stack's **first** deployment there is no artifacts bucket to upload to yet. It
   creates the stack from ``bootstrap.json``, sent inline (``TemplateBody``, at most 51,200
   bytes): the ``ArtifactsBucket`` and only what it needs (the key, the access-log bucket,
   their bucket policies), derived from the full template by
   :func:`~sales_lakehouse_tools.deploy.template.bootstrap_template`. This creates the bucket.
2. It uploads the wheel, the job scripts, the Lambda zip, the extract job's zip of wheels
   and JDBC jar, the forecast's SageMaker training source and the full ``template.json``
   under ``releases/<release>/`` of the artifacts bucket (found as the stack's
   ``ArtifactsBucket`` resource).
3. It updates the stack with the full template, which CloudFormation reads from that
   bucket (``TemplateURL``, at most 1 MB), and with the new keys through a change set, and
   prints every change the change set lists (action, logical id, type) and every parameter
   that changes. On the first deployment this update creates everything but the bootstrap
   resources, which it leaves as they are (they are identical in both templates).

With ``dry_run`` it executes nothing: it creates the change set, prints it and deletes it
(and on a first deployment also the empty stack that creating a change set leaves behind,
so a first dry run shows only the bootstrap change set). It uploads nothing but, for an
update, ``template.json`` (CloudFormation reads a template that large only from S3). A
deployment that would change nothing says ``no changes`` and exits 0. Parameters not given
keep the stack's current values, as with ``aws cloudformation deploy``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, WaiterError

from sales_lakehouse.aws import client
from sales_lakehouse_tools.deploy.package import Release
from sales_lakehouse_tools.deploy.template import size_problems
from sales_lakehouse_tools.deploy.training_source import ARCHIVE

# Set by deploy on every run; not for -p.
RELEASE_PARAMETERS = ("ArtifactsPrefix", "LambdaCodeKey", "WheelFileName")
BOOTSTRAP_PREFIX = "releases/bootstrap"
ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9]{1,9}$")
# CloudFormation's two ways of saying that a change set would change nothing.
NO_CHANGE_REASONS = ("didn't contain changes", "No updates are to be performed")
UNUSABLE = {
    "ROLLBACK_COMPLETE": "its creation failed and was rolled back; CloudFormation cannot update it",
    "ROLLBACK_FAILED": "its creation failed and so did the rollback",
    "DELETE_FAILED": "a deletion failed",
    "UPDATE_ROLLBACK_FAILED": (
        "an update failed and so did its rollback: run `aws cloudformation "
        "continue-update-rollback --stack-name {name}` first"
    ),
}
Printer = Callable[[str], None]


class DeployError(RuntimeError):
    """The deployment stopped: the message says why and what to do."""


@dataclass(frozen=True)
class DeployRequest:
    """What ``sales-lakehouse deploy`` was asked to do."""

    stack: str
    region: str | None = None
    endpoint_url: str | None = None
    env_name: str | None = None
    alert_email: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    dry_run: bool = False
    poll_seconds: float = 5.0


def parse_parameters(items: Iterable[str]) -> dict[str, str]:
    """``["Key=Value", …]`` as a dict (the value may contain ``=``)."""
    parameters = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"parameter {item!r} is not Key=Value")
        parameters[key] = value
    return parameters


def check_status(name: str, status: str) -> None:
    """Refuse stacks CloudFormation cannot update now, saying what to do instead."""
    if status in UNUSABLE:
        why = UNUSABLE[status].format(name=name)
        advice = (
            ""
            if status == "UPDATE_ROLLBACK_FAILED"
            else f". See why with `aws cloudformation describe-stack-events --stack-name {name}`, "
            f"delete it with `aws cloudformation delete-stack --stack-name {name}` and deploy "
            "again. The buckets and the key are retained on deletion: a new stack cannot "
            "create buckets whose names still exist, so empty and delete those first"
        )
        raise DeployError(f"stack {name} is {status}: {why}{advice}")
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployError(f"stack {name} is busy ({status}): wait until it is done and retry")


def _sessions(request: DeployRequest) -> tuple[Any, Any]:
    """CloudFormation and S3 clients, after checking that a region and credentials exist."""
    session = boto3.Session(region_name=request.region)
    if not session.region_name:
        raise DeployError("no AWS region: pass --region or set AWS_REGION")
    if session.get_credentials() is None:
        raise DeployError(
            "no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY), or run `aws configure` / `aws sso login`"
        )
    region = session.region_name
    return (
        client("cloudformation", request.endpoint_url, region),
        client("s3", request.endpoint_url, region),
    )


@dataclass
class Deployment:
    """One run of :func:`deploy` against one stack."""

    request: DeployRequest
    release: Release
    cfn: Any
    s3: Any
    out: Printer
    body: str = ""
    bootstrap_body: str = ""
    template_parameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.body = self.release.template.read_text(encoding="utf-8")
        self.bootstrap_body = self.release.bootstrap.read_text(encoding="utf-8")
        problems = size_problems(self.body, self.bootstrap_body)
        if problems:
            raise DeployError(f"{self.release.dist}: " + "; ".join(problems))
        self.template_parameters = json.loads(self.body).get("Parameters", {})
        self.explicit_parameters({})  # refuse bad -p / --env-name before touching the stack

    # ---- reading the stack ---------------------------------------------------------------

    def stack(self) -> dict[str, Any] | None:
        try:
            stacks = self.cfn.describe_stacks(StackName=self.request.stack)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                return None
            raise
        return stacks[0] if stacks else None

    def artifacts_bucket(self) -> str:
        """The physical name of the stack's ``ArtifactsBucket`` resource.

        Read from the resource rather than the output: moto's CloudFormation leaves the
        outputs of a stack created through a change set empty.
        """
        pages = self.cfn.get_paginator("list_stack_resources").paginate(
            StackName=self.request.stack
        )
        for page in pages:
            for resource in page["StackResourceSummaries"]:
                if resource.get("LogicalResourceId") == "ArtifactsBucket":
                    return str(resource["PhysicalResourceId"])
        raise DeployError(f"stack {self.request.stack} has no ArtifactsBucket resource")

    # ---- parameters ----------------------------------------------------------------------

    def explicit_parameters(self, release_values: Mapping[str, str]) -> dict[str, str]:
        request = self.request
        unknown = sorted(set(request.parameters) - set(self.template_parameters))
        if unknown:
            raise ValueError(f"the template has no parameter {', '.join(unknown)}")
        reserved = sorted(set(request.parameters) & set(RELEASE_PARAMETERS))
        if reserved:
            raise ValueError(f"{', '.join(reserved)} are set by deploy itself")
        explicit = dict(request.parameters)
        if request.env_name is not None:
            if not ENVIRONMENT_NAME.match(request.env_name):
                raise ValueError("--env-name must be 2-10 of a-z0-9, starting with a letter")
            explicit["EnvironmentName"] = request.env_name
        if request.alert_email is not None:
            explicit["AlertEmail"] = request.alert_email
        return {**explicit, **release_values}

    def resolved(self, explicit: Mapping[str, str], current: Mapping[str, str]) -> dict[str, str]:
        """Every parameter's value after the deployment: given, else current, else default."""
        values = {}
        for key, spec in self.template_parameters.items():
            if key in explicit:
                values[key] = explicit[key]
            elif key in current:
                values[key] = current[key]
            elif "Default" in spec:
                values[key] = str(spec["Default"])
        return values

    def api_parameters(
        self, explicit: Mapping[str, str], current: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = [
            {"ParameterKey": k, "ParameterValue": v} for k, v in explicit.items()
        ]
        parameters += [
            {"ParameterKey": k, "UsePreviousValue": True}
            for k in self.template_parameters
            if k not in explicit and k in current
        ]
        return parameters

    # ---- change sets ---------------------------------------------------------------------

    def change_set(
        self,
        kind: str,
        explicit: Mapping[str, str],
        current: Mapping[str, str],
        template: Mapping[str, str],
    ) -> tuple[str, list[dict[str, Any]]] | None:
        """Create a change set and wait for it: (its id, its changes), or None for no change.

        ``template`` is ``{"TemplateBody": …}`` or ``{"TemplateURL": …}``.
        """
        name = f"sales-lakehouse-{datetime.now(UTC):%Y%m%d%H%M%S%f}"
        created = self.cfn.create_change_set(
            StackName=self.request.stack,
            ChangeSetName=name,
            ChangeSetType=kind,
            **template,
            Parameters=self.api_parameters(explicit, current),
            Capabilities=["CAPABILITY_NAMED_IAM"],
            Description=f"sales-lakehouse {self.release.prefix}",
        )
        change_set_id = str(created["Id"])
        deadline = time.monotonic() + 900
        while True:
            found = self.cfn.describe_change_set(ChangeSetName=change_set_id)
            if found["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
                break
            if time.monotonic() > deadline:
                raise DeployError(f"change set {name} was not ready after 15 minutes")
            time.sleep(self.request.poll_seconds)
        if found["Status"] == "FAILED":
            reason = str(found.get("StatusReason", ""))
            self.cfn.delete_change_set(ChangeSetName=change_set_id)
            if any(text in reason for text in NO_CHANGE_REASONS):
                return None
            raise DeployError(f"change set {name} failed: {reason}")
        changes = list(found.get("Changes", []))
        while found.get("NextToken"):
            found = self.cfn.describe_change_set(
                ChangeSetName=change_set_id, NextToken=found["NextToken"]
            )
            changes += found.get("Changes", [])
        self.out(f"change set {name} ({kind}), {len(changes)} resource change(s):")
        self.out("\n".join(change_lines(changes)) or "  (no resource changes listed)")
        return change_set_id, changes

    def execute(self, change_set_id: str, kind: str) -> None:
        self.cfn.execute_change_set(ChangeSetName=change_set_id, StackName=self.request.stack)
        waiter = self.cfn.get_waiter(
            "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
        )
        delay = max(1, int(self.request.poll_seconds))
        try:
            waiter.wait(
                StackName=self.request.stack,
                WaiterConfig={"Delay": delay, "MaxAttempts": 7200 // delay},
            )
        except WaiterError as error:
            raise DeployError(
                f"stack {self.request.stack} did not reach {kind}_COMPLETE: "
                + "; ".join(self.failures() or [str(error)])
            ) from error

    def failures(self) -> list[str]:
        """The reasons of the stack's failed resource events, newest first."""
        events = self.cfn.describe_stack_events(StackName=self.request.stack)["StackEvents"]
        return [
            f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', e['ResourceStatus'])}"
            for e in events
            if e["ResourceStatus"].endswith("_FAILED")
        ][:10]

    def discard(self, change_set_id: str, kind: str) -> None:
        self.cfn.delete_change_set(ChangeSetName=change_set_id)
        if kind == "CREATE":  # creating the change set made an empty REVIEW_IN_PROGRESS stack
            self.cfn.delete_stack(StackName=self.request.stack)

    # ---- the steps -----------------------------------------------------------------------

    def bootstrap(self) -> bool:
        """First deployment: create the stack from the bootstrap template. False on a dry run."""
        request = self.request
        if request.env_name is None or request.alert_email is None:
            raise ValueError(
                f"stack {request.stack} does not exist yet: its first deployment needs "
                "--env-name and --alert-email"
            )
        resources = json.loads(self.bootstrap_body)["Resources"]
        total = len(json.loads(self.body)["Resources"])
        self.out(
            f"stack {request.stack} does not exist: bootstrap deployment (the artifacts bucket "
            f"and what it needs, {len(resources)} of {total} resources: "
            f"{', '.join(resources)}); the full template follows in the update"
        )
        values = {
            "ArtifactsPrefix": BOOTSTRAP_PREFIX,
            "LambdaCodeKey": "",
            "WheelFileName": self.release.wheel_name,
        }
        explicit = self.explicit_parameters(values)
        self.out(
            "parameters:\n"
            + "\n".join(f"  {k} = {v!r}" for k, v in self.resolved(explicit, {}).items())
        )
        created = self.change_set("CREATE", explicit, {}, {"TemplateBody": self.bootstrap_body})
        assert created is not None  # a new stack always changes
        change_set_id, _ = created
        if request.dry_run:
            self.discard(change_set_id, "CREATE")
            self.out(
                "dry run: nothing created. A real run then uploads the release to the new "
                "artifacts bucket and updates the stack with the full template "
                f"({self.release.template_key}) and "
                f"LambdaCodeKey={self.release.lambda_key}"
            )
            return False
        self.execute(change_set_id, "CREATE")
        self.out(f"created stack {request.stack}")
        return True

    def upload(self, bucket: str) -> None:
        prefix = self.release.prefix
        files = [
            (self.release.wheel, f"{prefix}/{self.release.wheel_name}"),
            *[(job, f"{prefix}/jobs/{job.name}") for job in self.release.jobs],
            (self.release.glue_modules, f"{prefix}/{self.release.glue_modules.name}"),
            *[(jar, f"{prefix}/jars/{jar.name}") for jar in self.release.jars],
            (self.release.training_source, f"{prefix}/{ARCHIVE}"),
            (self.release.lambda_zip, self.release.lambda_key),
            (self.release.template, self.release.template_key),
        ]
        for path, key in files:
            self.s3.upload_file(str(path), bucket, key)
        self.out(f"uploaded {len(files)} files to s3://{bucket}/{prefix}/")

    def template_url(self, bucket: str) -> str:
        """The ``TemplateURL`` of the uploaded ``template.json``: a path-style https URL
        on the region's S3 endpoint, as ``aws cloudformation deploy --s3-bucket`` makes.

        With an ``endpoint_url`` (moto), the same form on the AWS host name: moto does not
        fetch the URL, it reads the bucket and key out of it and the object from its own
        S3, and it takes ``https://s3.<region>.amazonaws.com/<bucket>/<key>`` as path-style
        but reads ``http://127.0.0.1:<port>/<bucket>/<key>`` as the bucket ``127``.
        """
        key = urllib.parse.quote(self.release.template_key)
        if self.request.endpoint_url:
            return f"https://s3.{self.s3.meta.region_name}.amazonaws.com/{bucket}/{key}"
        return f"{self.s3.meta.endpoint_url}/{bucket}/{key}"

    def update(self, stack: Mapping[str, Any]) -> None:
        request = self.request
        current = {
            p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
        }
        bucket = self.artifacts_bucket()
        if not request.dry_run:
            self.upload(bucket)
        values = {
            "ArtifactsPrefix": self.release.prefix,
            "LambdaCodeKey": self.release.lambda_key,
            "WheelFileName": self.release.wheel_name,
        }
        explicit = self.explicit_parameters(values)
        after = self.resolved(explicit, current)
        changed = {k: (current.get(k), v) for k, v in after.items() if current.get(k) != v}
        if not changed and self.deployed_template() == json.loads(self.body):
            self.out(f"no changes: stack {request.stack} is up to date ({self.release.prefix})")
            return
        if changed:
            self.out("parameters:")
            self.out("\n".join(f"  {k}: {old!r} -> {new!r}" for k, (old, new) in changed.items()))
        if request.dry_run:  # CloudFormation reads a template this large only from S3
            self.s3.upload_file(str(self.release.template), bucket, self.release.template_key)
            self.out(f"uploaded the template to s3://{bucket}/{self.release.template_key}")
        created = self.change_set(
            "UPDATE", explicit, current, {"TemplateURL": self.template_url(bucket)}
        )
        if created is None:
            self.out(f"no changes: stack {request.stack} is up to date ({self.release.prefix})")
            return
        change_set_id, _ = created
        if request.dry_run:
            self.discard(change_set_id, "UPDATE")
            self.out("dry run: change set deleted, nothing changed; only the template was uploaded")
            return
        self.execute(change_set_id, "UPDATE")
        self.out(f"updated stack {request.stack}: release {self.release.prefix}")

    def deployed_template(self) -> Any:
        answer = self.cfn.get_template(StackName=self.request.stack, TemplateStage="Original")
        body = answer["TemplateBody"]
        if isinstance(body, str):
            try:
                return json.loads(body)
            except json.JSONDecodeError:
                return None
        return json.loads(json.dumps(body))

    def outputs(self) -> None:
        stack = self.stack()
        outputs = (stack or {}).get("Outputs", [])
        if outputs:
            self.out("outputs:")
            self.out("\n".join(f"  {o['OutputKey']:<24} {o['OutputValue']}" for o in outputs))


def change_lines(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    """``  Action  LogicalId  Type  [replacement]`` per resource change."""
    lines = []
    for change in changes:
        resource = change.get("ResourceChange", {})
        replacement = resource.get("Replacement")
        suffix = f"  replacement: {replacement}" if replacement not in (None, "False") else ""
        lines.append(
            f"  {resource.get('Action', '?'):<7} {resource.get('LogicalResourceId', '?'):<34} "
            f"{resource.get('ResourceType', '?')}{suffix}"
        )
    return lines


def deploy(request: DeployRequest, release: Release, out: Printer = print) -> None:
    """Create or update the stack with ``release`` (see the module docstring)."""
    try:
        cfn, s3 = _sessions(request)
        deployment = Deployment(request, release, cfn, s3, out)
        stack = deployment.stack()
        if stack is not None:
            check_status(request.stack, stack["StackStatus"])
        if stack is None or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
            if not deployment.bootstrap():
                return
            stack = deployment.stack()
            assert stack is not None
        deployment.update(stack)
        if not request.dry_run:
            deployment.outputs()
    except NoCredentialsError as error:
        raise DeployError(f"no AWS credentials: {error}") from error
    except (BotoCoreError, ClientError) as error:
        raise DeployError(str(error)) from error
