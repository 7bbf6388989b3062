"""Build the release artifacts into ``dist/``: wheel, Lambda zip, job scripts, template.

``make package`` and ``sales-lakehouse deploy`` both call :func:`build_release`:

- the wheel (``pip wheel --no-deps``), which Glue installs with ``--additional-python-modules``,
  without its pyspark and delta-spark requirements (:mod:`sales_lakehouse_tools.deploy.glue_wheel`);
- ``lambda.zip``: the wheel's files plus the Spark-free runtime dependencies
  (:mod:`sales_lakehouse_tools.deploy.requirements`; boto3 is in the Lambda runtime already) as
  Linux x86_64 / CPython 3.11 wheels. Its bytes depend only on its inputs (sorted entries,
  fixed timestamps, hash-checked ``.pyc``), so an unchanged build keeps its hash and its
  S3 key, and a second deployment finds no change;
- ``jobs/*.py``, the Glue job scripts;
- ``forecast/sourcedir.tar.gz``, the demand model's training script and modules for
  SageMaker's script mode (:mod:`sales_lakehouse_tools.deploy.training_source`);
- for the order-database extract job, which runs in a VPC without a way to PyPI:
  ``glue-modules.gluewheels.zip``, the wheel and its Spark-free dependencies as Linux
  wheels in Glue 5's "zip of wheels" layout (``wheels/*.whl`` and ``wheels/requirements.txt``,
  installed with pip's ``--no-index``), and ``jars/``, the JDBC driver from the local Maven
  repository (``make jars``);
- ``template.json``, the whole template as compact JSON, which CloudFormation reads from
  the artifacts bucket (``TemplateURL``, at most 1,000,000 bytes), and ``bootstrap.json``,
  the part of it a new stack is created from inline (``TemplateBody``, at most 51,200
  bytes; :func:`sales_lakehouse_tools.deploy.template.bootstrap_template`). The build fails when
  either is over its limit;
- ``release.json``, what was built, for ``deploy --no-build``.

pip needs PyPI (or its cache) for the build backend and the Lambda dependencies.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sales_lakehouse.runtime.session import jdbc_jar_paths
from sales_lakehouse_tools.deploy.glue_wheel import drop_requirements
from sales_lakehouse_tools.deploy.requirements import spark_free_requirements
from sales_lakehouse_tools.deploy.template import (
    INLINE_LIMIT,
    URL_LIMIT,
    bootstrap_template,
    compact_template,
    size_problems,
    to_json,
)
from sales_lakehouse_tools.deploy.training_source import ARCHIVE, build_training_source

# What Lambda runs: the template's Runtime and Architectures.
LAMBDA_PLATFORM = ("--platform", "manylinux2014_x86_64", "--implementation", "cp")
LAMBDA_PYTHON = "3.11"
LAMBDA_TASK_ROOT = "/var/task"
# In the Lambda runtime already (and large): left out of the zip.
LAMBDA_PROVIDED = frozenset({"boto3", "botocore"})
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# Glue 5's zip of wheels for --additional-python-modules (with --no-index).
GLUE_MODULES = "glue-modules.gluewheels.zip"


class PackageError(RuntimeError):
    """The artifacts could not be built."""


@dataclass(frozen=True)
class Release:
    """The artifacts of one build, all under ``dist``."""

    dist: Path
    version: str
    release_id: str
    wheel_name: str

    @property
    def wheel(self) -> Path:
        return self.dist / self.wheel_name

    @property
    def lambda_zip(self) -> Path:
        return self.dist / "lambda.zip"

    @property
    def template(self) -> Path:
        """The whole template, compact JSON: updates read it from the artifacts bucket."""
        return self.dist / "template.json"

    @property
    def bootstrap(self) -> Path:
        """The bootstrap template, compact JSON: a new stack is created from it inline."""
        return self.dist / "bootstrap.json"

    @property
    def template_key(self) -> str:
        """Where updates upload :attr:`template` in the artifacts bucket."""
        return f"{self.prefix}/template.json"

    @property
    def jobs(self) -> list[Path]:
        return sorted((self.dist / "jobs").glob("*.py"))

    @property
    def training_source(self) -> Path:
        """SageMaker's ``sagemaker_submit_directory`` for the demand model."""
        return self.dist / ARCHIVE

    @property
    def glue_modules(self) -> Path:
        return self.dist / GLUE_MODULES

    @property
    def jars(self) -> list[Path]:
        return sorted((self.dist / "jars").glob("*.jar"))

    @property
    def prefix(self) -> str:
        """The release folder in the artifacts bucket."""
        return f"releases/{self.release_id}"

    @property
    def lambda_key(self) -> str:
        """The zip's key: it carries the zip's hash, so new code always updates the functions."""
        digest = hashlib.sha256(self.lambda_zip.read_bytes()).hexdigest()[:16]
        return f"{self.prefix}/lambda-{digest}.zip"


