"""The project's requirements without Spark, read from pyproject.toml.

The Lambda zip and the Glue Docker image both need the package's dependencies minus
pyspark and delta-spark (Lambda has no Spark; the Glue image brings its own). Reading them
from pyproject.toml keeps one list. Standard library only: the Docker build runs this
before anything is installed.

Usage: python -m sales_lakehouse_tools.deploy.requirements [EXTRA ...]  (one requirement a line)
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

SPARK = frozenset({"pyspark", "delta-spark"})
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[([^\]]*)\])?")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def spark_free_requirements(
    pyproject: Path, extras: tuple[str, ...] = (), exclude: frozenset[str] = frozenset()
) -> list[str]:
    """Requirement strings of the project and ``extras``, without Spark and ``exclude``.

    A self-reference such as ``sales-lakehouse[lambda]`` inside an extra is expanded.
    """
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    own = _canonical(project["name"])
    optional: dict[str, list[str]] = project.get("optional-dependencies", {})
    skip = {_canonical(name) for name in SPARK | exclude}
    found: list[str] = []
    seen_extras: set[str] = set()

    def add(requirements: list[str]) -> None:
        for requirement in requirements:
            match = _NAME.match(requirement)
            if not match:
                raise ValueError(f"cannot read requirement {requirement!r} in {pyproject}")
            name = _canonical(match.group(1))
            if name == own:
                for extra in (match.group(3) or "").split(","):
                    add_extra(extra.strip())
            elif name not in skip and requirement not in found:
                found.append(requirement)

    def add_extra(extra: str) -> None:
        if extra and extra not in seen_extras:
            if extra not in optional:
                raise ValueError(f"{pyproject} has no optional dependencies {extra!r}")
            seen_extras.add(extra)
            add(optional[extra])

    add(project.get("dependencies", []))
    for extra in extras:
        add_extra(extra)
    return found


def main(argv: list[str] | None = None) -> int:
    extras = tuple(sys.argv[1:] if argv is None else argv)
    root = Path(__file__).resolve().parents[3]
    print("\n".join(spark_free_requirements(root / "pyproject.toml", extras)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
