"""The SageMaker training job request of docs/forecast.md, against moto's SageMaker API.

docs/forecast-training-job.json is the request the doc's command sends (``aws sagemaker
create-training-job --cli-input-json``) with the stack's outputs filled in. botocore checks
it against SageMaker's API model before sending it; moto stores it, and DescribeTrainingJob
must give back the image, the role, the ``train`` channel on the features prefix, the model
prefix and hyperparameters the training script accepts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template

import pytest

from sales_lakehouse.forecast.train import parse_args
from sales_lakehouse_tools.deploy.template import load_template
from sales_lakehouse_tools.deploy.training_source import ARCHIVE, ENTRY_POINT
from tests.aws.conftest import Aws
from tests.aws.lambda_events import ACCOUNT, REGION

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[2]
REQUEST = ROOT / "docs" / "forecast-training-job.json"
DOC = ROOT / "docs" / "forecast.md"
ENV = "dev"
LAKE = f"{ENV}-sales-lake-{ACCOUNT}-{REGION}"
ARTIFACTS = f"{ENV}-sales-artifacts-{ACCOUNT}-{REGION}"
IMAGE = f"683313688378.dkr.ecr.{REGION}.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"


def _role(aws: Aws) -> str:
    """The template's training role in moto's IAM: its name, trust policy and policies."""
    role = load_template(ROOT / "infra" / "template.yaml")["Resources"]["ForecastTrainingRole"]
    name = role["Properties"]["RoleName"]["Fn::Sub"].replace("${EnvironmentName}", ENV)
    iam = aws.client("iam")
    trust = role["Properties"]["AssumeRolePolicyDocument"]
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
                "Arn"
            ]
        )


def test_the_documented_training_job_request_is_accepted(moto_endpoint: str) -> None:
    aws = Aws(moto_endpoint)
    values = {
        "JOB_NAME": "demand-20250701-020000",
        "REGION": REGION,
        "IMAGE": IMAGE,
        "ROLE_ARN": _role(aws),
        # The stack's outputs ForecastFeaturesUri, ForecastModelUri, ForecastTrainingSource.
        "FEATURES_URI": f"s3://{LAKE}/forecast/features/",
        "MODEL_URI": f"s3://{LAKE}/forecast/model/",
        "SOURCE_URI": f"s3://{ARTIFACTS}/releases/0.1.0-abc1234/{ARCHIVE}",
        "KMS_KEY_ARN": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    }
    text = REQUEST.read_text(encoding="utf-8")
    assert set(re.findall(r"\$\{(\w+)\}", text)) == set(values)  # the doc exports each
    request = json.loads(Template(text).substitute(values))
    sagemaker = aws.client("sagemaker")
    sagemaker.create_training_job(**request)

    job = sagemaker.describe_training_job(TrainingJobName=values["JOB_NAME"])
    assert job["RoleArn"] == values["ROLE_ARN"]
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert job["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    (channel,) = job["InputDataConfig"]
    assert channel["ChannelName"] == "train"  # SM_CHANNEL_TRAIN
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == values["FEATURES_URI"]
    assert job["OutputDataConfig"] == {
        "S3OutputPath": values["MODEL_URI"],
        "KmsKeyId": values["KMS_KEY_ARN"],
    }
    hyperparameters = dict(job["HyperParameters"])
    assert hyperparameters.pop("sagemaker_program") == ENTRY_POINT
    assert hyperparameters.pop("sagemaker_submit_directory") == values["SOURCE_URI"]
    assert hyperparameters.pop("sagemaker_region") == REGION
    # What is left goes to the script as --name value: its parser must take every one.
    argv = [item for name, value in hyperparameters.items() for item in (f"--{name}", value)]
    options = parse_args([*argv, "--train", "/opt/ml/input/data/train", "--model-dir", "/m"])
    assert (options.max_iter, options.train_weeks, options.backtest_origins) == (200, 12, 4)


def test_the_doc_sends_that_request_with_the_stack_s_outputs() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert "aws sagemaker create-training-job --cli-input-json" in doc
    assert "docs/forecast-training-job.json" in doc
    outputs = load_template(ROOT / "infra" / "template.yaml")["Outputs"]
    for output in ("ForecastTrainingRoleArn", "ForecastFeaturesUri", "ForecastModelUri"):
        assert output in outputs and output in doc, output
    assert "ForecastTrainingSource" in doc and "DataKeyArn" in doc