def project_root() -> Path:
    """The checkout this module runs from (editable install), else the current folder."""
    for candidate in (Path(__file__).resolve().parents[3], Path.cwd()):
        if (candidate / "pyproject.toml").is_file() and (candidate / "infra").is_dir():
            return candidate
    raise PackageError(
        "no project checkout found (pyproject.toml and infra/): run from the repository root"
    )


def _run(command: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> None:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-15:]
        raise PackageError(f"{' '.join(command[:4])} … failed:\n" + "\n".join(output))


def release_id(root: Path, version: str) -> str:
    """``<version>-<git short sha>``, or ``<version>-<UTC time>`` outside git."""
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0 and result.stdout.strip():
        return f"{version}-{result.stdout.strip()}"
    from datetime import UTC, datetime

    return f"{version}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def build_wheel(root: Path, out: Path, python: str = sys.executable) -> Path:
    """``pip wheel --no-deps`` of the project into ``out``, without its Spark requirements
    (Glue has Spark; pip would fetch it on every job run); the wheel's path."""
    with tempfile.TemporaryDirectory() as scratch:
        _run([python, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", scratch, str(root)], root)
        wheels = sorted(Path(scratch).glob("sales_lakehouse-*.whl"))
        if len(wheels) != 1:
            raise PackageError(f"expected one sales_lakehouse wheel, pip built {wheels}")
        return drop_requirements(Path(shutil.copy2(wheels[0], out / wheels[0].name)))


def build_lambda_zip(root: Path, wheel: Path, target: Path, python: str = sys.executable) -> Path:
    """The Lambda deployment package: the wheel's files and the Spark-free dependencies."""
    requirements = spark_free_requirements(
        root / "pyproject.toml", extras=("lambda", "oltp"), exclude=LAMBDA_PROVIDED
    )
    with tempfile.TemporaryDirectory() as scratch:
        staging = Path(scratch)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(staging)
        _run(
            [
                python,
                *("-m", "pip", "install", "--quiet", "--no-compile", "--target", str(staging)),
                *LAMBDA_PLATFORM,
                *("--python-version", LAMBDA_PYTHON, "--only-binary=:all:"),
                *requirements,
            ],
            root,
        )
        shutil.rmtree(staging / "bin", ignore_errors=True)  # console scripts: no use in Lambda
        _compile(staging, python)
        _deterministic_zip(staging, target)
    return target


def build_glue_modules(root: Path, wheel: Path, target: Path, python: str = sys.executable) -> Path:
    """Glue 5's zip of wheels: ``wheels/`` holds the project's wheel and its Spark-free
    requirements as Linux x86_64 / CPython 3.11 wheels, and ``wheels/requirements.txt``
    pins each, so pip installs them with ``--no-index`` (no PyPI from the VPC)."""
    requirements = spark_free_requirements(root / "pyproject.toml")
    with tempfile.TemporaryDirectory() as scratch:
        wheels = Path(scratch) / "wheels"
        wheels.mkdir()
        _run(
            [
                python,
                *("-m", "pip", "download", "--quiet", "--dest", str(wheels)),
                *LAMBDA_PLATFORM,
                *("--python-version", LAMBDA_PYTHON, "--only-binary=:all:"),
                *requirements,
            ],
            root,
        )
        shutil.copy2(wheel, wheels / wheel.name)
        pins = sorted(_pin(path) for path in wheels.glob("*.whl"))
        (wheels / "requirements.txt").write_text("\n".join(pins) + "\n", encoding="utf-8")
        _deterministic_zip(Path(scratch), target)
    return target


def _pin(wheel: Path) -> str:
    """``name==version`` of a wheel file (``name-version-…whl``)."""
    name, version = wheel.name.split("-")[:2]
    return f"{name.replace('_', '-').lower()}=={version}"


def copy_jdbc_jars(target: Path) -> list[Path]:
    """The JDBC driver's jars from the local Maven repository into ``target``."""
    jars = jdbc_jar_paths()
    missing = [str(jar) for jar in jars if not jar.is_file()]
    if missing:
        raise PackageError(
            f"the JDBC driver is not built yet ({', '.join(missing)}): run make jars"
        )
    target.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(jar, target / jar.name)) for jar in jars]


