"""The wheel Glue and Lambda install: the project's wheel without its Spark requirements
and without the tools package.

Glue installs ``--additional-python-modules`` with pip, and pip installs a wheel's
``Requires-Dist`` too. Glue's Spark Python is on the job's path, not a pip distribution,
so ``pyspark==3.5.6`` and ``delta-spark==3.3.2`` would make pip download them on every
job run (pyspark 3.5.6 is a source archive of some 300 MB on PyPI) and install a second
pyspark beside Glue's own. Glue 5.1 brings Spark 3.5.6 and, with ``--datalake-formats
delta``, Delta Lake 3.3.2; the wheel needs neither from pip.

:mod:`sales_lakehouse_tools` (deploy, sample-data generator, load-test producer) runs on a
workstation, never in a job or a function, so it leaves the wheel as well.

:func:`drop_requirements` rewrites a built wheel in place: the named requirements leave
``METADATA``, the files of the named packages leave the archive and ``RECORD``, ``RECORD``
gets METADATA's new hash and size, and every other entry keeps its bytes, order and zip
attributes, so the same input wheel gives the same output bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from sales_lakehouse_tools.deploy.requirements import SPARK

# Packages of the project's wheel that only a workstation needs.
TOOLS = ("sales_lakehouse_tools",)
_REQUIRES = re.compile(r"^Requires-Dist:\s*([A-Za-z0-9][A-Za-z0-9._-]*)", re.IGNORECASE)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode('ascii')}"


def requirements(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` values of ``wheel``'s METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(_dist_info(archive) + "METADATA").decode("utf-8")
    header = metadata.split("\n\n", 1)[0]
    return [
        line.split(":", 1)[1].strip()
        for line in header.splitlines()
        if line.lower().startswith("requires-dist:")
    ]


def _dist_info(archive: zipfile.ZipFile) -> str:
    folders = {
        name.split("/", 1)[0] + "/"
        for name in archive.namelist()
        if name.split("/", 1)[0].endswith(".dist-info")
    }
    if len(folders) != 1:
        raise ValueError(f"{archive.filename}: expected one .dist-info folder, found {folders}")
    return folders.pop()


def _without(metadata: str, names: set[str]) -> str:
    """``metadata`` without the Requires-Dist header lines of ``names`` (any marker)."""
    header, separator, body = metadata.partition("\n\n")
    kept = []
    for line in header.split("\n"):
        match = _REQUIRES.match(line)
        if not (match and _canonical(match.group(1)) in names):
            kept.append(line)
    return "\n".join(kept) + separator + body


def _dropped(path: str, packages: Iterable[str]) -> bool:
    return any(path.startswith(f"{package}/") for package in packages)


def _record(record: str, path: str, data: bytes, packages: Iterable[str] = ()) -> str:
    """``record`` (the RECORD file) with the hash and size of ``path`` set for ``data`` and
    without the lines of files in ``packages``."""
    entry = f"{path},{_record_hash(data)},{len(data)}"
    lines = [
        entry if line.split(",", 1)[0] == path else line
        for line in record.splitlines()
        if not _dropped(line.split(",", 1)[0], packages)
    ]
    return "\n".join(lines) + "\n"


def drop_requirements(
    wheel: Path, names: Iterable[str] = SPARK, packages: Iterable[str] = TOOLS
) -> Path:
    """Rewrite ``wheel`` without the ``Requires-Dist`` entries of ``names`` and the files of
    ``packages``; ``wheel``."""
    drop = {_canonical(name) for name in names}
    packages = tuple(packages)
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / wheel.name
        with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(target, "w") as out:
            dist_info = _dist_info(source)
            metadata_path, record_path = dist_info + "METADATA", dist_info + "RECORD"
            metadata = _without(source.read(metadata_path).decode("utf-8"), drop).encode()
            record = _record(
                source.read(record_path).decode("utf-8"), metadata_path, metadata, packages
            )
            replaced = {metadata_path: metadata, record_path: record.encode()}
            for info in source.infolist():  # same order, times, modes and compression
                if _dropped(info.filename, packages):
                    continue
                data = replaced.get(info.filename)
                out.writestr(info, source.read(info) if data is None else data)
        shutil.move(target, wheel)
    return wheel
