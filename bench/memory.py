"""Peak memory of the driver process and its children (the Spark JVM), sampled in a thread.

PySpark starts the JVM as a child process of the Python driver, so the memory a run
really needs is the resident set of both; ``psutil`` reads it every ``interval`` seconds.
A sampler misses spikes shorter than the interval; at 0.2 s that is noise for stages of
seconds.
"""

from __future__ import annotations

import threading

import psutil


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of ``process`` and its descendants, except a JVM's children still
    running the JVM's own executable (vanished processes ignored).

    The JVM starts short-lived commands (Hadoop runs ``chmod`` on every local file it
    writes when its native library is missing, as here). Java starts them with
    ``posix_spawn``, whose child shares the JVM's memory until it execs the command, and
    for that moment reports the JVM's whole resident size: counted, a sample taken then
    doubled the JVM (9.26 GiB against a 4.6 GiB JVM in one 3M run; docs/benchmark.md).
    The JVM's other children (PySpark's Python workers, commands after their exec) count.
    """
    total, pending = 0, [process]
    while pending:
        member = pending.pop()
        try:
            total += member.memory_info().rss
            children = member.children()
            own = member.exe() if member.name() == "java" else None
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for child in children:
            try:
                if own is None or child.exe() != own:
                    pending.append(child)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
    return total


class PeakMemory:
    """Background sampler: the overall peak and the peak since the last :meth:`take`."""

    def __init__(self, interval: float = 0.2, pid: int | None = None) -> None:
        self.interval = interval
        self.process = psutil.Process(pid)
        self.peak = 0
        self._window = 0
        self._self_window = 0
        self._children_window = 0
        # Peaks of the Python process alone and of its children (the Spark JVM) alone in
        # the last window: they need not peak together, so they can add up to more.
        self.last_self_peak = 0
        self.last_children_peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def _sample(self) -> None:
        rss = tree_rss(self.process)
        try:
            own = self.process.memory_info().rss
        except psutil.Error:
            own = 0
        with self._lock:
            self._self_window = max(self._self_window, own)
            self._children_window = max(self._children_window, rss - own)
            self.peak = max(self.peak, rss)
            self._window = max(self._window, rss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> PeakMemory:
        self._sample()
        self._thread.start()
        return self

    def take(self) -> int:
        """The peak since the previous call (or the start), then start a new window."""
        self._sample()
        with self._lock:
            peak, self._window = self._window, 0
            self.last_self_peak, self._self_window = self._self_window, 0
            self.last_children_peak, self._children_window = self._children_window, 0
        return peak

    def stop(self) -> int:
        """Stop sampling; the overall peak in bytes."""
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak
