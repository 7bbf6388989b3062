"""The bootstrap template of a stack's first deployment, derived from the full template.

``bootstrap_template`` keeps every parameter and condition, the ``ArtifactsBucket`` and
the resources it refers to (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``DependsOn``,
transitively), the bucket policies of those buckets, and the outputs whose resources are
all kept. No network: small hand-written templates, then infra/template.yaml itself.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from sales_lakehouse_tools.deploy.package import PackageError, Release, write_templates
from sales_lakehouse_tools.deploy.stack import Deployment, DeployRequest
from sales_lakehouse_tools.deploy.template import (
    INLINE_LIMIT,
    URL_LIMIT,
    bootstrap_json,
    bootstrap_resources,
    bootstrap_template,
    compact_json,
    compact_template,
    references,
    size_problems,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
PSEUDO = {
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}


def bucket(**properties: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def policy(of: str, **extra: Any) -> dict[str, Any]:
    statement = {"Effect": "Deny", "Resource": {"Fn::Sub": f"${{{of}.Arn}}/*"}, **extra}
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {"Bucket": {"Ref": of}, "PolicyDocument": {"Statement": [statement]}},
    }


def small_template(root: str = "Artifacts") -> dict[str, Any]:
    """Every way of referring to a resource, and resources the bootstrap must leave out;
    ``root`` is the name of the artifacts bucket."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "small",
        "Metadata": {"AWS::CloudFormation::Interface": {"ParameterGroups": []}},
        "Parameters": {"Env": {"Type": "String"}, "Unused": {"Type": "String", "Default": "x"}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain", "Properties": {}},
            "KeyAlias": {"Type": "AWS::KMS::Alias", "Properties": {"TargetKeyId": {"Ref": "Key"}}},
            "Logs": bucket(
                BucketName={"Fn::Sub": "${Env}-logs-${AWS::AccountId}"},
                Key={"Fn::GetAtt": "Key.Arn"},  # the JSON string form of GetAtt
            ),
            "LogsPolicy": policy("Logs"),
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Waiter": {"Type": "AWS::CloudFormation::WaitConditionHandle"},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
            root: bucket(
                BucketName={"Fn::Sub": "${Env}-artifacts-${!NotAReference}"},
                Encryption={"Fn::GetAtt": ["Key", "Arn"]},
                Logging={"DestinationBucketName": {"Ref": "Logs"}},
                Notify={"Fn::Sub": "topic ${Topic.TopicArn}"},
                Listed={
                    "Fn::Sub": [
                        "${Queue} ${Role}",  # Role is a local variable here, not the resource
                        {"Role": "literal", "Unused2": {"Ref": "Env"}},
                    ]
                },
            )
            | {"DependsOn": "Waiter"},
            "ArtifactsPolicy": policy(root),
            # A policy of a kept bucket that needs a resource the bootstrap does not have.
            "ArtifactsRolePolicy": policy(root, Principal={"AWS": {"Fn::GetAtt": ["Role", "Arn"]}}),
            "Other": bucket(Key={"Fn::GetAtt": ["Key", "Arn"]}),
            "OtherPolicy": policy("Other"),
            "Function": {
                "Type": "AWS::Lambda::Function",
                "DependsOn": [root],
                "Properties": {"Code": {"S3Bucket": {"Ref": root}}},
            },
        },
        "Outputs": {
            "ArtifactsName": {"Value": {"Ref": root}},
            "LogsArn": {"Value": {"Fn::Sub": "${Logs.Arn}"}, "Condition": "IsProd"},
            "Stack": {"Value": {"Ref": "AWS::StackName"}},
            "FunctionArn": {"Value": {"Fn::GetAtt": ["Function", "Arn"]}},
            "Mixed": {"Value": {"Fn::Join": [",", [{"Ref": root}, {"Ref": "Other"}]]}},
        },
    }


