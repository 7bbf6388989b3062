"""docker/: the compose file builds docker/Dockerfile and runs commands that exist.

No Docker engine is needed: ``make lint`` runs hadolint on the Dockerfile and
``docker compose config`` (validation against the Compose schema) on the compose file;
these tests check what those tools cannot know about this repository.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from sales_lakehouse_tools.deploy.template import load_template

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
WORKSPACE = "/home/hadoop/workspace"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_dockerfile_is_on_the_glue_5_image() -> None:
    lines = (DOCKER / "Dockerfile").read_text(encoding="utf-8").splitlines()
    assert [line for line in lines if line.startswith("FROM ")] == [
        "FROM public.ecr.aws/glue/aws-glue-libs:5"
    ]
    # The image's pyspark must stay in charge: nothing may install the project's deps.
    installs = [line for line in lines if "pip install" in line]
    assert all("-r /tmp/requirements.txt" in line or "--no-deps" in line for line in installs)


def test_every_service_builds_the_dockerfile_and_mounts_the_checkout(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == {"pipeline", "job", "pytest"}
    for name, service in services.items():
        build = service["build"]
        context = (DOCKER / build["context"]).resolve()
        assert context == ROOT, name
        assert (context / build["dockerfile"]).resolve() == DOCKER / "Dockerfile", name
        assert service["working_dir"] == WORKSPACE
        assert f"..:{WORKSPACE}" in service["volumes"]


def _repository_path(argument: str) -> Path | None:
    """A command argument that names a file of the checkout (relative to the workspace)."""
    if re.fullmatch(r"(docker|jobs)/[\w.-]+", argument):
        return ROOT / argument
    return None


def test_service_commands_exist_and_are_executable(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        command = service["command"]
        program = ROOT / command[0]
        assert program.is_file() and os.access(program, os.X_OK), f"{name}: {command[0]}"
        for argument in command[1:]:
            path = _repository_path(argument)
            assert path is None or path.is_file(), f"{name}: {argument} does not exist"
        if "pytest" in name:
            assert "docker/run_pytest.py" in command
            assert all((ROOT / a).exists() for a in command if a.startswith("tests/"))


def test_pipeline_script_runs_the_workflow_jobs_in_order() -> None:
    """docker/run-pipeline.sh runs the Spark jobs in the order of the Glue workflow."""
    script = (DOCKER / "run-pipeline.sh").read_text(encoding="utf-8")
    (loop,) = re.findall(r"for job in ([\w ]+); do", script)
    jobs = loop.split()
    assert all((ROOT / "jobs" / f"{job}.py").is_file() for job in jobs)
    template = load_template(ROOT / "infra" / "template.yaml")["Resources"]
    scripts = {
        name: body["Properties"]["Command"]["ScriptLocation"]["Fn::Sub"].rsplit("/", 1)[1]
        for name, body in template.items()
        if body["Type"] == "AWS::Glue::Job"
    }
    order = []
    # The default stack: without the order database (its extract needs the database's VPC).
    for trigger in (b for b in template.values() if b["Type"] == "AWS::Glue::Trigger"):
        if trigger.get("Condition") == "OperationalSource":
            continue
        job = trigger["Properties"]["Actions"][0]["JobName"]
        if "Fn::If" in job:
            job = job["Fn::If"][2]
        order.append(scripts[job["Ref"]][:-3])
    assert jobs == [job for job in order if job != "register_catalog"]


def test_spark_submit_wrapper_sets_the_delta_conf_of_the_glue_jobs() -> None:
    script = (DOCKER / "spark-submit-delta.sh").read_text(encoding="utf-8")
    assert "--conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension" in script
    catalog = "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog"
    assert f"--conf {catalog}" in script
