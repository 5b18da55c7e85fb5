"""Run a Lava network and always release it: :func:`lava_session`.

Lava's ``stop()`` blocks forever once a worker process has died with an exception (it
waits for a TERMINATED reply that never comes). :func:`lava_session` calls ``stop()`` in a
watchdog thread and, if it does not return in time, terminates the worker processes that
were started during the session (by pid, nothing else).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["lava_session", "stop_with_timeout"]


def stop_with_timeout(proc, timeout: float = 30.0, known_pids: set[int] | None = None) -> bool:
    """``proc.stop()``; returns False (after terminating new children) if it hangs."""
    thread = threading.Thread(target=proc.stop, name="lava-stop", daemon=True)
    thread.start()
    thread.join(timeout)
    if not thread.is_alive():
        return True
    known = known_pids or set()
    for child in multiprocessing.active_children():
        if child.pid not in known:
            child.terminate()
            child.join(5.0)
    return False


@contextmanager
def lava_session(proc, timeout: float = 30.0) -> Iterator[object]:
    """``with lava_session(net): net.run(...); net.v.get()`` then a guaranteed stop."""
    before = {p.pid for p in multiprocessing.active_children()}
    try:
        yield proc
    finally:
        if not stop_with_timeout(proc, timeout, before):
            raise RuntimeError(
                f"Lava stop() did not return within {timeout:.0f} s; its workers were terminated"
            )
