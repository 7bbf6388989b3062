"""The lake lock on a local folder: one holder, a one-line refusal naming it, stale locks
taken over (dead process, old heartbeat), and exactly one winner of a race."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sales_lakehouse.lake.lock import LOCK_NAME, LakeLockedError, lake_lock


def write_lock(lake: Path, **fields: object) -> None:
    now = datetime.now(UTC).isoformat()
    holder = {
        "run_id": "20261130T000000Z-old",
        "command": "run --stage all",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": now,
        "heartbeat_at": now,
        **fields,
    }
    lake.mkdir(parents=True, exist_ok=True)
    (lake / LOCK_NAME).write_text(json.dumps(holder))


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_a_second_run_is_refused_with_one_line_naming_the_first(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with lake_lock(str(lake), "run-a", "run --stage all") as me:
        assert json.loads((lake / LOCK_NAME).read_text())["run_id"] == "run-a"
        with pytest.raises(LakeLockedError) as refused, lake_lock(str(lake), "run-b", "maintain"):
            pass
        message = str(refused.value)
        assert "\n" not in message
        assert message.startswith(f"lake {lake} is in use by run run-a (run --stage all, ")
        assert f"pid {me.pid} on {me.host}" in message
        # The refused run did not disturb the holder's lock.
        assert json.loads((lake / LOCK_NAME).read_text())["run_id"] == "run-a"
    assert not (lake / LOCK_NAME).exists()  # released


def test_a_lock_whose_process_is_gone_is_taken_over(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    gone = dead_pid()
    write_lock(lake, pid=gone)
    said: list[str] = []
    with lake_lock(str(lake), "run-new", "run --stage all", progress=said.append):
        assert json.loads((lake / LOCK_NAME).read_text())["run_id"] == "run-new"
    (line,) = said
    assert line.startswith(
        "lock: took over the lake from run 20261130T000000Z-old (run --stage all, "
        f"pid {gone} on {socket.gethostname()}, started "
    )
    assert line.endswith(f": its process {gone} on {socket.gethostname()} no longer exists")


def test_another_hosts_lock_is_kept_while_its_heartbeat_is_fresh_then_taken_over(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    write_lock(lake, host="glue-worker-1", pid=1)
    with (
        pytest.raises(LakeLockedError, match="pid 1 on glue-worker-1"),
        lake_lock(str(lake), "run-b", "run --stage all"),
    ):
        pass
    old = (datetime.now(UTC) - timedelta(minutes=11)).isoformat()
    write_lock(lake, host="glue-worker-1", pid=1, heartbeat_at=old)
    said: list[str] = []
    with lake_lock(str(lake), "run-c", "run --stage all", progress=said.append):
        pass
    assert said[0].endswith("its last heartbeat is older than 10 min")


def test_the_holder_refreshes_its_heartbeat(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    with lake_lock(str(lake), "run-a", "run", heartbeat_seconds=0.2):
        first = json.loads((lake / LOCK_NAME).read_text())["heartbeat_at"]
        time.sleep(1.3)
        later = json.loads((lake / LOCK_NAME).read_text())["heartbeat_at"]
    assert later > first


def test_of_two_runs_taking_over_one_stale_lock_exactly_one_wins(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for _attempt in range(5):
        write_lock(lake, pid=dead_pid())
        outcomes: list[str] = []
        barrier = threading.Barrier(2)

        def contend(
            run_id: str, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes
        ) -> None:
            barrier.wait()
            try:
                with lake_lock(str(lake), run_id, "run"):
                    outcomes.append("won")
                    time.sleep(0.3)
            except LakeLockedError:
                outcomes.append("refused")

        threads = [threading.Thread(target=contend, args=(f"run-{n}",)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["refused", "won"]
        assert not (lake / LOCK_NAME).exists()
