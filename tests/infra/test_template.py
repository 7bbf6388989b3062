"""What cfn-lint, checkov and moto do not check in infra/template.yaml.

checkov has no CloudFormation check for a TLS-only bucket policy, accepts SSE-S3 as bucket
encryption and knows nothing of this project: the Glue job arguments the jobs' parsers
accept, the Lambda settings the consumer expects, the saved Athena queries. moto creates
resources that a real account refuses or that silently do nothing there; where AWS's
documentation says so, the rule is encoded here with the page it comes from:

- a traced function whose role cannot write X-Ray fails CreateFunction
  (https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html, "Execution role
  permissions");
- a reserved concurrency must leave 100 unreserved in the account; new accounts have a
  limit of 10-50 (https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html);
- ``DeletionPolicy: Retain`` keeps a bucket after a failed create and its name then blocks
  the retry; ``RetainExceptOnCreate`` does not
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html);
- EventBridge cannot publish to a KMS-encrypted topic whose key grants events.amazonaws.com
  only under aws:SourceAccount / aws:SourceArn
  (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html, "Enable compatibility
  between event sources from AWS services and encrypted topics");
- S3 server access logs are delivered only to a target bucket encrypted with SSE-S3
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html);
- Glue 5.x ignores the Glue 4 continuous-logging options and logs to
  ``<--custom-logGroup-prefix>/error`` and ``/output``
  (https://docs.aws.amazon.com/glue/latest/dg/monitor-continuous-logging.html);
- a job with a connection runs in the connection's subnet: Glue refuses to start it when
  the subnet has no S3 endpoint (or NAT), when none of the connection's security groups
  admits all TCP from itself or lets traffic out to itself, or when the role may not
  describe the VPC and create the job's network interfaces
  (https://docs.aws.amazon.com/glue/latest/dg/glue-troubleshooting-errors.html, "Could not
  find S3 endpoint or NAT gateway", "Inbound/Outbound rule in security group required",
  "DescribeVpcEndpoints action is unauthorized" and the next three errors); the
  connection's Availability Zone must be its subnet's;
- in a VPC without a NAT gateway pip cannot reach PyPI, so a job there installs its Python
  modules from a zip of wheels with ``--no-index``
  (https://docs.aws.amazon.com/glue/latest/dg/aws-glue-programming-python-libraries.html,
  "zip of wheels", offline installation in private VPCs);
- a function in a VPC needs a role that may create, describe and delete network
  interfaces and assign their addresses, ``DescribeNetworkInterfaces`` on ``*`` only
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html, "Required IAM
  permissions");
- interface endpoints with private DNS need a VPC with DNS support and DNS host names
  (https://docs.aws.amazon.com/vpc/latest/privatelink/create-interface-endpoint.html);
- an RDS DB subnet group covers at least two Availability Zones, and ``MasterUserPassword``
  cannot be given with ``ManageMasterUserPassword``
  (https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_VPC.WorkingWithRDSInstanceinaVPC.html,
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html).
- Athena runs a query with the caller's rights: whoever creates the dashboard's views (the
  catalog job) or queries them (QuickSight) needs the workgroup, read and write on its
  results location and the key that encrypts it
  (https://docs.aws.amazon.com/athena/latest/ug/encryption.html; the
  AWSQuicksightAthenaAccess policy,
  https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSQuicksightAthenaAccess.html);
  an Athena view is a Glue table of its database;
- a QuickSight Athena data source queries with the role named in ``AthenaParameters.RoleArn``
  (https://docs.aws.amazon.com/quicksight/latest/APIReference/API_AthenaParameters.html),
  which QuickSight must be able to assume; a dataset's ``InputColumns`` are the columns it
  selects from the view (API_RelationalTable.html), so one the view lacks fails every query;
  a dashboard whose visuals name a column or dataset identifier its datasets do not declare
  is refused (API_DataSetIdentifierDeclaration.html, API_ColumnIdentifier.html); the owner
  of each resource gets the action lists of the QuickSight developer guide's permission
  examples (update-data-source-permissions.html, update-data-set-permissions.html,
  update-dashboard-permissions.html), without which the principal cannot even open it.

Each rule is a function returning its problems; the tests run it on the template, and on a
broken copy to show the rule can fail.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobs import maintenance, register_catalog

from sales_lakehouse.config import LAKE_PREFIXES, LAYERS, Settings
from sales_lakehouse.contracts import DATASETS, output_columns
from sales_lakehouse.dashboard.views import VIEW_PREFIX, VIEWS, view_sql
from sales_lakehouse.ingest.config import VARIABLES
from sales_lakehouse.lake.lock import LOCK_NAME
from sales_lakehouse.quality.results import RESULT_COLUMNS
from sales_lakehouse.runtime import jobs as spark_jobs
from sales_lakehouse.runtime.cli import build_parser
from sales_lakehouse.runtime.session import JDBC_ARTIFACTS
from sales_lakehouse_tools.deploy.template import load_template
from sales_lakehouse_tools.deploy.training_source import ARCHIVE

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
ATHENA = ROOT / "infra" / "athena"
KEY = {"Fn::GetAtt": ["DataKey", "Arn"]}
KEY_RULE = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}
# Services whose whole action set must never be granted ("s3:*" etc.).
DATA_SERVICES = (
    *("s3", "glue", "sns", "sqs", "kinesis", "kms", "lambda", "logs", "firehose"),
    *("ec2", "rds", "secretsmanager"),
)
# The only actions that may have Resource "*": they have no resource to scope to, and
# each must carry the condition named here (None: the service offers none).
RESOURCE_STAR_ALLOWED: dict[str, str | None] = {
    "cloudwatch:PutMetricData": "cloudwatch:namespace",
    "xray:PutTraceSegments": None,
    "xray:PutTelemetryRecords": None,
    # Describe actions of EC2 have no resource-level permissions.
    "ec2:DescribeVpcEndpoints": None,
    "ec2:DescribeRouteTables": None,
    "ec2:DescribeSubnets": None,
    "ec2:DescribeSecurityGroups": None,
    "ec2:DescribeVpcAttribute": None,
    "ec2:DescribeNetworkInterfaces": None,
    # SageMaker's execution role pulls the training image (ForecastTrainingRole).
    "ecr:GetAuthorizationToken": None,
}
XRAY_WRITE = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# Glue 4.0-and-earlier logging options that Glue 5.x ignores.
GLUE4_LOGGING = {"--enable-continuous-cloudwatch-log", "--continuous-log-logGroup"}
# Arguments Glue itself reads; every other job argument goes to the job's own parser.
GLUE_ARGUMENTS = {
    "--datalake-formats",
    "--conf",
    "--additional-python-modules",
    "--enable-metrics",
    "--enable-observability-metrics",
    "--custom-logGroup-prefix",
    "--TempDir",
    "--job-language",
    "--extra-jars",
    "--python-modules-installer-option",
}
# What Glue checks for a job in a VPC (troubleshooting page) and creates there.
GLUE_VPC_ACTIONS = {
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
}
# What Lambda needs to put a function into a VPC (Lambda guide, "Required IAM permissions").
LAMBDA_VPC_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
DELTA_CONF = (
    "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension"
    " --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog"
)
# Variables IngestSettings.from_env reads (src/sales_lakehouse/ingest/config.py) plus
# Powertools' own.
LAMBDA_VARIABLES = {*VARIABLES, "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}


Template = dict[str, Any]


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(TEMPLATE)


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: body.get("Properties", {})
        for name, body in template["Resources"].items()
        if body["Type"] == kind
    }


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def iam_statements(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource name, statement) of every identity policy in the template."""
    for name, props in resources(template, "AWS::IAM::Role").items():
        for policy in props.get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, props in resources(template, kind).items():
            for statement in props["PolicyDocument"]["Statement"]:
                yield name, statement


# ---- rules -----------------------------------------------------------------------------


def tls_only_problems(template: Template) -> list[str]:
    """Buckets without a bucket policy that denies every request made without TLS."""
    policies = resources(template, "AWS::S3::BucketPolicy").values()
    problems = []
    for bucket in resources(template, "AWS::S3::Bucket"):
        statements = [
            s
            for p in policies
            if p["Bucket"] == {"Ref": bucket}
            for s in p["PolicyDocument"]["Statement"]
        ]
        denies = [
            s
            for s in statements
            if s["Effect"] == "Deny"
            and s.get("Principal") == "*"
            and s["Action"] in ("s3:*", ["s3:*"])
            and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            and {"Fn::GetAtt": [bucket, "Arn"]} in _listify(s["Resource"])
            and {"Fn::Sub": f"${{{bucket}.Arn}}/*"} in _listify(s["Resource"])
        ]
        if not denies:
            problems.append(f"{bucket}: no statement denying aws:SecureTransport=false")
    return problems


