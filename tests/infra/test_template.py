"""What cfn-lint and checkov do not check in infra/template.yaml.

checkov has no CloudFormation check for a TLS-only bucket policy, accepts SSE-S3 as bucket
encryption and knows nothing of this project: the Glue job arguments the jobs' parsers
accept, the Lambda settings the consumer expects, the saved Athena queries. Each rule is
a function returning its problems; the tests run it on the template, and on a broken copy
to show the rule can fail.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jobs import register_catalog

from sales_lakehouse import jobs as spark_jobs
from sales_lakehouse.config import LAYERS
from sales_lakehouse.deploy.template import INLINE_LIMIT, compact_json, load_template
from sales_lakehouse.ingest.config import VARIABLES

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
ATHENA = ROOT / "infra" / "athena"
KEY = {"Fn::GetAtt": ["DataKey", "Arn"]}
# Services whose whole action set must never be granted ("s3:*" etc.).
DATA_SERVICES = ("s3", "glue", "sns", "sqs", "kinesis", "kms", "lambda", "logs", "firehose")
# The only actions that may have Resource "*": they have no resource to scope to, and
# each must carry the condition named here.
RESOURCE_STAR_ALLOWED = {"cloudwatch:PutMetricData": "cloudwatch:namespace"}
# Arguments Glue itself reads; every other job argument goes to the job's own parser.
GLUE_ARGUMENTS = {
    "--datalake-formats",
    "--conf",
    "--additional-python-modules",
    "--enable-metrics",
    "--enable-observability-metrics",
    "--enable-continuous-cloudwatch-log",
    "--continuous-log-logGroup",
    "--TempDir",
    "--job-language",
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
    """Buckets whose default encryption is not SSE-KMS with the stack's own key."""
    problems = []
    for bucket, props in resources(template, "AWS::S3::Bucket").items():
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
            needed = {RESOURCE_STAR_ALLOWED.get(action) for action in actions}
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


def _job_arguments(job: dict[str, Any]) -> dict[str, str]:
    """The job's own arguments, with CloudFormation values replaced by sample strings."""
    own = {k: v for k, v in job["DefaultArguments"].items() if k not in GLUE_ARGUMENTS}
    return {key: value if isinstance(value, str) else "s3://sample/x" for key, value in own.items()}


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
        problems += [f"{name}: {p}" for p in _argument_problems(script, _job_arguments(job))]
    return problems


def _argument_problems(script: str, arguments: dict[str, str]) -> list[str]:
    """What the job's own parser says about ``arguments`` (argparse exits on an unknown one)."""
    argv = [script, *[item for pair in arguments.items() for item in pair]]
    if script == "register_catalog.py":
        options = vars(register_catalog.parse_args(argv[1:]))
    else:
        # On Glue the names come from getResolvedOptions with OPTIONS; off Glue, argparse.
        unknown = [k for k in arguments if k[2:] not in spark_jobs.OPTIONS]
        if unknown:
            return [f"arguments {unknown} are not in sales_lakehouse.jobs.OPTIONS"]
        try:
            options = spark_jobs.parse_args("", argv)
        except SystemExit:
            return [f"argparse refuses {arguments}"]
    return [
        f"{key} not parsed"
        for key, value in arguments.items()
        if options.get(key[2:].replace("-", "_")) != value
    ]


# ---- tests on the template -------------------------------------------------------------


def test_every_bucket_denies_insecure_transport(template: Template) -> None:
    assert len(resources(template, "AWS::S3::Bucket")) == 5
    assert tls_only_problems(template) == []


def test_every_bucket_is_encrypted_with_the_stack_key(template: Template) -> None:
    assert encryption_problems(template) == []


def test_iam_has_no_wildcard_actions_and_scoped_resources(template: Template) -> None:
    assert iam_problems(template) == []


def test_event_source_mappings(template: Template) -> None:
    assert len(resources(template, "AWS::Lambda::EventSourceMapping")) == 2
    assert event_source_problems(template) == []


def test_glue_jobs(template: Template) -> None:
    jobs = resources(template, "AWS::Glue::Job")
    assert sorted(_job_script(job) for job in jobs.values()) == [
        "bronze_ingest.py",
        "gold_sales.py",
        "register_catalog.py",
        "silver_products.py",
        "silver_promotions.py",
        "silver_sales.py",
    ]
    assert glue_job_problems(template) == []
    for job in jobs.values():
        assert "--lake" in job["DefaultArguments"]


def test_workflow_runs_one_job_at_a_time_in_stage_order(template: Template) -> None:
    """Each trigger starts one job (the silver jobs share meta.watermarks: one writer)."""
    triggers = resources(template, "AWS::Glue::Trigger").values()
    jobs = resources(template, "AWS::Glue::Job")
    script = {name: _job_script(job) for name, job in jobs.items()}
    started_by: dict[str, set[str]] = {}
    for trigger in triggers:
        assert len(trigger["Actions"]) == 1
        after = {c["JobName"]["Ref"] for c in trigger.get("Predicate", {}).get("Conditions", [])}
        started_by[script[trigger["Actions"][0]["JobName"]["Ref"]]] = {script[a] for a in after}
    assert started_by == {
        "bronze_ingest.py": set(),
        "silver_products.py": {"bronze_ingest.py"},
        "silver_promotions.py": {"silver_products.py"},
        "silver_sales.py": {"silver_promotions.py"},
        "gold_sales.py": {"silver_products.py", "silver_promotions.py", "silver_sales.py"},
        "register_catalog.py": {"gold_sales.py"},
    }


def test_lambda_functions_match_the_consumer(template: Template) -> None:
    from sales_lakehouse.ingest import handler

    functions = resources(template, "AWS::Lambda::Function")
    handlers = set()
    for function in functions.values():
        assert function["Runtime"] == "python3.11"
        name = function["Handler"]["Fn::If"][1]
        module, _, attribute = name.rpartition(".")
        assert module == "sales_lakehouse.ingest.handler"
        assert callable(getattr(handler, attribute))
        handlers.add(attribute)
        variables = function["Environment"]["Variables"]
        assert set(variables) <= LAMBDA_VARIABLES
        assert variables["LANDING_BUCKET"] == {"Ref": "LandingBucket"}
        assert variables["LANDING_PREFIX"] == "landing"
    assert handlers == {"sqs_handler", "kinesis_handler"}


def test_consumer_may_only_put_events_and_quarantine(template: Template) -> None:
    puts = [
        resource
        for name, statement in iam_statements(template)
        if name == "ConsumerRole" and "s3:PutObject" in _listify(statement["Action"])
        for resource in _listify(statement["Resource"])
    ]
    assert puts == [
        {"Fn::Sub": "${LandingBucket.Arn}/landing/sales_events/*"},
        {"Fn::Sub": "${LandingBucket.Arn}/landing/_quarantine/*"},
    ]


def test_databases_and_etl_writes_follow_the_lake_layers(template: Template) -> None:
    """One Glue database per layer of config.LAYERS; the Spark jobs write those prefixes only."""
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
        f"${{LakeBucket.Arn}}/{layer}{suffix}" for layer in LAYERS for suffix in ("", "/*")
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


def test_compact_template_fits_an_inline_deployment() -> None:
    """The first deployment sends the template inline (no bucket exists yet): <= 51,200 bytes."""
    assert len(compact_json(TEMPLATE).encode("utf-8")) <= INLINE_LIMIT


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
        "SilverSalesJob: arguments ['--lake-root', ' --conf'] are not in "
        "sales_lakehouse.jobs.OPTIONS",
    ]
