"""Measure a Lava run's memory: summed PSS of a process tree and ``/dev/shm`` use, sampled.

:class:`MemoryWatch` is a thread that, every ``interval`` seconds, sums the proportional
set size (``Pss`` of ``/proc/<pid>/smaps_rollup``) of a root process and all its
descendants, and reads how much of ``/dev/shm`` is used, keeping the peaks. PSS divides
every shared page among the processes mapping it, so the sum counts each page once;
pages of ``/dev/shm`` segments that the processes have mapped and touched are in it too
(``Pss_Shmem``), so ``peak_pss + peak_shm`` counts those twice (an upper bound), and
``peak_total`` (the peak of ``pss - pss_shmem + shm`` at one sample) does not.

Lava's model discovery executes every module of this folder standalone: no dataclasses,
no import-time side effects.
"""

from __future__ import annotations

import os
import threading

__all__ = ["MemoryWatch", "descendants", "pss_bytes", "shm_used_bytes"]


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (from ``/proc/*/stat``)."""
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return [root]
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def pss_bytes(pid: int) -> tuple[int, int]:
    """``(Pss, Pss_Shmem)`` of one process in bytes (0, 0 if it is gone)."""
    pss = shmem = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
                elif line.startswith("Pss_Shmem:"):
                    shmem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return pss, shmem


def shm_used_bytes(path: str = "/dev/shm") -> int:
    """Bytes in use on the ``/dev/shm`` file system."""
    try:
        st = os.statvfs(path)
    except OSError:
        return 0
    return (st.f_blocks - st.f_bfree) * st.f_frsize


class MemoryWatch(threading.Thread):
    """``with MemoryWatch() as mw: ...`` then ``mw.peak_pss``, ``mw.peak_shm``, ``mw.peak_total``
    (bytes; ``/dev/shm`` counted above its level when the watch started)."""

    def __init__(self, root: int | None = None, interval: float = 0.2) -> None:
        super().__init__(name="memwatch", daemon=True)
        self.root = os.getpid() if root is None else int(root)
        self.interval = float(interval)
        self.base_shm = shm_used_bytes()
        self.peak_pss = self.peak_shm = self.peak_total = 0
        self.peak_procs = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def sample(self) -> None:
        pids = descendants(self.root)
        pss = shmem = 0
        for pid in pids:
            a, b = pss_bytes(pid)
            pss, shmem = pss + a, shmem + b
        shm = max(0, shm_used_bytes() - self.base_shm)
        self.peak_pss = max(self.peak_pss, pss)
        self.peak_shm = max(self.peak_shm, shm)
        self.peak_total = max(self.peak_total, pss - shmem + shm)
        self.peak_procs = max(self.peak_procs, len(pids))
        self.samples += 1

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def __enter__(self) -> MemoryWatch:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop_event.set()
        self.join(5.0)
        self.sample()
