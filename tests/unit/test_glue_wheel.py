"""The wheel Glue installs has no Spark requirements, and still installs and imports.

No network and no build backend: the test makes a wheel the way ``pip wheel`` lays it out
(the package, the contracts as ``sales_lakehouse/schemas``, METADATA whose Requires-Dist
come from pyproject.toml, a RECORD of hashes), then rewrites it with
:func:`drop_requirements`. ``pip install --no-deps`` of a wheel pinning pyspark would
otherwise be the only thing standing between a Glue job and a 300 MB download.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from sales_lakehouse_tools.deploy.glue_wheel import drop_requirements, requirements

ROOT = Path(__file__).resolve().parents[2]
DIST_INFO = "sales_lakehouse-0.1.0.dist-info"
SPARK_REQUIREMENT = re.compile(r"(?i)(pyspark|delta[-_.]spark)\b")


def _hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _project_wheel(folder: Path) -> Path:
    """A wheel of the project as ``pip wheel --no-deps`` lays it out."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requires = [f"Requires-Dist: {r}" for r in project["dependencies"]]
    requires += [
        f"Requires-Dist: {r}; extra == '{extra}'"
        for extra, listed in project["optional-dependencies"].items()
        for r in listed
    ]
    metadata = "\n".join(
        [
            "Metadata-Version: 2.3",
            f"Name: {project['name']}",
            f"Version: {project['version']}",
            f"Requires-Python: {project['requires-python']}",
            *requires,
            "Description-Content-Type: text/markdown",
            "",
            "Requires-Dist: pyspark is body text here, not a requirement.",
            "",
        ]
    )
    files: dict[str, bytes] = {
        path.relative_to(ROOT / "src").as_posix(): path.read_bytes()
        for package in ("sales_lakehouse", "sales_lakehouse_tools")
        for path in sorted((ROOT / "src" / package).rglob("*.py"))
    }
    files |= {
        f"sales_lakehouse/schemas/{path.name}": path.read_bytes()
        for path in sorted((ROOT / "schemas").glob("*.yaml"))
    }
    files[f"{DIST_INFO}/METADATA"] = metadata.encode()
    files[f"{DIST_INFO}/WHEEL"] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = "".join(f"{name},{_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{DIST_INFO}/RECORD"] = (record + f"{DIST_INFO}/RECORD,,\n").encode()
    wheel = folder / "sales_lakehouse-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2025, 3, 1, 10, 0, 0)), data)
    return wheel


def _record_problems(wheel: Path) -> list[str]:
    """Entries whose RECORD hash or size does not match their bytes, or are missing."""
    with zipfile.ZipFile(wheel) as archive:
        record = archive.read(f"{DIST_INFO}/RECORD").decode()
        rows = {row[0]: row[1:] for row in csv.reader(io.StringIO(record)) if row}
        problems = [name for name in archive.namelist() if name not in rows]
        for name, (digest, size) in rows.items():
            if name.endswith("RECORD"):
                continue
            data = archive.read(name)
            if (digest, size) != (_hash(data), str(len(data))):
                problems.append(name)
        return problems


def test_the_glue_wheel_requires_no_spark_but_keeps_the_rest(tmp_path: Path) -> None:
    wheel = _project_wheel(tmp_path)
    before = requirements(wheel)
    assert {"pyspark==3.5.6", "delta-spark==3.3.2"} <= set(before)

    drop_requirements(wheel)

    after = requirements(wheel)
    assert after == [r for r in before if not SPARK_REQUIREMENT.match(r)]
    assert len(after) == len(before) - 2
    assert {"pydantic>=2.6,<3", "PyYAML>=6.0"} <= set(after)
    assert any(r.endswith("extra == 'lambda'") for r in after)  # extras stay
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"{DIST_INFO}/METADATA").decode()
    assert "Requires-Dist: pyspark is body text here" in metadata  # the body is untouched
    assert _record_problems(wheel) == []


def test_the_glue_wheel_leaves_the_tools_out(tmp_path: Path) -> None:
    wheel = _project_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        before = archive.namelist()
    assert "sales_lakehouse_tools/deploy/stack.py" in before

    drop_requirements(wheel)

    with zipfile.ZipFile(wheel) as archive:
        after = archive.namelist()
        record = archive.read(f"{DIST_INFO}/RECORD").decode()
    assert after == [name for name in before if not name.startswith("sales_lakehouse_tools/")]
    assert "sales_lakehouse/runtime/session.py" in after
    assert "sales_lakehouse_tools" not in record
    assert _record_problems(wheel) == []


def test_the_rewrite_is_deterministic_and_keeps_every_other_entry(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    original = _project_wheel(first)
    with zipfile.ZipFile(original) as archive:
        entries = [(i.filename, i.date_time, archive.read(i)) for i in archive.infolist()]
    one = drop_requirements(original).read_bytes()
    two = drop_requirements(_project_wheel(second)).read_bytes()
    assert one == two
    with zipfile.ZipFile(original) as archive:
        rewritten = [(i.filename, i.date_time, archive.read(i)) for i in archive.infolist()]
    kept = [e for e in entries if not e[0].startswith("sales_lakehouse_tools/")]
    assert [e[:2] for e in rewritten] == [e[:2] for e in kept]
    changed = {e[0] for e, r in zip(kept, rewritten, strict=True) if e[2] != r[2]}
    assert changed == {f"{DIST_INFO}/METADATA", f"{DIST_INFO}/RECORD"}


def test_the_glue_wheel_installs_and_imports_without_spark(tmp_path: Path) -> None:
    wheel = drop_requirements(_project_wheel(tmp_path))
    target = tmp_path / "site"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"),
            *("--disable-pip-version-check", "--target", str(target), str(wheel)),
        ],
        check=True,
        capture_output=True,
    )
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import sales_lakehouse.contracts as c; "
        "assert c.__file__.startswith(sys.argv[1]), c.__file__; "
        "assert str(c.schemas_dir()).startswith(sys.argv[1]), c.schemas_dir(); "
        "print(len(c.load_contract('sales_events').column_names))"
    )
    env = {k: v for k, v in os.environ.items() if k != "SALES_LAKEHOUSE_SCHEMAS"}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(target)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    assert int(result.stdout) > 10
    assert (target / f"{DIST_INFO}/METADATA").is_file()