def test_references_follow_ref_getatt_sub_and_depends_on() -> None:
    resources = small_template()["Resources"]
    assert references(resources["Artifacts"], resources) == {
        "Key",  # Fn::GetAtt [Key, Arn]
        "Logs",  # Ref
        "Topic",  # ${Topic.TopicArn}
        "Queue",  # ${Queue} in the list form of Fn::Sub
        "Waiter",  # DependsOn
    }
    assert references(resources["Logs"], resources) == {"Key"}  # "Key.Arn"; ${Env} is no resource
    assert references(resources["Function"], resources) == {"Artifacts"}
    assert references(resources["Key"], resources) == set()


def test_bootstrap_is_the_closure_of_the_artifacts_bucket_plus_its_bucket_policies() -> None:
    template = small_template()
    assert bootstrap_resources(template, "Artifacts") == [
        "Key",
        "Logs",
        "LogsPolicy",
        "Topic",
        "Queue",
        "Waiter",
        "Artifacts",
        "ArtifactsPolicy",
    ]  # in the full template's order


def test_left_out_what_needs_more_or_only_uses_the_kept_resources() -> None:
    kept = set(bootstrap_resources(small_template(), "Artifacts"))
    assert "ArtifactsRolePolicy" not in kept  # protects a kept bucket but needs the Role
    assert "Role" not in kept  # a local Fn::Sub variable of that name is no reference
    assert "OtherPolicy" not in kept and "Other" not in kept  # a bucket nobody refers to
    assert "KeyAlias" not in kept  # refers only to kept resources, but protects nothing
    assert "Function" not in kept  # depends on the bucket, not the other way round


def test_bootstrap_keeps_every_section_and_resource_unchanged() -> None:
    template = small_template()
    original = copy.deepcopy(template)
    bootstrap = bootstrap_template(template, "Artifacts")
    assert template == original  # the full template is not modified
    for section in ("AWSTemplateFormatVersion", "Description", "Metadata", "Parameters"):
        assert bootstrap[section] == template[section]
    assert bootstrap["Conditions"] == template["Conditions"]
    for name, resource in bootstrap["Resources"].items():
        assert resource == template["Resources"][name]  # DeletionPolicy, DependsOn included
    assert bootstrap["Resources"]["Artifacts"]["UpdateReplacePolicy"] == "Retain"


def test_outputs_are_kept_only_when_all_their_resources_are() -> None:
    outputs = bootstrap_template(small_template(), "Artifacts")["Outputs"]
    assert sorted(outputs) == ["ArtifactsName", "LogsArn", "Stack"]
    assert outputs["LogsArn"]["Condition"] == "IsProd"


def test_a_template_without_the_root_is_refused() -> None:
    with pytest.raises(ValueError, match="no ArtifactsBucket resource"):
        bootstrap_template(small_template())


# ---- infra/template.yaml ---------------------------------------------------------------


@pytest.fixture(scope="module")
def full() -> dict[str, Any]:
    return compact_template(TEMPLATE)


def test_bootstrap_of_the_real_template(full: dict[str, Any]) -> None:
    bootstrap = bootstrap_template(full)
    assert set(bootstrap["Resources"]) == {
        "ArtifactsBucket",
        "ArtifactsBucketPolicy",
        "DataKey",
        "AccessLogBucket",
        "AccessLogBucketPolicy",
    }
    assert bootstrap["Parameters"] == full["Parameters"]
    assert bootstrap["Conditions"] == full["Conditions"]
    for name, resource in bootstrap["Resources"].items():
        assert resource == full["Resources"][name]
    assert {"ArtifactsBucketName", "AccessLogBucketName", "DataKeyArn"} <= set(bootstrap["Outputs"])
    assert "LakeBucketName" not in bootstrap["Outputs"]


