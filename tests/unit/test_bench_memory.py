"""The benchmark's memory measure on real processes: a JVM's children still running the
JVM's executable are not counted (a spawn before its exec reports the JVM's memory),
every other descendant is."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
from bench.memory import tree_rss

# A process that holds ~200 MB and starts two children that hold ~200 MB each: one runs
# its own executable (as a JVM's spawn before its exec), one another (a Python worker).
CHILD = "held = bytearray(200 * 1024 * 1024); import time; time.sleep(60)"
PARENT = f"""
import subprocess, sys, time
held = bytearray(200 * 1024 * 1024)
same = subprocess.Popen([sys.executable, "-c", "{CHILD}"])
other = subprocess.Popen([sys.argv[1], "-c", "{CHILD}"])
time.sleep(60)
"""
MB = 1024 * 1024


def _started(executable: str) -> tuple[subprocess.Popen[bytes], psutil.Process]:
    parent = subprocess.Popen([executable, "-c", PARENT, sys.executable])
    process = psutil.Process(parent.pid)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        members = [process, *process.children()]
        if len(members) == 3 and all(m.memory_info().rss > 200 * MB for m in members):
            return parent, process
        time.sleep(0.1)
    parent.kill()
    raise AssertionError("the processes did not start")


def _measured(executable: str) -> tuple[int, int, int, int]:
    """The tree's measure, the parent's resident bytes, the child running the parent's
    executable's and the other child's."""
    parent, process = _started(executable)
    try:
        own = process.exe()
        same = next(c for c in process.children() if c.exe() == own)
        other = next(c for c in process.children() if c.exe() != own)
        rss = [p.memory_info().rss for p in (process, same, other)]
        return tree_rss(process), rss[0], rss[1], rss[2]
    finally:
        for member in [*process.children(), process]:
            member.kill()
        parent.wait()


def _executable(tmp_path: Path, name: str) -> str:
    copy = tmp_path / name
    shutil.copy(Path(sys.executable).resolve(), copy)
    return str(copy)


def test_descendants_are_counted(tmp_path: Path) -> None:
    total, parent, same, other = _measured(_executable(tmp_path, "python-copy"))
    assert abs(total - (parent + same + other)) < 30 * MB
    assert total > 600 * MB


def test_a_jvm_child_running_the_jvm_executable_is_not_counted(tmp_path: Path) -> None:
    # The same parent under the name the JVM's process has.
    total, parent, same, other = _measured(_executable(tmp_path, "java"))
    assert same > 200 * MB
    assert abs(total - (parent + other)) < 30 * MB
