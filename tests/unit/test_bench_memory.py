"""The benchmark's memory measure on real processes: the JVM's spawned children are not
counted (they report the JVM's memory for a moment), every other descendant is."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
from bench.memory import tree_rss

# A process that holds ~200 MB and starts a child that holds ~200 MB too.
PARENT = """
import subprocess, sys, time
held = bytearray(200 * 1024 * 1024)
child = subprocess.Popen([sys.argv[1], "-c", "held = bytearray(200 * 1024 * 1024); "
                          "import time; time.sleep(60)"])
time.sleep(60)
"""
MB = 1024 * 1024


def _started(executable: str) -> tuple[subprocess.Popen[bytes], psutil.Process]:
    parent = subprocess.Popen([executable, "-c", PARENT, sys.executable])
    process = psutil.Process(parent.pid)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        members = [process, *process.children()]
        if len(members) == 2 and all(m.memory_info().rss > 200 * MB for m in members):
            return parent, process
        time.sleep(0.1)
    parent.kill()
    raise AssertionError("the processes did not start")


def _measured(executable: str) -> tuple[int, int, int]:
    parent, process = _started(executable)
    try:
        child = process.children()[0]
        return tree_rss(process), process.memory_info().rss, child.memory_info().rss
    finally:
        for member in [*process.children(), process]:
            member.kill()
        parent.wait()


def test_descendants_are_counted() -> None:
    total, parent, child = _measured(sys.executable)
    assert abs(total - (parent + child)) < 20 * MB
    assert total > 400 * MB


def test_children_of_a_jvm_are_not_counted(tmp_path: Path) -> None:
    # The same parent under the name the JVM's process has: its child is left out.
    java = tmp_path / "java"
    shutil.copy(Path(sys.executable).resolve(), java)
    total, parent, child = _measured(str(java))
    assert child > 200 * MB
    assert abs(total - parent) < 20 * MB