def test_every_reference_of_the_bootstrap_resolves_inside_it(full: dict[str, Any]) -> None:
    """What CloudFormation would reject as an unresolved reference: every name a kept
    resource or output uses is a kept resource, a parameter or a pseudo parameter."""
    bootstrap = bootstrap_template(full)
    known = set(bootstrap["Resources"]) | set(bootstrap["Parameters"]) | PSEUDO
    everything = {**full["Resources"], **full["Parameters"], **dict.fromkeys(PSEUDO)}
    for part in (*bootstrap["Resources"].values(), *bootstrap.get("Outputs", {}).values()):
        assert references(part, everything) <= known


def test_both_forms_fit_their_cloudformation_limits() -> None:
    """The full template goes by TemplateURL (1 MB), the bootstrap inline (51,200 bytes)."""
    full, bootstrap = compact_json(TEMPLATE), bootstrap_json(TEMPLATE)
    assert len(full.encode("utf-8")) <= URL_LIMIT
    assert len(bootstrap.encode("utf-8")) <= INLINE_LIMIT
    assert size_problems(full, bootstrap) == []
    assert json.loads(bootstrap) == bootstrap_template(json.loads(full))


def test_size_problems_name_the_template_and_the_limit() -> None:
    small = "{}"
    (over_url,) = size_problems("x" * (URL_LIMIT + 1), small)
    assert "1,000,001 bytes" in over_url and "1,000,000" in over_url
    (over_inline,) = size_problems(small, "x" * (INLINE_LIMIT + 1))
    assert over_inline.startswith("the bootstrap template is 51,201 bytes")
    assert size_problems("x" * URL_LIMIT, "x" * INLINE_LIMIT) == []


# ---- package and deploy around the two templates ------------------------------------------


def _write_yaml(path: Path, template: dict[str, Any]) -> Path:
    path.write_text(json.dumps(template), encoding="utf-8")  # JSON is YAML
    return path


def test_package_writes_both_templates(tmp_path: Path) -> None:
    source = _write_yaml(tmp_path / "t.yaml", small_template("ArtifactsBucket"))
    release = Release(tmp_path, "0.1.0", "0.1.0-abc", "w.whl")
    write_templates(source, release)
    assert json.loads(release.template.read_text()) == compact_template(source)
    bootstrap = json.loads(release.bootstrap.read_text())
    assert {"ArtifactsBucket", "ArtifactsPolicy"} <= set(bootstrap["Resources"])
    assert "Function" not in bootstrap["Resources"]
    assert release.template_key == "releases/0.1.0-abc/template.json"


def test_package_fails_when_the_bootstrap_is_over_the_inline_limit(tmp_path: Path) -> None:
    template = small_template("ArtifactsBucket")
    template["Resources"]["ArtifactsBucket"]["Properties"]["Tags"] = ["x" * INLINE_LIMIT]
    release = Release(tmp_path, "0.1.0", "0.1.0-abc", "w.whl")
    with pytest.raises(PackageError, match=r"bootstrap template is .* inline limit of 51,200"):
        write_templates(_write_yaml(tmp_path / "t.yaml", template), release)
    assert not release.template.exists() and not release.bootstrap.exists()


@pytest.mark.parametrize(
    ("region", "endpoint", "url"),
    [
        ("eu-west-1", None, "https://s3.eu-west-1.amazonaws.com/b/releases/r/template.json"),
        ("cn-north-1", None, "https://s3.cn-north-1.amazonaws.com.cn/b/releases/r/template.json"),
        # moto reads bucket and key out of an amazonaws.com path-style URL
        (
            "us-east-1",
            "http://127.0.0.1:5000",
            "https://s3.us-east-1.amazonaws.com/b/releases/r/template.json",
        ),
    ],
)
def test_template_url_is_path_style_https_on_the_regions_s3_endpoint(
    tmp_path: Path, region: str, endpoint: str | None, url: str
) -> None:
    release = Release(tmp_path, "0.1.0", "r", "w.whl")
    release.template.write_text("{}")
    release.bootstrap.write_text("{}")
    s3 = boto3.client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    deployment = Deployment(DeployRequest("s", region, endpoint), release, None, s3, print)
    assert deployment.template_url("b") == url