def encryption_problems(template: Template) -> list[str]:
    """Buckets whose default encryption is not SSE-KMS with the stack's own key (access-log
    targets excepted: :func:`access_log_problems`)."""
    problems = []
    for bucket, props in resources(template, "AWS::S3::Bucket").items():
        if bucket in _logging_targets(template):
            continue
        rules = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
        defaults = [rule.get("ServerSideEncryptionByDefault", {}) for rule in rules]
        if defaults != [{"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}]:
            problems.append(f"{bucket}: encryption is {defaults}, not aws:kms with DataKey")
    return problems


def iam_problems(template: Template) -> list[str]:
    """Wildcard actions, and Resource "*" outside the allow-list (and its condition)."""
    problems = []
    for name, statement in iam_statements(template):
        actions = _listify(statement.get("Action", []))
        for action in actions:
            service = str(action).split(":", 1)[0]
            if action == "*" or (action == f"{service}:*" and service in DATA_SERVICES):
                problems.append(f"{name} {statement.get('Sid')}: action {action}")
        if "*" in _listify(statement.get("Resource", [])):
            allowed = all(action in RESOURCE_STAR_ALLOWED for action in actions)
            conditions = {key for test in statement.get("Condition", {}).values() for key in test}
            needed = {RESOURCE_STAR_ALLOWED.get(action) for action in actions} - {None}
            if not allowed or not needed <= conditions:
                problems.append(f"{name} {statement.get('Sid')}: Resource * for {actions}")
    return problems


def event_source_problems(template: Template) -> list[str]:
    """Mappings without partial batch responses; SQS visibility below 6 x the timeout;
    Kinesis mappings that retry forever or have no on-failure destination."""
    functions = resources(template, "AWS::Lambda::Function")
    queues = resources(template, "AWS::SQS::Queue")
    problems = []
    for name, esm in resources(template, "AWS::Lambda::EventSourceMapping").items():
        if esm.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
            problems.append(f"{name}: no ReportBatchItemFailures")
        function = functions[esm["FunctionName"]["Ref"]]
        source = esm["EventSourceArn"]["Fn::GetAtt"][0]
        if source in queues:
            visibility = queues[source].get("VisibilityTimeout", 30)
            if visibility < 6 * function["Timeout"]:
                problems.append(f"{name}: visibility {visibility} < 6 x {function['Timeout']}")
        else:
            if esm.get("BisectBatchOnFunctionError") is not True:
                problems.append(f"{name}: no BisectBatchOnFunctionError")
            for setting in ("MaximumRetryAttempts", "MaximumRecordAgeInSeconds"):
                if esm.get(setting, -1) == -1:
                    problems.append(f"{name}: {setting} is unlimited")
            if "Destination" not in esm.get("DestinationConfig", {}).get("OnFailure", {}):
                problems.append(f"{name}: no on-failure destination")
    return problems


def _job_script(job: dict[str, Any]) -> str:
    location = job["Command"]["ScriptLocation"]["Fn::Sub"]
    return location.rsplit("/", 1)[1]


def _job_arguments(job: dict[str, Any], parameters: dict[str, Any]) -> dict[str, str]:
    """The job's own arguments; a parameter gives its default, other CloudFormation values
    a sample string."""
    own = {k: v for k, v in job["DefaultArguments"].items() if k not in GLUE_ARGUMENTS}

    def sample(value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and value.get("Ref") in parameters:
            return str(parameters[value["Ref"]]["Default"])
        return "s3://sample/x"

    return {key: sample(value) for key, value in own.items()}


def glue_job_problems(template: Template) -> list[str]:
    """Jobs without Glue 5.1, Delta, the one --conf chain, or with arguments their parser refuses."""
    problems = []
    for name, job in resources(template, "AWS::Glue::Job").items():
        arguments = job["DefaultArguments"]
        if job.get("GlueVersion") != "5.1":
            problems.append(f"{name}: GlueVersion {job.get('GlueVersion')}")
        if arguments.get("--datalake-formats") != "delta":
            problems.append(f"{name}: no --datalake-formats delta")
        if [key for key in arguments if key.strip() == "--conf"] != ["--conf"]:
            problems.append(f"{name}: --conf must be one key")
        if arguments.get("--conf") != DELTA_CONF:
            problems.append(f"{name}: --conf is not the Delta chain")
        if job.get("ExecutionProperty") != {"MaxConcurrentRuns": 1}:
            problems.append(f"{name}: MaxConcurrentRuns is not 1")
        script = _job_script(job)
        if not (ROOT / "jobs" / script).is_file():
            problems.append(f"{name}: jobs/{script} does not exist")
        arguments = _job_arguments(job, template["Parameters"])
        problems += [f"{name}: {p}" for p in _argument_problems(script, arguments)]
    return problems


def _argument_problems(script: str, arguments: dict[str, str]) -> list[str]:
    """What the job's own parser says about ``arguments`` (argparse exits on an unknown one)."""
    argv = [script, *[item for pair in arguments.items() for item in pair]]
    if script == "register_catalog.py":
        options = vars(register_catalog.parse_args(argv[1:]))
    elif script in ("extract_oltp.py", "forecast_features.py"):
        # The job calls a CLI command, leaving Glue's own arguments alone.
        command = ["extract"] if script == "extract_oltp.py" else ["forecast", "features"]
        parsed, unknown = build_parser().parse_known_args([*command, *argv[1:]])
        if unknown:
            return [f"arguments {unknown} are not {' '.join(command)} options"]
        options = vars(parsed)
    elif script == "maintenance.py":
        try:
            options = vars(maintenance.parse_args(argv[1:]))
        except SystemExit:
            return [f"argparse refuses {arguments}"]
    else:
        # On Glue the names come from getResolvedOptions with OPTIONS; off Glue, argparse.
        unknown = [k for k in arguments if k[2:] not in spark_jobs.OPTIONS]
        if unknown:
            return [f"arguments {unknown} are not in sales_lakehouse.runtime.jobs.OPTIONS"]
        try:
            options = spark_jobs.parse_args("", argv)
        except SystemExit:
            return [f"argparse refuses {arguments}"]
    return [
        f"{key} not parsed"
        for key, value in arguments.items()
        if not _parsed_as(options.get(key[2:].replace("-", "_")), value)
    ]


def _parsed_as(parsed: Any, given: str) -> bool:
    """True if the parser kept ``given`` (a number option holds it converted)."""
    if isinstance(parsed, int | float) and not isinstance(parsed, bool):
        return parsed == float(given)
    return bool(parsed == given)


def _role_of(function: dict[str, Any]) -> str:
    return str(function["Role"]["Fn::GetAtt"][0])


def _role_statements(template: Template, role: str) -> list[dict[str, Any]]:
    return [statement for name, statement in iam_statements(template) if name == role]


def tracing_problems(template: Template) -> list[str]:
    """Traced functions whose role cannot write X-Ray (CreateFunction would fail)."""
    problems = []
    for name, function in resources(template, "AWS::Lambda::Function").items():
        if function.get("TracingConfig", {}).get("Mode") != "Active":
            continue
        granted = {
            action
            for statement in _role_statements(template, _role_of(function))
            if statement["Effect"] == "Allow" and statement.get("Resource") == "*"
            for action in _listify(statement["Action"])
        }
        if not granted >= XRAY_WRITE:
            problems.append(
                f"{name}: role {_role_of(function)} lacks {sorted(XRAY_WRITE - granted)}"
            )
    return problems


def concurrency_problems(template: Template) -> list[str]:
    """Functions that reserve concurrency in a default deployment, and roles shared by functions."""
    problems = []
    parameters = template["Parameters"]
    roles: dict[str, list[str]] = {}
    for name, function in resources(template, "AWS::Lambda::Function").items():
        roles.setdefault(_role_of(function), []).append(name)
        reserved = function.get("ReservedConcurrentExecutions")
        if reserved is None:
            continue
        branch = reserved.get("Fn::If", []) if isinstance(reserved, dict) else []
        default = parameters.get(branch[1].get("Ref"), {}).get("Default") if branch else None
        condition = template["Conditions"].get(branch[0]) if branch else None
        gated = bool(branch) and condition == {"Fn::Not": [{"Fn::Equals": [branch[1], "0"]}]}
        if not (gated and str(default) == "0" and branch[2] == {"Ref": "AWS::NoValue"}):
            problems.append(f"{name}: reserves concurrency {reserved} by default")
    problems += [
        f"role {role} is shared by {names}" for role, names in roles.items() if len(names) > 1
    ]
    return problems


def retention_problems(template: Template) -> list[str]:
    """Resources kept after a failed first create (their names then block the retry)."""
    return [
        f"{name}: DeletionPolicy Retain"
        for name, body in template["Resources"].items()
        if body.get("DeletionPolicy") == "Retain"
    ]


def _key_grants(template: Template, service: str) -> list[dict[str, Any]]:
    key = template["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    return [
        s
        for s in key
        if s["Effect"] == "Allow"
        and service in _listify(s.get("Principal", {}).get("Service", []))
        and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(_listify(s["Action"]))
    ]


def encrypted_topic_problems(template: Template) -> list[str]:
    """Services publishing to a DataKey-encrypted topic without a key grant in a form they
    support: EventBridge rules (no source conditions allowed) and CloudWatch alarms."""
    topics = {
        name
        for name, topic in resources(template, "AWS::SNS::Topic").items()
        if topic.get("KmsMasterKeyId") == KEY
    }
    publishers = set()
    for rule in resources(template, "AWS::Events::Rule").values():
        if any(target["Arn"] in [{"Ref": t} for t in topics] for target in rule.get("Targets", [])):
            publishers.add("events.amazonaws.com")
    for alarm in resources(template, "AWS::CloudWatch::Alarm").values():
        if any(action in [{"Ref": t} for t in topics] for action in alarm.get("AlarmActions", [])):
            publishers.add("cloudwatch.amazonaws.com")
    problems = []
    for service in sorted(publishers):
        grants = _key_grants(template, service)
        if not grants:
            problems.append(f"DataKey: no grant for {service}")
        if service == "events.amazonaws.com":
            for grant in grants:
                keys = {key for test in grant.get("Condition", {}).values() for key in test}
                if keys & {"aws:SourceAccount", "aws:SourceArn"}:
                    problems.append(f"DataKey {grant.get('Sid')}: {service} under {sorted(keys)}")
    return problems


def function_key_problems(template: Template) -> list[str]:
    """Functions whose environment is encrypted with DataKey but whose role cannot decrypt it."""
    problems = []
    for name, function in resources(template, "AWS::Lambda::Function").items():
        if function.get("KmsKeyArn") != KEY:
            continue
        decrypt = any(
            "kms:Decrypt" in _listify(s["Action"]) and s["Resource"] == KEY
            for s in _role_statements(template, _role_of(function))
        )
        if not decrypt:
            problems.append(f"{name}: role {_role_of(function)} cannot kms:Decrypt DataKey")
    return problems


def _logging_targets(template: Template) -> set[str]:
    return {
        props["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
        for props in resources(template, "AWS::S3::Bucket").values()
        if "LoggingConfiguration" in props
    }


def access_log_problems(template: Template) -> list[str]:
    """Access-log target buckets not encrypted with SSE-S3 (logs would not be delivered)."""
    problems = []
    buckets = resources(template, "AWS::S3::Bucket")
    for target in sorted(_logging_targets(template)):
        rules = buckets[target]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        defaults = [rule["ServerSideEncryptionByDefault"] for rule in rules]
        if defaults != [{"SSEAlgorithm": "AES256"}]:
            problems.append(f"{target}: access-log target encrypted with {defaults}, not SSE-S3")
    return problems


def log_group_key_problems(template: Template) -> list[str]:
    """Log groups encrypted with DataKey while the key does not let CloudWatch Logs use it
    (CreateLogGroup fails: https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html)."""
    key = template["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    logs = {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}
    granted = any(
        s["Effect"] == "Allow"
        and s.get("Principal", {}).get("Service") == logs
        and {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"} <= set(_listify(s["Action"]))
        for s in key
    )
    encrypted = [
        name
        for name, group in resources(template, "AWS::Logs::LogGroup").items()
        if group.get("KmsKeyId") == KEY
    ]
    return (
        [] if granted else [f"{name}: DataKey does not grant CloudWatch Logs" for name in encrypted]
    )


def glue_logging_problems(template: Template) -> list[str]:
    """Jobs with Glue 4 logging options, or whose --custom-logGroup-prefix groups the stack
    does not create with a retention and DataKey."""
    groups = {
        props["LogGroupName"]["Fn::Sub"]: props
        for props in resources(template, "AWS::Logs::LogGroup").values()
    }
    problems = []
    for name, job in resources(template, "AWS::Glue::Job").items():
        arguments = job["DefaultArguments"]
        problems += [f"{name}: {key} (Glue 4)" for key in sorted(GLUE4_LOGGING & set(arguments))]
        prefix = arguments.get("--custom-logGroup-prefix", {}).get("Fn::Sub")
        for suffix in ("error", "output"):
            group = groups.get(f"{prefix}/{suffix}")
            if group is None or "RetentionInDays" not in group or group.get("KmsKeyId") != KEY:
                problems.append(f"{name}: no log group {prefix}/{suffix} with retention and key")
    return problems


# Trust-policy conditions the assuming service documents that it sets. A condition on a key
# the service does not pass denies every AssumeRole (the key is missing, so StringEquals is
# false). Firehose documents sts:ExternalId = the account id; Glue, Lambda and EventBridge
# document none for their job / execution / target roles.
DOCUMENTED_TRUST_CONDITIONS = {"firehose.amazonaws.com": {"sts:ExternalId"}}


def trust_problems(template: Template) -> list[str]:
    """Role trust conditions on keys the assuming service does not document."""
    problems = []
    for name, role in resources(template, "AWS::IAM::Role").items():
        for statement in role["AssumeRolePolicyDocument"]["Statement"]:
            service = statement["Principal"]["Service"]
            keys = {key for test in statement.get("Condition", {}).values() for key in test}
            extra = keys - DOCUMENTED_TRUST_CONDITIONS.get(service, set())
            if extra:
                problems.append(f"{name}: trust of {service} conditioned on {sorted(extra)}")
    return problems


def _ref(value: Any) -> Any:
    return value.get("Ref") if isinstance(value, dict) else None


def _granted(template: Template, role: str) -> dict[str, list[Any]]:
    """Action -> the resources the role's Allow statements grant it on."""
    granted: dict[str, list[Any]] = {}
    for statement in _role_statements(template, role):
        if statement["Effect"] != "Allow":
            continue
        for action in _listify(statement["Action"]):
            granted.setdefault(action, []).extend(_listify(statement["Resource"]))
    return granted


def _self_rule(template: Template, group: str, kind: str) -> bool:
    """Whether ``group`` has a ``kind`` (Ingress / Egress) rule for all TCP from / to itself."""
    peer = "SourceSecurityGroupId" if kind == "Ingress" else "DestinationSecurityGroupId"
    rules = [
        rule
        for rule in resources(template, f"AWS::EC2::SecurityGroup{kind}").values()
        if _ref(rule.get("GroupId")) == group and _ref(rule.get(peer)) == group
    ]
    return any(
        str(rule["IpProtocol"]) == "-1"
        or (rule["IpProtocol"] == "tcp" and rule["FromPort"] == 0 and rule["ToPort"] == 65535)
        for rule in rules
    )


def glue_connection_problems(template: Template) -> list[str]:
    """Glue connections whose subnet Glue refuses, and jobs in them that cannot start."""
    problems = []
    associations = resources(template, "AWS::EC2::SubnetRouteTableAssociation").values()
    endpoints = resources(template, "AWS::EC2::VPCEndpoint").values()
    s3_route_tables = {
        _ref(table)
        for endpoint in endpoints
        if endpoint.get("VpcEndpointType") == "Gateway"
        and endpoint["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.s3"}
        for table in endpoint.get("RouteTableIds", [])
    }
    nat = bool(resources(template, "AWS::EC2::NatGateway"))
    for name, connection in resources(template, "AWS::Glue::Connection").items():
        physical = connection["ConnectionInput"]["PhysicalConnectionRequirements"]
        subnet = _ref(physical["SubnetId"])
        tables = {_ref(a["RouteTableId"]) for a in associations if _ref(a["SubnetId"]) == subnet}
        if not nat and not tables & s3_route_tables:
            problems.append(f"{name}: subnet {subnet} has no S3 endpoint or NAT gateway")
        if physical.get("AvailabilityZone") != {"Fn::GetAtt": [subnet, "AvailabilityZone"]}:
            problems.append(f"{name}: AvailabilityZone is not its subnet's")
        groups = [_ref(group) for group in physical["SecurityGroupIdList"]]
        if not any(_self_rule(template, group, "Ingress") for group in groups):
            problems.append(f"{name}: no security group admits all TCP from itself")
        if not any(_self_rule(template, group, "Egress") for group in groups):
            problems.append(f"{name}: no security group lets all TCP out to itself")
    for name, job in resources(template, "AWS::Glue::Job").items():
        if not job.get("Connections"):
            continue
        missing = GLUE_VPC_ACTIONS - set(_granted(template, job["Role"]["Fn::GetAtt"][0]))
        if missing:
            problems.append(f"{name}: role lacks {sorted(missing)}")
        arguments = job["DefaultArguments"]
        modules = arguments.get("--additional-python-modules", {})
        offline = str(modules.get("Fn::Sub", modules)).endswith(".gluewheels.zip") and (
            "--no-index" in str(arguments.get("--python-modules-installer-option", ""))
        )
        if not nat and not offline:
            problems.append(f"{name}: pip cannot reach PyPI from the VPC (no zip of wheels)")
    return problems


def vpc_function_problems(template: Template) -> list[str]:
    """Functions in a VPC whose role cannot manage their network interfaces."""
    problems = []
    for name, function in resources(template, "AWS::Lambda::Function").items():
        if "VpcConfig" not in function:
            continue
        granted = _granted(template, _role_of(function))
        missing = LAMBDA_VPC_ACTIONS - set(granted)
        if missing:
            problems.append(f"{name}: role {_role_of(function)} lacks {sorted(missing)}")
        elif "*" not in granted["ec2:DescribeNetworkInterfaces"]:
            problems.append(f"{name}: ec2:DescribeNetworkInterfaces is not on Resource *")
    return problems


def endpoint_dns_problems(template: Template) -> list[str]:
    """Private-DNS interface endpoints in a VPC without DNS support and host names."""
    vpcs = resources(template, "AWS::EC2::VPC")
    problems = []
    for name, endpoint in resources(template, "AWS::EC2::VPCEndpoint").items():
        if endpoint.get("PrivateDnsEnabled"):
            vpc = vpcs[_ref(endpoint["VpcId"])]
            if not (vpc.get("EnableDnsSupport") and vpc.get("EnableDnsHostnames")):
                problems.append(f"{name}: its VPC lacks DNS support or DNS host names")
    return problems


def database_problems(template: Template) -> list[str]:
    """Databases that are public, unencrypted, hold a password in the template, sit in a
    subnet group of one Availability Zone, or admit anything but the clients' groups."""
    subnets = resources(template, "AWS::EC2::Subnet")
    groups = resources(template, "AWS::RDS::DBSubnetGroup")
    clients = {
        _ref(group)
        for connection in resources(template, "AWS::Glue::Connection").values()
        for group in connection["ConnectionInput"]["PhysicalConnectionRequirements"][
            "SecurityGroupIdList"
        ]
    } | {
        _ref(group)
        for function in resources(template, "AWS::Lambda::Function").values()
        for group in function.get("VpcConfig", {}).get("SecurityGroupIds", [])
    }
    ingress = resources(template, "AWS::EC2::SecurityGroupIngress").values()
    problems = []
    for name, db in resources(template, "AWS::RDS::DBInstance").items():
        if db.get("PubliclyAccessible") is not False:
            problems.append(f"{name}: PubliclyAccessible is not false")
        if db.get("StorageEncrypted") is not True or db.get("KmsKeyId") != KEY:
            problems.append(f"{name}: storage not encrypted with DataKey")
        if db.get("ManageMasterUserPassword") is not True or "MasterUserPassword" in db:
            problems.append(f"{name}: the master password is not managed by RDS")
        members = groups[_ref(db["DBSubnetGroupName"])]["SubnetIds"]
        zones = {json_key(subnets[_ref(m)]["AvailabilityZone"]) for m in members}
        if len(zones) < 2:
            problems.append(f"{name}: its subnet group spans {len(zones)} Availability Zone")
        for group in db["VPCSecurityGroups"]:
            group_name = _ref(group)
            inline = resources(template, "AWS::EC2::SecurityGroup")[group_name].get(
                "SecurityGroupIngress", []
            )
            rules = inline + [r for r in ingress if _ref(r["GroupId"]) == group_name]
            for rule in rules:
                source = _ref(rule.get("SourceSecurityGroupId"))
                if source not in clients or (rule["FromPort"], rule["ToPort"]) != (3306, 3306):
                    problems.append(f"{name}: {group_name} admits {source or rule}")
    return problems


def json_key(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


# ---- the dashboard: Athena views and QuickSight -----------------------------------------

QUICKSIGHT = "HasQuickSight"
WORKGROUP_ARN = {
    "Fn::Sub": "arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}:"
    "workgroup/${AthenaWorkGroup}"
}
RESULTS_OBJECTS = {"Fn::Sub": "${AthenaResultsBucket.Arn}/results/*"}
# What Athena needs of whoever runs a query in the workgroup (results and key).
ATHENA_CALLER = {
    "athena:StartQueryExecution": WORKGROUP_ARN,
    "athena:GetQueryExecution": WORKGROUP_ARN,
    "s3:PutObject": RESULTS_OBJECTS,
    "s3:GetObject": RESULTS_OBJECTS,
    "kms:GenerateDataKey": KEY,
    "kms:Decrypt": KEY,
}
# The owner action lists of the QuickSight developer guide's permission examples.
QUICKSIGHT_OWNER = {
    "AWS::QuickSight::DataSource": {
        *("quicksight:DescribeDataSource", "quicksight:DescribeDataSourcePermissions"),
        *("quicksight:PassDataSource", "quicksight:UpdateDataSource"),
        *("quicksight:DeleteDataSource", "quicksight:UpdateDataSourcePermissions"),
    },
    "AWS::QuickSight::DataSet": {
        *("quicksight:DescribeDataSet", "quicksight:DescribeDataSetPermissions"),
        *("quicksight:PassDataSet", "quicksight:DescribeIngestion", "quicksight:ListIngestions"),
        *("quicksight:UpdateDataSet", "quicksight:DeleteDataSet", "quicksight:CreateIngestion"),
        *("quicksight:CancelIngestion", "quicksight:UpdateDataSetPermissions"),
    },
    "AWS::QuickSight::Dashboard": {
        *("quicksight:DescribeDashboard", "quicksight:ListDashboardVersions"),
        *("quicksight:UpdateDashboardPermissions", "quicksight:QueryDashboard"),
        *("quicksight:UpdateDashboard", "quicksight:DeleteDashboard"),
        *("quicksight:DescribeDashboardPermissions", "quicksight:UpdateDashboardPublishedVersion"),
    },
}
# Contract types -> QuickSight column types (API_InputColumn.html).
QUICKSIGHT_TYPES = {
    "string": "STRING",
    "int": "INTEGER",
    "long": "INTEGER",
    "bigint": "INTEGER",
    "date": "DATETIME",
    "timestamp": "DATETIME",
    "boolean": "BOOLEAN",
}
_SQL_TOKEN = re.compile(r"\(|\)|\bSELECT\b|\bFROM\b", re.IGNORECASE)
_ALIAS = re.compile(r"^(.*?)(?:\s+AS\s+(\w+))?\s*$", re.IGNORECASE | re.DOTALL)
_CALL = re.compile(r"^(\w+)\s*\(\s*([\w*]+)\s*\)", re.DOTALL)


def _quicksight_type(contract_type: str) -> str:
    """The QuickSight type of a contract type; one QuickSight lacks stays as it is."""
    if contract_type.startswith(("decimal", "double")):
        return "DECIMAL"
    return QUICKSIGHT_TYPES.get(contract_type, contract_type)


def _source_types(layer: str, table: str) -> dict[str, str]:
    """QuickSight types of a table's columns, from its contract."""
    if (layer, table) == ("quality", "dq_results"):
        return {name: _quicksight_type(kind.simpleString()) for name, kind in RESULT_COLUMNS}
    return {c.name: _quicksight_type(c.type) for c in output_columns(layer)[table]}


def _split_top_level(text: str) -> list[str]:
    items, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(text[start:index].strip())
            start = index + 1
    return [*items, text[start:].strip()]


def select_columns(sql: str) -> list[tuple[str, str]]:
    """(name, QuickSight type) of each column of the outermost SELECT of ``sql``, whose
    tables are written ``layer.table``; a sub-query in FROM is read the same way. Enough
    for the dashboard views: columns, aliases, SUM/AVG/MIN/MAX/COUNT and window AVGs."""
    depth, select_end, from_start = 0, -1, -1
    for token in _SQL_TOKEN.finditer(sql):
        word = token.group().upper()
        depth += {"(": 1, ")": -1}.get(word, 0)
        if depth == 0 and word == "SELECT" and select_end < 0:
            select_end = token.end()
        elif depth == 0 and word == "FROM" and select_end >= 0:
            from_start = token.end()
            break
    source = sql[from_start:].strip()
    if source.startswith("("):
        inner_depth = 0
        for index, char in enumerate(source):
            inner_depth += {"(": 1, ")": -1}.get(char, 0)
            if inner_depth == 0:
                types = dict(select_columns(source[1:index]))
                break
    else:
        layer, table = re.match(r"(\w+)\.(\w+)", source).groups()  # type: ignore[union-attr]
        types = _source_types(layer, table)
    columns = []
    for item in _split_top_level(sql[select_end : from_start - len("FROM")]):
        expression, alias = _ALIAS.match(item).groups()  # type: ignore[union-attr]
        call = _CALL.match(expression)
        if call is None:
            columns.append((alias or expression, types[expression]))
            continue
        function, argument = call[1].upper(), call[2]
        if function == "COUNT":
            kind = "INTEGER"
        elif function == "AVG":
            kind = "DECIMAL"
        else:  # SUM, MIN, MAX keep their argument's QuickSight type
            kind = types[argument]
        columns.append((alias, kind))
    return columns


class _Identity(dict[str, str]):
    """``view_sql``'s table map that names every table ``layer.table``."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> str:
        return key


def view_columns(name: str) -> list[tuple[str, str]]:
    """The columns of dashboard view ``name`` as QuickSight types them."""
    return select_columns(view_sql(name, _Identity()))


def quicksight_dataset_problems(template: Template) -> list[str]:
    """Datasets that do not read one dashboard view each, through the stack's data source,
    with exactly the view's columns and types."""
    problems = []
    seen = []
    for name, dataset in resources(template, "AWS::QuickSight::DataSet").items():
        if dataset.get("ImportMode") != "DIRECT_QUERY":
            problems.append(f"{name}: ImportMode is not DIRECT_QUERY")
        for table in dataset["PhysicalTableMap"].values():
            relational = table["RelationalTable"]
            view = relational["Name"].removeprefix(VIEW_PREFIX)
            seen.append(view)
            if relational["DataSourceArn"] != {"Fn::GetAtt": ["DashboardDataSource", "Arn"]}:
                problems.append(f"{name}: not on DashboardDataSource")
            if relational.get("Schema") != {"Fn::Sub": "${EnvironmentName}_gold"}:
                problems.append(f"{name}: not in the environment's gold database")
            if view not in VIEWS:
                problems.append(f"{name}: {relational['Name']} is no dashboard view")
                continue
            given = [(c["Name"], c["Type"]) for c in relational["InputColumns"]]
            if given != view_columns(view):
                problems.append(f"{name}: columns {given} are not {view_columns(view)}")
    if sorted(seen) != sorted(VIEWS):
        problems.append(f"datasets read {sorted(seen)}, not each of {sorted(VIEWS)} once")
    return problems


def _column_references(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if set(value) == {"DataSetIdentifier", "ColumnName"}:
            yield value
        for item in value.values():
            yield from _column_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _column_references(item)


def _field_ids(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if "FieldId" in value and "Column" in value:
            yield value["FieldId"]
        for item in value.values():
            yield from _field_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _field_ids(item)


def dashboard_problems(template: Template) -> list[str]:
    """Dashboards naming a dataset identifier they do not declare, a column their dataset
    lacks, or one field id twice."""
    datasets = resources(template, "AWS::QuickSight::DataSet")
    problems = []
    for name, dashboard in resources(template, "AWS::QuickSight::Dashboard").items():
        definition = dashboard["Definition"]
        columns = {}
        for declaration in definition["DataSetIdentifierDeclarations"]:
            dataset = declaration["DataSetArn"]["Fn::GetAtt"][0]
            columns[declaration["Identifier"]] = {
                c["Name"]
                for table in datasets[dataset]["PhysicalTableMap"].values()
                for c in table["RelationalTable"]["InputColumns"]
            }
        for reference in _column_references(definition["Sheets"]):
            identifier, column = reference["DataSetIdentifier"], reference["ColumnName"]
            if identifier not in columns:
                problems.append(f"{name}: no dataset declared as {identifier}")
            elif column not in columns[identifier]:
                problems.append(f"{name}: {identifier} has no column {column}")
        ids = list(_field_ids(definition["Sheets"]))
        problems += [
            f"{name}: field id {i} used twice" for i in sorted(set(ids)) if ids.count(i) > 1
        ]
    return problems


def quicksight_access_problems(template: Template) -> list[str]:
    """QuickSight resources outside HasQuickSight or without the owner's actions; a data
    source not on the stack's workgroup, or whose role QuickSight cannot assume or that
    cannot run a query there."""
    problems = []
    for kind, actions in QUICKSIGHT_OWNER.items():
        for name, body in template["Resources"].items():
            if body["Type"] != kind:
                continue
            if body.get("Condition") != QUICKSIGHT:
                problems.append(f"{name}: not under {QUICKSIGHT}")
            (permission,) = body["Properties"]["Permissions"]
            if permission["Principal"] != {"Ref": "QuickSightPrincipalArn"}:
                problems.append(f"{name}: owner is not QuickSightPrincipalArn")
            missing = actions - set(permission["Actions"])
            if missing:
                problems.append(f"{name}: owner lacks {sorted(missing)}")
    for name, source in resources(template, "AWS::QuickSight::DataSource").items():
        athena = source["DataSourceParameters"]["AthenaParameters"]
        if source["Type"] != "ATHENA" or athena.get("WorkGroup") != {"Ref": "AthenaWorkGroup"}:
            problems.append(f"{name}: not an Athena source on AthenaWorkGroup")
        role = athena.get("RoleArn", {}).get("Fn::GetAtt", [None])[0]
        roles = resources(template, "AWS::IAM::Role")
        trusted = role in roles and any(
            s["Principal"].get("Service") == "quicksight.amazonaws.com"
            for s in roles[role]["AssumeRolePolicyDocument"]["Statement"]
        )
        if not trusted:
            problems.append(f"{name}: role {role} is not one QuickSight may assume")
            continue
        problems += [f"{name}: role {role} {p}" for p in _athena_caller_problems(template, role)]
    return problems


def _policy_grants(template: Template, role: str) -> dict[str, list[Any]]:
    """``_granted`` plus the managed policies of the stack attached to ``role``."""
    granted = _granted(template, role)
    for policy in resources(template, "AWS::IAM::ManagedPolicy").values():
        if {"Ref": role} in policy.get("Roles", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                for action in _listify(statement["Action"]):
                    granted.setdefault(action, []).extend(_listify(statement["Resource"]))
    return granted


def _athena_caller_problems(template: Template, role: str) -> list[str]:
    granted = _policy_grants(template, role)
    return [
        f"lacks {action} on {resource}"
        for action, resource in ATHENA_CALLER.items()
        if resource not in granted.get(action, [])
    ]


GLUE_TABLE_ARN = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:table/"


def _covers_gold_views(resource: Any) -> bool:
    """Whether a Glue resource ARN covers the tables ``<env>_gold/dash_*``."""
    text = resource.get("Fn::Sub", "") if isinstance(resource, dict) else str(resource)
    return text in {
        GLUE_TABLE_ARN + suffix
        for suffix in ("${EnvironmentName}_*/*", "${EnvironmentName}_gold/*")
    } | {GLUE_TABLE_ARN + "${EnvironmentName}_gold/" + VIEW_PREFIX + "*"}


def view_job_problems(template: Template) -> list[str]:
    """The catalog job without the workgroup, or whose role cannot run the views' DDL there
    and keep the views (Glue tables) of the gold database."""
    jobs = resources(template, "AWS::Glue::Job")
    job = jobs["RegisterCatalogJob"]
    problems = []
    if job["DefaultArguments"].get("--athena-workgroup") != {"Ref": "AthenaWorkGroup"}:
        problems.append("RegisterCatalogJob: no --athena-workgroup AthenaWorkGroup")
    role = job["Role"]["Fn::GetAtt"][0]
    problems += [
        f"RegisterCatalogJob: role {role} {p}" for p in _athena_caller_problems(template, role)
    ]
    granted = _granted(template, role)
    for action in ("glue:GetTable", "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable"):
        if not any(_covers_gold_views(r) for r in granted.get(action, [])):
            problems.append(f"RegisterCatalogJob: role {role} lacks {action} on the gold views")
    return problems


# The demand model's SageMaker execution role (docs/forecast.md): the lake prefixes the code
# uses for the exported features and the models, and the release's training source.
FORECAST_ROLE = "ForecastTrainingRole"
_LAKE = Settings(landing="/tmp/unused", lake="s3://lake")
FEATURES_PREFIX = _LAKE.forecast_path("features").removeprefix("s3a://lake/") + "/"
MODEL_PREFIX = _LAKE.forecast_path("model").removeprefix("s3a://lake/") + "/"
FORECAST_S3 = {
    "s3:GetObject": {
        f"${{LakeBucket.Arn}}/{FEATURES_PREFIX}*",
        f"${{ArtifactsBucket.Arn}}/${{ArtifactsPrefix}}/{ARCHIVE.split('/')[0]}/*",
    },
    "s3:PutObject": {f"${{LakeBucket.Arn}}/{MODEL_PREFIX}*"},
    "s3:AbortMultipartUpload": {f"${{LakeBucket.Arn}}/{MODEL_PREFIX}*"},
}


def _arn_text(value: Any) -> str:
    """A resource as text: ``Fn::Sub`` strings as written, ``Fn::GetAtt`` as ``X.Arn``."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        return str(value["Fn::Sub"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return ".".join(value["Fn::GetAtt"])
    return str(value)


def forecast_role_problems(template: Template) -> list[str]:
    """The training role: assumed by SageMaker only; on S3 exactly FORECAST_S3 (no other
    prefix of the lake, nothing deleted), a listing of the lake only under the forecast
    prefixes; KMS on the stack key only."""
    role = resources(template, "AWS::IAM::Role").get(FORECAST_ROLE)
    if role is None:
        return [f"no {FORECAST_ROLE}"]
    problems = []
    trusted = [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]]
    if trusted != [{"Service": "sagemaker.amazonaws.com"}]:
        problems.append(f"{FORECAST_ROLE}: trusted by {trusted}")
    s3: dict[str, set[str]] = {}
    for statement in _role_statements(template, FORECAST_ROLE):
        targets = [_arn_text(r) for r in _listify(statement["Resource"])]
        for action in _listify(statement["Action"]):
            service = str(action).split(":", 1)[0]
            if action == "s3:ListBucket":
                condition = statement.get("Condition", {}).get("StringLike", {})
                prefixes = _listify(condition.get("s3:prefix", []))
                scoped = all(str(p).startswith((FEATURES_PREFIX, MODEL_PREFIX)) for p in prefixes)
                if targets != ["LakeBucket.Arn"] or not prefixes or not scoped:
                    problems.append(f"{FORECAST_ROLE}: s3:ListBucket on {targets} for {prefixes}")
            elif service == "s3":
                s3.setdefault(str(action), set()).update(targets)
            elif service == "kms" and targets != ["DataKey.Arn"]:
                problems.append(f"{FORECAST_ROLE}: {action} on {targets}")
    for action in sorted(set(s3) | set(FORECAST_S3)):
        if s3.get(action) != FORECAST_S3.get(action):
            problems.append(f"{FORECAST_ROLE}: {action} on {sorted(s3.get(action, set()))}")
    return problems


# ---- tests on the template -------------------------------------------------------------


def test_every_bucket_denies_insecure_transport(template: Template) -> None:
    assert len(resources(template, "AWS::S3::Bucket")) == 5
    assert tls_only_problems(template) == []


def test_every_bucket_is_encrypted_with_the_stack_key(template: Template) -> None:
    """SSE-KMS with DataKey, except the access-log target, which S3 requires to be SSE-S3."""
    targets = _logging_targets(template)
    assert targets == {"AccessLogBucket"}
    assert encryption_problems(template) == []
    assert access_log_problems(template) == []
    assert log_group_key_problems(template) == []


def test_traced_functions_can_write_xray(template: Template) -> None:
    traced = [
        name
        for name, f in resources(template, "AWS::Lambda::Function").items()
        if f.get("TracingConfig", {}).get("Mode") == "Active"
    ]
    assert len(traced) >= 2
    assert tracing_problems(template) == []


def test_no_default_reserved_concurrency_and_one_role_per_function(template: Template) -> None:
    assert concurrency_problems(template) == []


def test_nothing_survives_a_failed_first_create(template: Template) -> None:
    assert [n for n, b in template["Resources"].items() if b.get("DeletionPolicy")] == [
        "DataKey",
        "AccessLogBucket",
        "LakeBucket",
        "LandingBucket",
        "ArtifactsBucket",
        "AthenaResultsBucket",
        "OltpDatabase",  # Snapshot: the order data outlives the stack; names are not blocked
    ]
    assert template["Resources"]["OltpDatabase"]["DeletionPolicy"] == "Snapshot"
    assert retention_problems(template) == []


def test_encrypted_resources_grant_their_users_the_key(template: Template) -> None:
    assert encrypted_topic_problems(template) == []
    assert function_key_problems(template) == []


def test_roles_trust_only_conditions_their_service_sets(template: Template) -> None:
    assert trust_problems(template) == []


def test_glue_jobs_log_the_glue_5_way(template: Template) -> None:
    assert glue_logging_problems(template) == []


def test_iam_has_no_wildcard_actions_and_scoped_resources(template: Template) -> None:
    assert iam_problems(template) == []


def test_event_source_mappings(template: Template) -> None:
    assert len(resources(template, "AWS::Lambda::EventSourceMapping")) == 2
    assert event_source_problems(template) == []


def test_glue_jobs(template: Template) -> None:
    jobs = resources(template, "AWS::Glue::Job")
    assert sorted(_job_script(job) for job in jobs.values()) == [
        "bronze_ingest.py",
        "extract_oltp.py",
        "forecast_features.py",
        "gold_sales.py",
        "maintenance.py",
        "register_catalog.py",
        "silver_products.py",
        "silver_promotions.py",
        "silver_sales.py",
    ]
    assert glue_job_problems(template) == []
    for name, job in jobs.items():
        # The extract writes the landing zone only; every other job works on the lake.
        assert ("--lake" in job["DefaultArguments"]) == (name != "ExtractOltpJob"), name


def _branch(value: Any, operational: bool) -> Any:
    """``value`` with every ``Fn::If`` on OperationalSource resolved."""
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        condition, yes, no = value["Fn::If"]
        assert condition == "OperationalSource", condition
        return _branch(yes if operational else no, operational)
    return value


def _started_by(template: Template, operational: bool) -> dict[str, set[str]]:
    """Job script -> the scripts whose end starts it, with or without the order database."""
    jobs = resources(template, "AWS::Glue::Job")
    script = {name: _job_script(job) for name, job in jobs.items()}
    started_by: dict[str, set[str]] = {}
    for name, body in template["Resources"].items():
        if body["Type"] != "AWS::Glue::Trigger":
            continue
        if body.get("Condition") == "OperationalSource" and not operational:
            continue
        trigger = body["Properties"]
        assert len(trigger["Actions"]) == 1, name
        action = _branch(trigger["Actions"][0]["JobName"], operational)
        after = {c["JobName"]["Ref"] for c in trigger.get("Predicate", {}).get("Conditions", [])}
        started_by[script[action["Ref"]]] = {script[a] for a in after}
    return started_by


def test_workflow_runs_one_job_at_a_time_in_stage_order(template: Template) -> None:
    """Each trigger starts one job (the silver jobs share meta.watermarks: one writer); the
    only start trigger is the EVENT one, so landed files and the schedule share one queue.
    With the order database its extract runs first, and bronze after it however it ended."""
    batch = {
        "silver_products.py": {"bronze_ingest.py"},
        "silver_promotions.py": {"silver_products.py"},
        "silver_sales.py": {"silver_promotions.py"},
        "gold_sales.py": {"silver_sales.py"},
        "forecast_features.py": {"gold_sales.py"},
        "register_catalog.py": {"forecast_features.py"},
        "maintenance.py": {"register_catalog.py"},
    }
    assert _started_by(template, operational=False) == {"bronze_ingest.py": set(), **batch}
    assert _started_by(template, operational=True) == {
        "extract_oltp.py": set(),
        "bronze_ingest.py": {"extract_oltp.py"},
        **batch,
    }
    after_extract = resources(template, "AWS::Glue::Trigger")["AfterExtractTrigger"]["Predicate"]
    assert after_extract["Logical"] == "ANY"
    assert {c["State"] for c in after_extract["Conditions"]} == {
        "SUCCEEDED",
        "FAILED",
        "TIMEOUT",
        "STOPPED",
    }
    # A silver job that held a bad file back exits FAILED after committing the rest: the
    # chain goes on (gold takes the good files in the same workflow run), not on STOPPED.
    for name in (
        "AfterSilverProductsTrigger",
        "AfterSilverPromotionsTrigger",
        "AfterSilverTrigger",
    ):
        predicate = resources(template, "AWS::Glue::Trigger")[name]["Predicate"]
        assert predicate["Logical"] == "ANY"
        assert {c["State"] for c in predicate["Conditions"]} == {"SUCCEEDED", "FAILED"}
    # Gold reaches the catalog even when the forecast's feature build fails or times out.
    predicate = resources(template, "AWS::Glue::Trigger")["AfterForecastFeaturesTrigger"][
        "Predicate"
    ]
    assert predicate["Logical"] == "ANY"
    assert {c["State"] for c in predicate["Conditions"]} == {"SUCCEEDED", "FAILED", "TIMEOUT"}
    triggers = resources(template, "AWS::Glue::Trigger").values()
    starts = [t for t in triggers if "Predicate" not in t]
    assert [t["Type"] for t in starts] == ["EVENT"]
    assert set(starts[0]["EventBatchingCondition"]) == {"BatchSize", "BatchWindow"}
    # A failed extract alerts like every other job.
    failed = resources(template, "AWS::Events::Rule")["GlueJobFailedRule"]["EventPattern"]
    names = [_branch(n, operational=True) for n in failed["detail"]["jobName"]]
    assert sorted(n["Ref"] for n in names) == sorted(resources(template, "AWS::Glue::Job"))


def test_landed_csv_files_and_the_schedule_start_the_workflow(template: Template) -> None:
    """S3 sends Object Created to EventBridge; rules for landing/<dataset>/ of every batch
    dataset and for the fallback schedule notify the workflow through a role that may only
    notify it."""
    landing = template["Resources"]["LandingBucket"]["Properties"]
    assert landing["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    workflow_arn = {
        "Fn::Sub": "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:workflow/${BatchWorkflow}"
    }
    rules = resources(template, "AWS::Events::Rule")
    to_workflow = {
        name: rule
        for name, rule in rules.items()
        if any(target["Arn"] == workflow_arn for target in rule["Targets"])
    }
    assert set(to_workflow) == {"LandedFileRule", "BatchScheduleRule"}
    assert to_workflow["BatchScheduleRule"]["ScheduleExpression"] == {"Ref": "BatchSchedule"}
    pattern = to_workflow["LandedFileRule"]["EventPattern"]
    assert pattern["detail"]["bucket"] == {"name": [{"Ref": "LandingBucket"}]}
    assert pattern["detail"]["object"]["key"] == [
        {"prefix": f"landing/{dataset}/"} for dataset in DATASETS
    ]
    for rule in to_workflow.values():
        assert rule["Targets"][0]["RoleArn"] == {"Fn::GetAtt": ["WorkflowEventsRole", "Arn"]}
    (statement,) = _role_statements(template, "WorkflowEventsRole")
    assert (statement["Action"], statement["Resource"]) == ("glue:notifyEvent", workflow_arn)


def test_lambda_functions_match_their_code(template: Template) -> None:
    """Each function's handler exists and it sets only variables its module reads."""
    import importlib

    functions = resources(template, "AWS::Lambda::Function")
    handlers = {}
    for name, function in functions.items():
        assert function["Runtime"] == "python3.11"
        dotted = function["Handler"]["Fn::If"][1]
        module_name, _, attribute = dotted.rpartition(".")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attribute)), dotted
        handlers[name] = dotted
        read = set(getattr(module, "VARIABLES", VARIABLES))
        if module_name == "sales_lakehouse.ingest.handler":
            read |= {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
        assert set(function["Environment"]["Variables"]) <= read, name
    assert handlers == {
        "SqsConsumerFunction": "sales_lakehouse.ingest.handler.sqs_handler",
        "KinesisConsumerFunction": "sales_lakehouse.ingest.handler.kinesis_handler",
        "NotifierFunction": "sales_lakehouse.ingest.notifier.handler",
        "ApiProducerFunction": "sales_lakehouse.ingest.api_producer.handler",
        "OltpFillFunction": "sales_lakehouse.oltp.handler.handler",
    }
    for name in ("SqsConsumerFunction", "KinesisConsumerFunction", "ApiProducerFunction"):
        variables = functions[name]["Environment"]["Variables"]
        assert variables["LANDING_BUCKET"] == {"Ref": "LandingBucket"}
        assert variables["LANDING_PREFIX"] == "landing"


def test_every_alert_reaches_slack_and_critical_sales_reach_sms(template: Template) -> None:
    """The notifier is subscribed to the one alert topic every rule and alarm publishes to;
    the SMS subscription takes only the critical sale alerts the consumer raises."""
    subscriptions = resources(template, "AWS::SNS::Subscription")
    lambda_subscription = subscriptions["NotifierSubscription"]
    assert lambda_subscription["TopicArn"] == {"Ref": "AlertTopic"}
    assert lambda_subscription["Endpoint"] == {"Fn::GetAtt": ["NotifierFunction", "Arn"]}
    permission = resources(template, "AWS::Lambda::Permission")["NotifierInvokePermission"]
    assert (permission["Principal"], permission["SourceArn"]) == (
        "sns.amazonaws.com",
        {"Ref": "AlertTopic"},
    )
    sns_topics = set(resources(template, "AWS::SNS::Topic"))
    published_to = {
        destination["Ref"]
        for kind in ("AWS::Events::Rule", "AWS::CloudWatch::Alarm")
        for body in resources(template, kind).values()
        for destination in [t["Arn"] for t in body.get("Targets", [])]
        + body.get("AlarmActions", [])
        if isinstance(destination, dict) and destination.get("Ref") in sns_topics
    }
    assert sns_topics == published_to == {"AlertTopic"}
    sms = subscriptions["AlertSmsSubscription"]
    assert sms["Protocol"] == "sms"
    assert sms["FilterPolicy"] == {"alert": ["large_sale", "refund_spike"]}
    assert template["Resources"]["AlertSmsSubscription"]["Condition"] == "HasAlertPhone"


def test_consumers_may_only_put_events_and_quarantine(template: Template) -> None:
    for role in ("SqsConsumerRole", "KinesisConsumerRole"):
        puts = [
            resource
            for statement in _role_statements(template, role)
            if "s3:PutObject" in _listify(statement["Action"])
            for resource in _listify(statement["Resource"])
        ]
        assert puts == [
            {"Fn::Sub": "${LandingBucket.Arn}/landing/sales_events/*"},
            {"Fn::Sub": "${LandingBucket.Arn}/landing/_quarantine/*"},
        ], role


def test_databases_and_etl_writes_follow_the_lake_layers(template: Template) -> None:
    """One Glue database per layer of config.LAYERS; the Spark jobs write exactly the lake
    prefixes the code writes (config.LAKE_PREFIXES: the layers and the stream checkpoints)."""
    databases = resources(template, "AWS::Glue::Database").values()
    assert sorted(db["DatabaseInput"]["Name"]["Fn::Sub"] for db in databases) == sorted(
        f"${{EnvironmentName}}_{layer}" for layer in LAYERS
    )
    for db in databases:
        layer = db["DatabaseInput"]["Name"]["Fn::Sub"].split("_", 1)[1]
        assert db["DatabaseInput"]["LocationUri"] == {"Fn::Sub": f"s3://${{LakeBucket}}/{layer}"}
    writes = [
        resource["Fn::Sub"]
        for name, statement in iam_statements(template)
        if name == "GlueEtlRole" and "s3:PutObject" in _listify(statement["Action"])
        for resource in _listify(statement["Resource"])
        if "LakeBucket" in resource["Fn::Sub"]
    ]
    assert sorted(writes) == sorted(
        [
            f"${{LakeBucket.Arn}}/{prefix}{suffix}"
            for prefix in LAKE_PREFIXES
            for suffix in ("", "/*")
        ]
        + [f"${{LakeBucket.Arn}}/{LOCK_NAME}"]  # the lake lock (lake/lock.py)
    )


def test_athena_workgroup_enforces_encrypted_results(template: Template) -> None:
    (workgroup,) = resources(template, "AWS::Athena::WorkGroup").values()
    config = workgroup["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    encryption = config["ResultConfiguration"]["EncryptionConfiguration"]
    assert encryption == {"EncryptionOption": "SSE_KMS", "KmsKey": KEY}


def test_named_queries_equal_the_sql_files(template: Template) -> None:
    """The SQL lives twice (file and template); ${EnvironmentName} is the database placeholder."""
    queries = resources(template, "AWS::Athena::NamedQuery")
    by_name = {
        q["Name"]["Fn::Sub"].removeprefix("${EnvironmentName}-"): q for q in queries.values()
    }
    files = {path.stem.replace("_", "-"): path for path in sorted(ATHENA.glob("*.sql"))}
    assert set(by_name) == set(files) and len(files) == 4
    databases = {
        db["DatabaseInput"]["Name"]["Fn::Sub"]
        for db in resources(template, "AWS::Glue::Database").values()
    }
    for name, path in files.items():
        text = path.read_text(encoding="utf-8")
        assert by_name[name]["QueryString"] == {"Fn::Sub": text}, path.name
        assert set(re.findall(r"\$\{(\w+)\}", text)) == {"EnvironmentName"}
        used = set(re.findall(r"(\$\{EnvironmentName\}_\w+)\.\w+", text))
        assert used and used <= databases, path.name


OPERATIONAL = "OperationalSource"
DB_SECRET = {"Fn::GetAtt": ["OltpDatabase", "MasterUserSecret.SecretArn"]}


def test_the_order_database_is_gated_private_and_reachable_by_its_clients_only(
    template: Template,
) -> None:
    gated = {n for n, r in template["Resources"].items() if r.get("Condition") == OPERATIONAL}
    assert {
        "OltpVpc",
        "OltpDatabase",
        "OltpConnection",
        "ExtractOltpJob",
        "OltpFillFunction",
    } <= gated
    assert template["Parameters"]["EnableOperationalSource"]["Default"] == "false"
    kinds = {r["Type"] for r in template["Resources"].values()}
    # No way out of the VPC but its endpoints.
    assert not kinds & {
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::Route",
    }
    for subnet in resources(template, "AWS::EC2::Subnet").values():
        assert subnet["MapPublicIpOnLaunch"] is False
    assert database_problems(template) == []
    assert endpoint_dns_problems(template) == []
    services = sorted(
        e["ServiceName"]["Fn::Sub"].rsplit(".", 1)[1]
        for e in resources(template, "AWS::EC2::VPCEndpoint").values()
    )
    # S3 (landing, artifacts), Secrets Manager (job and function), Glue, logs and metrics.
    assert services == ["glue", "logs", "monitoring", "s3", "secretsmanager"]


def test_the_extract_job_runs_in_the_database_vpc_and_reads_its_secret(template: Template) -> None:
    assert glue_connection_problems(template) == []
    job = resources(template, "AWS::Glue::Job")["ExtractOltpJob"]
    arguments = job["DefaultArguments"]
    assert job["Connections"] == {"Connections": [{"Ref": "OltpConnection"}]}
    assert arguments["--secret-id"] == DB_SECRET
    ((_folder, artifact, version),) = JDBC_ARTIFACTS
    assert arguments["--extra-jars"] == {
        "Fn::Sub": f"s3://${{ArtifactsBucket}}/${{ArtifactsPrefix}}/jars/{artifact}-{version}.jar"
    }
    connection = resources(template, "AWS::Glue::Connection")["OltpConnection"]
    properties = connection["ConnectionInput"]["ConnectionProperties"]
    assert properties["SECRET_ID"] == DB_SECRET
    assert properties["JDBC_CONNECTION_URL"]["Fn::Sub"].startswith("jdbc:mysql://")
    granted = _granted(template, "GlueExtractRole")
    assert granted["secretsmanager:GetSecretValue"] == [DB_SECRET]
    # It lands under landing/oltp/ and nowhere else.
    writes = {str(r) for r in granted["s3:PutObject"] if "LandingBucket" in str(r)}
    assert writes == {
        str({"Fn::Sub": "${LandingBucket.Arn}/landing/oltp"}),
        str({"Fn::Sub": "${LandingBucket.Arn}/landing/oltp/*"}),
    }


def test_the_fill_function_runs_in_the_vpc_on_a_schedule(template: Template) -> None:
    assert vpc_function_problems(template) == []
    function = resources(template, "AWS::Lambda::Function")["OltpFillFunction"]
    assert [_ref(x) for x in function["VpcConfig"]["SubnetIds"]] == ["OltpSubnetA", "OltpSubnetB"]
    variables = function["Environment"]["Variables"]
    assert variables["OLTP_SECRET_ARN"] == DB_SECRET
    assert _granted(template, "OltpFillRole")["secretsmanager:GetSecretValue"] == [DB_SECRET]
    rule = template["Resources"]["OltpFillSchedule"]
    assert rule["Condition"] == "OperationalFill"
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": ["OltpFillFunction", "Arn"]}


def test_the_catalog_job_creates_the_views_through_the_workgroup(template: Template) -> None:
    assert view_job_problems(template) == []
    # The job's role may drop only the dashboard's views, not the tables it registers.
    assert _granted(template, "GlueCatalogRole")["glue:DeleteTable"] == [
        {"Fn::Sub": GLUE_TABLE_ARN + "${EnvironmentName}_gold/dash_*"}
    ]


def test_view_columns_are_read_from_the_sql() -> None:
    """The reading the dataset rule relies on, checked by hand on two views."""
    assert view_columns("daily_kpis") == [
        ("sale_date", "DATETIME"),
        ("currency", "STRING"),
        ("revenue", "DECIMAL"),
        ("margin_amount", "DECIMAL"),
        ("units", "INTEGER"),
        ("line_count", "INTEGER"),
        ("revenue_ma7", "DECIMAL"),
        ("margin_ma7", "DECIMAL"),
        ("units_ma7", "DECIMAL"),
    ]
    assert view_columns("quarantine_by_rule") == [
        ("run_id", "STRING"),
        ("dataset", "STRING"),
        ("rule", "STRING"),
        ("evaluated_at", "DATETIME"),
        ("rows_checked", "INTEGER"),
        ("rows_failed", "INTEGER"),
    ]


def test_quicksight_is_optional_and_reads_every_view(template: Template) -> None:
    from sales_lakehouse_tools.deploy.template import EVERY_OPTION

    parameter = template["Parameters"]["QuickSightPrincipalArn"]
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], EVERY_OPTION["QuickSightPrincipalArn"])
    gated = {n for n, r in template["Resources"].items() if r.get("Condition") == QUICKSIGHT}
    datasets = set(resources(template, "AWS::QuickSight::DataSet"))
    assert len(datasets) == len(VIEWS)
    assert gated == {
        "QuickSightAthenaRole",
        "QuickSightAthenaPolicy",
        "DashboardDataSource",
        "SalesDashboard",
        *datasets,
    }
    assert quicksight_dataset_problems(template) == []
    assert dashboard_problems(template) == []
    assert quicksight_access_problems(template) == []
    (dashboard,) = resources(template, "AWS::QuickSight::Dashboard").values()
    visuals = [
        next(iter(visual.values()))["VisualId"]
        for sheet in dashboard["Definition"]["Sheets"]
        for visual in sheet["Visuals"]
    ]
    assert visuals == [
        "daily-revenue",
        "revenue-by-store",
        "revenue-by-category",
        "top-products",
        "promotion-uplift",
        "promotion-roi",
        "quarantine-by-rule",
        "data-freshness",
    ]


def test_quicksight_reads_only_gold_quality_and_its_results(template: Template) -> None:
    granted = _policy_grants(template, "QuickSightAthenaRole")
    assert granted["s3:GetObject"] == [
        {"Fn::Sub": "${LakeBucket.Arn}/gold/*"},
        {"Fn::Sub": "${LakeBucket.Arn}/quality/*"},
        RESULTS_OBJECTS,
    ]
    assert granted["s3:PutObject"] == [RESULTS_OBJECTS]
    assert not any(action.startswith("glue:") and "Get" not in action for action in granted)
    databases = [
        r["Fn::Sub"].rsplit(":", 1)[1]
        for r in granted["glue:GetTable"]
        if isinstance(r, dict) and ":database/" in r["Fn::Sub"]
    ]
    assert databases == ["database/${EnvironmentName}_gold", "database/${EnvironmentName}_quality"]
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(granted)
    assert all(r == [KEY] for a, r in granted.items() if a.startswith("kms:"))


def test_dashboard_rules_catch_broken_templates(template: Template) -> None:
    broken = copy.deepcopy(template)
    resources_ = broken["Resources"]
    kpis = resources_["DailyKpisDataSet"]["Properties"]
    kpis["PhysicalTableMap"]["view"]["RelationalTable"]["InputColumns"].pop()
    resources_["SalesByProductDataSet"]["Properties"]["ImportMode"] = "SPICE"
    source = resources_["DashboardDataSource"]["Properties"]
    source["DataSourceParameters"]["AthenaParameters"]["WorkGroup"] = "primary"
    policy = resources_["QuickSightAthenaPolicy"]["Properties"]["PolicyDocument"]
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "ReadWriteAthenaResults"]
    dashboard = resources_["SalesDashboard"]["Properties"]
    dashboard["Permissions"][0]["Actions"].remove("quicksight:QueryDashboard")
    line = dashboard["Definition"]["Sheets"][0]["Visuals"][0]["LineChartVisual"]
    wells = line["ChartConfiguration"]["FieldWells"]["LineChartAggregatedFieldWells"]
    wells["Values"][1]["NumericalMeasureField"]["Column"]["ColumnName"] = "revenue_ma30"
    wells["SmallMultiples"][0]["CategoricalDimensionField"]["FieldId"] = "kpi-date"
    del resources_["RegisterCatalogJob"]["Properties"]["DefaultArguments"]["--athena-workgroup"]
    catalog = resources_["GlueCatalogRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    catalog["Statement"] = [
        s
        for s in catalog["Statement"]
        if s.get("Sid") not in ("RunViewQueriesInTheWorkgroup", "ReplaceDashboardViews")
    ]

    assert quicksight_dataset_problems(broken) == [
        "DailyKpisDataSet: columns "
        f"{view_columns('daily_kpis')[:-1]} are not {view_columns('daily_kpis')}",
        "SalesByProductDataSet: ImportMode is not DIRECT_QUERY",
    ]
    assert dashboard_problems(broken) == [
        "SalesDashboard: daily_kpis has no column revenue_ma30",
        "SalesDashboard: field id kpi-date used twice",
    ]
    assert quicksight_access_problems(broken) == [
        "SalesDashboard: owner lacks ['quicksight:QueryDashboard']",
        "DashboardDataSource: not an Athena source on AthenaWorkGroup",
        f"DashboardDataSource: role QuickSightAthenaRole lacks s3:PutObject on {RESULTS_OBJECTS}",
        f"DashboardDataSource: role QuickSightAthenaRole lacks s3:GetObject on {RESULTS_OBJECTS}",
    ]
    assert view_job_problems(broken) == [
        "RegisterCatalogJob: no --athena-workgroup AthenaWorkGroup",
        f"RegisterCatalogJob: role GlueCatalogRole lacks athena:StartQueryExecution on {WORKGROUP_ARN}",
        f"RegisterCatalogJob: role GlueCatalogRole lacks athena:GetQueryExecution on {WORKGROUP_ARN}",
        "RegisterCatalogJob: role GlueCatalogRole lacks glue:DeleteTable on the gold views",
    ]


# ---- the rules can fail ----------------------------------------------------------------


def test_rules_catch_broken_templates(template: Template) -> None:
    broken = copy.deepcopy(template)
    lake = broken["Resources"]["LakeBucket"]["Properties"]
    lake["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] = {"SSEAlgorithm": "AES256"}
    broken["Resources"]["LandingBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"] = []
    role = broken["Resources"]["GlueEtlRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    role["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    queue = broken["Resources"]["EventQueue"]["Properties"]
    queue["VisibilityTimeout"] = 120
    kinesis = broken["Resources"]["KinesisEventSourceMapping"]["Properties"]
    del kinesis["MaximumRetryAttempts"]
    job = broken["Resources"]["SilverSalesJob"]["Properties"]["DefaultArguments"]
    job["--lake-root"] = "s3://sample/x"
    job[" --conf"] = "spark.x=y"
    job["--continuous-log-logGroup"] = "x"
    resources_ = broken["Resources"]
    sqs_role = resources_["SqsConsumerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    sqs_role["Statement"] = [s for s in sqs_role["Statement"] if s.get("Sid") != "WriteTraces"]
    resources_["KinesisConsumerFunction"]["Properties"]["ReservedConcurrentExecutions"] = 10
    resources_["KinesisConsumerFunction"]["Properties"]["Role"] = {
        "Fn::GetAtt": ["SqsConsumerRole", "Arn"]
    }
    resources_["LakeBucket"]["DeletionPolicy"] = "Retain"
    glue_trust = resources_["GlueEtlRole"]["Properties"]["AssumeRolePolicyDocument"]
    glue_trust["Statement"][0]["Condition"] = {"StringEquals": {"aws:SourceAccount": "1"}}
    key = resources_["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    for statement in key:
        if statement.get("Sid") == "EventBridgePublishesToEncryptedTopic":
            statement["Condition"] = {"StringEquals": {"aws:SourceAccount": "1"}}
    access_logs = resources_["AccessLogBucket"]["Properties"]["BucketEncryption"]
    access_logs["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] = KEY_RULE

    assert encryption_problems(broken) == [
        "LakeBucket: encryption is [{'SSEAlgorithm': 'AES256'}], not aws:kms with DataKey"
    ]
    assert tls_only_problems(broken) == [
        "LandingBucket: no statement denying aws:SecureTransport=false"
    ]
    assert iam_problems(broken) == [
        "GlueEtlRole None: action s3:*",
        "GlueEtlRole None: Resource * for ['s3:*']",
    ]
    assert event_source_problems(broken) == [
        "SqsEventSourceMapping: visibility 120 < 6 x 60",
        "KinesisEventSourceMapping: MaximumRetryAttempts is unlimited",
    ]
    assert glue_job_problems(broken) == [
        "SilverSalesJob: --conf must be one key",
        "SilverSalesJob: arguments ['--lake-root', ' --conf', '--continuous-log-logGroup'] "
        "are not in sales_lakehouse.runtime.jobs.OPTIONS",
    ]
    assert glue_logging_problems(broken) == ["SilverSalesJob: --continuous-log-logGroup (Glue 4)"]
    assert tracing_problems(broken) == [
        "SqsConsumerFunction: role SqsConsumerRole lacks "
        "['xray:PutTelemetryRecords', 'xray:PutTraceSegments']",
        "KinesisConsumerFunction: role SqsConsumerRole lacks "
        "['xray:PutTelemetryRecords', 'xray:PutTraceSegments']",
    ]
    assert concurrency_problems(broken) == [
        "KinesisConsumerFunction: reserves concurrency 10 by default",
        "role SqsConsumerRole is shared by ['SqsConsumerFunction', 'KinesisConsumerFunction']",
    ]
    assert retention_problems(broken) == ["LakeBucket: DeletionPolicy Retain"]
    no_logs = copy.deepcopy(broken)
    statements = no_logs["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    statements[:] = [
        s for s in statements if s.get("Sid") != "CloudWatchLogsEncryptsStackLogGroups"
    ]
    assert log_group_key_problems(no_logs)[:2] == [
        "GlueErrorLogGroup: DataKey does not grant CloudWatch Logs",
        "GlueOutputLogGroup: DataKey does not grant CloudWatch Logs",
    ]
    assert trust_problems(broken) == [
        "GlueEtlRole: trust of glue.amazonaws.com conditioned on ['aws:SourceAccount']"
    ]
    assert encrypted_topic_problems(broken) == [
        "DataKey EventBridgePublishesToEncryptedTopic: events.amazonaws.com under "
        "['aws:SourceAccount']"
    ]
    assert access_log_problems(broken) == [
        f"AccessLogBucket: access-log target encrypted with [{KEY_RULE}], not SSE-S3"
    ]


def test_network_rules_catch_broken_templates(template: Template) -> None:
    broken = copy.deepcopy(template)
    resources_ = broken["Resources"]
    resources_["OltpS3Endpoint"]["Properties"]["RouteTableIds"] = []
    del resources_["GlueConnectionSelfIngress"]
    resources_["GlueConnectionSelfEgress"]["Properties"]["ToPort"] = 443
    physical = resources_["OltpConnection"]["Properties"]["ConnectionInput"][
        "PhysicalConnectionRequirements"
    ]
    physical["AvailabilityZone"] = {"Fn::GetAtt": ["OltpSubnetB", "AvailabilityZone"]}
    extract = resources_["GlueExtractRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    extract["Statement"] = [s for s in extract["Statement"] if s.get("Sid") != "InspectTheVpc"]
    job = resources_["ExtractOltpJob"]["Properties"]["DefaultArguments"]
    del job["--python-modules-installer-option"]
    fill = resources_["OltpFillRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    for statement in fill["Statement"]:
        if statement.get("Sid") == "DescribeNetworkInterfaces":
            statement["Resource"] = {"Fn::Sub": "arn:aws:ec2:*:*:network-interface/*"}
    resources_["OltpVpc"]["Properties"]["EnableDnsHostnames"] = False
    db = resources_["OltpDatabase"]["Properties"]
    db["PubliclyAccessible"] = True
    db["MasterUserPassword"] = "in-the-template"
    resources_["OltpDbSubnetGroup"]["Properties"]["SubnetIds"] = [{"Ref": "OltpSubnetA"}]
    resources_["OltpDatabaseFromFill"]["Properties"]["FromPort"] = 0

    assert glue_connection_problems(broken) == [
        "OltpConnection: subnet OltpSubnetA has no S3 endpoint or NAT gateway",
        "OltpConnection: AvailabilityZone is not its subnet's",
        "OltpConnection: no security group admits all TCP from itself",
        "OltpConnection: no security group lets all TCP out to itself",
        "ExtractOltpJob: role lacks ['ec2:DescribeNetworkInterfaces', "
        "'ec2:DescribeRouteTables', 'ec2:DescribeSecurityGroups', 'ec2:DescribeSubnets', "
        "'ec2:DescribeVpcEndpoints']",
        "ExtractOltpJob: pip cannot reach PyPI from the VPC (no zip of wheels)",
    ]
    assert vpc_function_problems(broken) == [
        "OltpFillFunction: ec2:DescribeNetworkInterfaces is not on Resource *"
    ]
    assert endpoint_dns_problems(broken) == [
        f"{name}: its VPC lacks DNS support or DNS host names"
        for name in (
            "OltpSecretsManagerEndpoint",
            "OltpGlueEndpoint",
            "OltpLogsEndpoint",
            "OltpMonitoringEndpoint",
        )
    ]
    assert database_problems(broken) == [
        "OltpDatabase: PubliclyAccessible is not false",
        "OltpDatabase: the master password is not managed by RDS",
        "OltpDatabase: its subnet group spans 1 Availability Zone",
        "OltpDatabase: OltpDatabaseSecurityGroup admits OltpFillSecurityGroup",
    ]
    no_lambda_vpc = copy.deepcopy(template)
    fill = no_lambda_vpc["Resources"]["OltpFillRole"]["Properties"]["Policies"][0]
    fill["PolicyDocument"]["Statement"] = [
        s
        for s in fill["PolicyDocument"]["Statement"]
        if s.get("Sid") != "ManageFunctionNetworkInterfaces"
    ]
    assert vpc_function_problems(no_lambda_vpc) == [
        "OltpFillFunction: role OltpFillRole lacks ['ec2:AssignPrivateIpAddresses', "
        "'ec2:CreateNetworkInterface', 'ec2:DeleteNetworkInterface', "
        "'ec2:UnassignPrivateIpAddresses']"
    ]


def test_the_forecast_training_role_reaches_only_features_and_models(template: Template) -> None:
    """SageMaker's training jobs read the exported features and write models, nothing else of
    the lake; the stack's outputs name the same prefixes for the job request."""
    assert forecast_role_problems(template) == []
    outputs = template["Outputs"]
    assert outputs["ForecastFeaturesUri"]["Value"] == {
        "Fn::Sub": f"s3://${{LakeBucket}}/{FEATURES_PREFIX}"
    }
    assert outputs["ForecastModelUri"]["Value"] == {
        "Fn::Sub": f"s3://${{LakeBucket}}/{MODEL_PREFIX}"
    }
    assert outputs["ForecastTrainingSource"]["Value"] == {
        "Fn::Sub": f"s3://${{ArtifactsBucket}}/${{ArtifactsPrefix}}/{ARCHIVE}"
    }


def test_the_forecast_role_rule_catches_a_wider_role(template: Template) -> None:
    broken = copy.deepcopy(template)
    role = broken["Resources"][FORECAST_ROLE]["Properties"]
    statements = {s["Sid"]: s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]}
    statements["ReadFeatures"]["Resource"] = {"Fn::Sub": "${LakeBucket.Arn}/*"}
    del statements["ListFeaturesAndModels"]["Condition"]
    statements["UseDataKey"]["Resource"] = "*"
    role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] = {
        "Service": "glue.amazonaws.com"
    }
    assert forecast_role_problems(broken) == [
        f"{FORECAST_ROLE}: trusted by [{{'Service': 'glue.amazonaws.com'}}]",
        f"{FORECAST_ROLE}: s3:ListBucket on ['LakeBucket.Arn'] for []",
        *(
            f"{FORECAST_ROLE}: kms:{a} on ['*']"
            for a in ("Decrypt", "Encrypt", "GenerateDataKey", "DescribeKey")
        ),
        f"{FORECAST_ROLE}: s3:GetObject on "
        "['${ArtifactsBucket.Arn}/${ArtifactsPrefix}/forecast/*', '${LakeBucket.Arn}/*']",
    ]
