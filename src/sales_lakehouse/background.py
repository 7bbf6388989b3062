"""A daemon thread that repeats an action while a block runs (the lake lock's heartbeat,
the pipeline's progress heartbeat)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def repeating(seconds: float, action: Callable[[], bool], name: str) -> Iterator[None]:
    """Call ``action`` every ``seconds`` until the block ends or ``action`` returns False;
    the thread is stopped and joined when the block ends."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            if not action():
                return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