def _compile(folder: Path, python: str) -> None:
    """Byte-compile for a faster cold start, reproducibly: hash-checked ``.pyc`` whose
    recorded source paths are where Lambda unpacks the zip (``/var/task``), compiled with a
    fixed hash seed (set and frozenset constants are marshalled in hash order)."""
    _run(
        [
            python,
            *("-m", "compileall", "-q", "-j", "1", "--invalidation-mode", "checked-hash"),
            *("-s", str(folder), "-p", LAMBDA_TASK_ROOT, str(folder)),
        ],
        folder,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def _deterministic_zip(folder: Path, target: Path) -> None:
    """Zip ``folder`` with sorted entries, fixed times and modes: same files, same bytes."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, path.read_bytes())


def build_release(root: Path, dist: Path, python: str = sys.executable) -> Release:
    """Build every artifact into ``dist`` (replacing an earlier build there)."""
    version = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    dist.mkdir(parents=True, exist_ok=True)
    for old in (
        *dist.glob("sales_lakehouse-*.whl"),
        dist / "lambda.zip",
        dist / GLUE_MODULES,
        dist / "release.json",
    ):
        old.unlink(missing_ok=True)
    shutil.rmtree(dist / "jobs", ignore_errors=True)
    shutil.rmtree(dist / "jars", ignore_errors=True)
    shutil.rmtree(dist / "forecast", ignore_errors=True)

    wheel = build_wheel(root, dist, python)
    release = Release(dist, version, release_id(root, version), wheel.name)
    build_lambda_zip(root, wheel, release.lambda_zip, python)
    build_glue_modules(root, wheel, release.glue_modules, python)
    copy_jdbc_jars(dist / "jars")
    (dist / "jobs").mkdir()
    for script in sorted((root / "jobs").glob("*.py")):
        shutil.copy2(script, dist / "jobs" / script.name)
    build_training_source(root, release.training_source)
    write_templates(root / "infra" / "template.yaml", release)
    manifest = {"version": version, "release_id": release.release_id, "wheel": wheel.name}
    (dist / "release.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return release


def write_templates(source: Path, release: Release) -> None:
    """``template.json`` and ``bootstrap.json`` of ``source``; a PackageError when either
    is over CloudFormation's limit for the way deploy passes it."""
    template = compact_template(source)
    full, bootstrap = to_json(template), to_json(bootstrap_template(template))
    problems = size_problems(full, bootstrap)
    if problems:
        raise PackageError("; ".join(problems))
    release.template.write_text(full, encoding="utf-8")
    release.bootstrap.write_text(bootstrap, encoding="utf-8")


def load_release(dist: Path) -> Release:
    """The release an earlier :func:`build_release` left in ``dist``."""
    manifest = dist / "release.json"
    if not manifest.is_file():
        raise PackageError(f"no build in {dist}: run `make package` (or deploy without --no-build)")
    data = json.loads(manifest.read_text(encoding="utf-8"))
    release = Release(dist, data["version"], data["release_id"], data["wheel"])
    missing = [
        p.name
        for p in (
            release.wheel,
            release.lambda_zip,
            release.glue_modules,
            release.template,
            release.training_source,
        )
        if not p.is_file()
    ]
    if not release.bootstrap.is_file():  # a build from before the two-phase deployment
        missing.append(release.bootstrap.name)
    if not release.jars:
        missing.append("jars/")
    if missing or not release.jobs:
        raise PackageError(f"{dist} is incomplete (missing {missing or 'jobs/'}): build it again")
    return release


def describe(release: Release) -> list[str]:
    """One line per artifact, with its size."""
    size = len(release.template.read_bytes())
    fits = "fits" if size <= URL_LIMIT else "OVER"
    bootstrap_size = len(release.bootstrap.read_bytes())
    bootstrap_fits = "fits" if bootstrap_size <= INLINE_LIMIT else "OVER"
    return [
        f"wheel     {release.wheel}  ({release.wheel.stat().st_size:,} bytes)",
        f"lambda    {release.lambda_zip}  ({release.lambda_zip.stat().st_size:,} bytes)",
        f"jobs      {release.dist / 'jobs'}/  ({len(release.jobs)} scripts)",
        f"forecast  {release.training_source}  (SageMaker training source)",
        f"glue      {release.glue_modules}  ({release.glue_modules.stat().st_size:,} bytes; "
        f"{', '.join(jar.name for jar in release.jars)})",
        f"template  {release.template}  ({size:,} bytes; {fits} the S3 template limit)",
        f"bootstrap {release.bootstrap}  ({bootstrap_size:,} bytes; {bootstrap_fits} the "
        "inline limit)",
        f"release   {release.prefix}",
    ]
