"""Run a Lava network and always release it: :func:`lava_session`.

Lava runs every process model in a forked worker (one OS process each) and the main
process waits on shared-memory channels. Three things go wrong without help:

- a worker that dies (SIGKILL, the out-of-memory killer) or raises leaves the main
  process waiting forever, in ``run()`` or in ``stop()``;
- Ctrl-C reaches every worker of the process group (one traceback each), and a killed
  main process leaves its workers, their ``/dev/shm`` segments and ``pymp-*`` folder;
- a long ``TMPDIR`` makes the shared-memory manager's AF_UNIX socket path too long.

:func:`lava_session` therefore (1) makes every process forked during the session ignore
SIGINT and die with its parent (``PR_SET_PDEATHSIG``), (2) watches the workers from a
thread and, when one exits before the run is over, interrupts the main thread with a
:class:`~lava_spikingunet.errors.LavaRunError` naming the worker and its exception,
(3) on any failure or interrupt kills the session's workers (by pid, nothing else),
unlinks its shared-memory segments and marks the runtime stopped, and (4) keeps the
multiprocessing socket folder under a short path. A clean run is stopped with
``stop()`` under a timeout.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import multiprocessing.process
import multiprocessing.util
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from lava_spikingunet.errors import LavaRunError, Terminated, UserError

__all__ = ["kill_processes", "lava_session", "probe_dir", "socket_dir", "stop_with_timeout"]

#: Probe folders of :func:`probe_dir`: ``spikingunet-probe-<pid>-*``.
PROBE_PREFIX = "spikingunet-probe-"


def probe_dir():
    """A temporary folder for a run's probe files, named after this process so that a
    later run removes it if this process is SIGKILLed (``TemporaryDirectory`` removes it
    otherwise). Stale folders of dead processes are swept first."""
    _sweep_stale(tempfile.gettempdir(), PROBE_PREFIX)
    return tempfile.TemporaryDirectory(prefix=f"{PROBE_PREFIX}{os.getpid()}-")


#: AF_UNIX socket paths are limited to 108 bytes; a manager socket adds
#: ``/pymp-su<pid>-XXXXXXXX/listener-XXXXXXXX`` (at most about 45) to the folder.
_MAX_SOCKET_BASE = 60
_SOCKET_PREFIX = "pymp-su"
_PR_SET_PDEATHSIG = 1

#: True in the parent while a session is open: the after-fork hook reads the copy a
#: forked child inherits, so only Lava's processes (not, e.g., DataLoader workers) change.
_IN_SESSION = False
_SESSION_PARENT = 0


def _set_pdeathsig(sig: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _after_fork(_obj) -> None:
    """Runs in every multiprocessing child right after fork."""
    if not _IN_SESSION or not sys.platform.startswith("linux"):
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for sig in (signal.SIGUSR1,):
        signal.signal(sig, signal.SIG_DFL)
    _set_pdeathsig(signal.SIGKILL)
    if os.getppid() != _SESSION_PARENT:  # the parent died before prctl
        os._exit(1)


class _Hook:
    """Owner object for multiprocessing's after-fork registry (weakly referenced)."""


_HOOK = _Hook()
multiprocessing.util.register_after_fork(_HOOK, _after_fork)

#: pid -> Process of every multiprocessing child started during the open session. Polling
#: ``active_children()`` is not enough: ``Process.start()`` reaps and forgets children
#: that died, so a worker killed between two polls would never be seen.
_STARTED: dict[int, multiprocessing.process.BaseProcess] | None = None


class _RecordingChildren(set):
    """``multiprocessing.process._children`` that also records children started in a session."""

    def add(self, p) -> None:
        super().add(p)
        record = _STARTED
        if record is not None and os.getpid() == _SESSION_PARENT:
            record[p.pid] = p


if not isinstance(multiprocessing.process._children, _RecordingChildren):
    multiprocessing.process._children = _RecordingChildren(multiprocessing.process._children)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale(base: str, prefix: str = _SOCKET_PREFIX) -> None:
    """Remove folders this package made for processes that no longer exist (a SIGKILLed
    run cannot remove its own): named ``<prefix><pid>-*`` (socket folders ``pymp-su``,
    probe folders ``spikingunet-probe-``), nothing else."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        pid = name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def socket_dir() -> str:
    """Make sure multiprocessing's socket folder has a short path; return it.

    Python puts the manager's AF_UNIX socket in ``$TMPDIR/pymp-*``; above about 108
    bytes every Lava run fails with ``EOFError``. The folder is made here, named after
    this process (``pymp-su<pid>-*``, so that a later run can remove it if this process
    is SIGKILLed), under ``TMPDIR`` or, if that path is too long, ``/tmp`` (or
    ``/dev/shm``); none writable gives a named error. It is removed at exit.
    """
    config = multiprocessing.process.current_process()._config
    current = config.get("tempdir")
    if current and len(current) <= _MAX_SOCKET_BASE + 30 and os.path.isdir(current):
        return current
    for base in (tempfile.gettempdir(), "/tmp", "/dev/shm", "/var/tmp"):
        if len(base) <= _MAX_SOCKET_BASE and os.access(base, os.W_OK | os.X_OK):
            _sweep_stale(base)
            folder = tempfile.mkdtemp(prefix=f"{_SOCKET_PREFIX}{os.getpid()}-", dir=base)
            config["tempdir"] = folder
            multiprocessing.util.Finalize(
                None, shutil.rmtree, args=(folder,), kwargs={"ignore_errors": True},
                exitpriority=-100,
            )  # fmt: skip
            return folder
    raise UserError(
        f"TMPDIR {tempfile.gettempdir()} is too long for a Unix socket path (Lava's "
        f"shared-memory manager needs one); set TMPDIR to a path of at most "
        f"{_MAX_SOCKET_BASE} characters"
    )


def _join(proc, timeout: float) -> None:
    # Lava's SystemProcess.join() takes no timeout: call the base class's.
    try:
        multiprocessing.Process.join(proc, timeout)
    except (AssertionError, ValueError):  # not our child / already closed
        pass


def kill_processes(procs) -> None:
    """SIGKILL ``procs`` (multiprocessing.Process objects) and reap them."""
    for p in procs:
        try:
            if p.exitcode is None:
                p.kill()
        except (ValueError, AttributeError, OSError):
            pass
    for p in procs:
        _join(p, 5.0)


def _runtime(proc):
    return getattr(proc, "_runtime", None)


def _release_runtime(proc) -> None:
    """After the workers are killed: unlink the run's shared memory and make sure that
    nothing (``Runtime.__del__``, exit handlers) waits for a stop reply again."""
    rt = _runtime(proc)
    if rt is None:
        return
    infra = getattr(rt, "_messaging_infrastructure", None)
    smm = getattr(infra, "smm", None) if infra is not None else None
    for handle in list(getattr(smm, "_shared_memory_handles", []) or []):
        for step in (handle.close, handle.unlink):
            try:
                step()
            except (OSError, BufferError, ValueError):
                pass
    if smm is not None:
        smm._shared_memory_handles.clear()
        manager = getattr(smm, "_manager", None)
        if manager is not None:
            try:
                manager.shutdown()  # the server is dead: only marks it shut down
            except Exception:  # noqa: BLE001 - best effort on a dead manager
                pass
            smm._manager = None
    rt._is_started = False
    rt._is_running = False
    if infra is not None:
        infra._actors = []
    wd = getattr(rt, "_watchdog_manager", None)
    if wd is not None:
        try:
            wd.stop()
        except Exception:  # noqa: BLE001 - best effort on a dead manager
            pass


#: Functions an exception must not be raised in: Python prints "Exception ignored" and
#: carries on (fork hooks of logging/threading/random, finalizers).
_FRAGILE = frozenset(
    {
        "__del__",
        "_releaseLock",
        "_acquireLock",
        "_after_fork",
        "_at_fork_reinit",
        "_after_at_fork_child_reinit_locks",
        "_reset_internal_locks",
        "_run_finalizers",
        "_remove",
    }
)


def _fragile(frame) -> bool:
    return frame is not None and frame.f_code.co_name in _FRAGILE


class _WorkerDied(BaseException):
    """Raised in the main thread by the watchdog's signal (then turned into LavaRunError)."""


class _Watchdog(threading.Thread):
    """Polls the session's child processes; one that exits before the run ends is fatal."""

    def __init__(self, known: set[int], poll: float) -> None:
        super().__init__(name="lava-watchdog", daemon=True)
        self.known = known
        self.poll = poll
        self.children: dict[int, multiprocessing.Process] = {}
        self.lock = threading.Lock()
        self.armed = True
        self.pending = False
        self.message: str | None = None
        self._stop_event = threading.Event()

    def collect(self) -> None:
        for p in list((_STARTED or {}).values()) + multiprocessing.active_children():
            if p.pid not in self.known:
                self.children.setdefault(p.pid, p)

    def dead(self) -> str | None:
        for p in list(self.children.values()):
            try:
                code = p.exitcode
            except ValueError:  # closed
                continue
            if code is None:
                continue
            what = f"exit status {code}" if code >= 0 else f"killed by signal {-code}"
            detail = ""
            exc = None
            try:
                exc = p.exception if hasattr(p, "_pconn") else None
            except (OSError, EOFError, ValueError):
                exc = None
            if exc:
                err = exc[0] if isinstance(exc, tuple) else exc
                detail = f": {type(err).__name__}: {err}"
            return (
                f"a Lava worker process (pid {p.pid}, {p.name}) ended during the run "
                f"({what}){detail}"
            )
        return None

    def run(self) -> None:
        while not self._stop_event.wait(self.poll):
            with self.lock:
                if not self.armed:
                    return
                if self.message is None:
                    self.collect()
                    self.message = self.dead()
                    if self.message is not None:
                        kill_processes(self.children.values())
                        self.pending = True
                if self.pending and threading.main_thread().is_alive():
                    # (re)deliver: the handler defers itself in fragile spots
                    self.pending = False
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)

    def disarm(self) -> None:
        with self.lock:
            self.armed = False
        self._stop_event.set()


def stop_with_timeout(proc, timeout: float = 30.0, known_pids: set[int] | None = None) -> bool:
    """``proc.stop()``; returns False (after killing new children) if it does not return."""
    thread = threading.Thread(target=proc.stop, name="lava-stop", daemon=True)
    thread.start()
    thread.join(max(float(timeout), 0.0))
    if not thread.is_alive():
        return True
    known = known_pids or set()
    kill_processes([p for p in multiprocessing.active_children() if p.pid not in known])
    _release_runtime(proc)
    return False


@contextmanager
def lava_session(proc, timeout: float = 30.0, poll: float = 0.25) -> Iterator[object]:
    """``with lava_session(net): net.run(...); net.v.get()`` then a guaranteed release.

    A worker that ends during the block raises :class:`LavaRunError` within about
    ``poll`` seconds (from the main thread's wait); any exception or Ctrl-C in the
    block kills the workers instead of asking them to stop; a clean block is stopped
    with ``stop()``, given ``timeout`` seconds.
    """
    global _IN_SESSION, _SESSION_PARENT, _STARTED

    socket_dir()
    before = {p.pid for p in multiprocessing.active_children()}
    watchdog = _Watchdog(before, poll)
    in_main = threading.current_thread() is threading.main_thread()

    interrupted: list[int] = []

    def _raise_for(signum) -> None:
        if interrupted:
            raise Terminated() if interrupted[0] == signal.SIGTERM else KeyboardInterrupt()
        raise _WorkerDied()

    session_pid = os.getpid()

    def _on_usr1(signum, frame):
        if os.getpid() != session_pid:  # a worker forked a moment ago: not ours to handle
            return
        if not watchdog.armed or (watchdog.message is None and not interrupted):
            return
        if _fragile(frame):
            watchdog.pending = True  # the watchdog re-sends it at its next poll
            return
        _raise_for(signum)

    def _on_stop_signal(signum, frame):
        # The first Ctrl-C / SIGTERM raises; more while tearing down are only counted.
        if os.getpid() != session_pid:  # a worker between fork and its after-fork hook
            return
        interrupted.append(signum)
        if len(interrupted) > 1:
            return
        if _fragile(frame) and watchdog.armed:
            watchdog.pending = True
            return
        _raise_for(signum)

    old_handlers = {}
    if in_main:
        old_handlers = {
            sig: signal.signal(sig, handler)
            for sig, handler in (
                (signal.SIGUSR1, _on_usr1),
                (signal.SIGINT, _on_stop_signal),
                (signal.SIGTERM, _on_stop_signal),
            )
        }

    def _restore() -> None:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    _STARTED = {}
    _IN_SESSION, _SESSION_PARENT = True, os.getpid()
    watchdog.start()
    # The workers are forked inside the block. Freezing the parent's objects first keeps
    # the workers' garbage collector off them, so it does not touch (and copy) every
    # inherited page: without it each worker grew to the parent's size, and a
    # cascade-form run forked from a large process (the test suite) exhausted memory.
    gc.collect()
    gc.freeze()
    try:
        try:
            yield proc
        finally:
            gc.unfreeze()
            watchdog.disarm()
            watchdog.collect()
            _IN_SESSION, _STARTED = False, None
    except BaseException as exc:
        watchdog.collect()
        kill_processes(
            list(watchdog.children.values())
            + [p for p in multiprocessing.active_children() if p.pid not in before]
        )
        _release_runtime(proc)
        _restore()
        if interrupted and not isinstance(exc, KeyboardInterrupt):
            raise (
                Terminated() if interrupted[0] == signal.SIGTERM else KeyboardInterrupt()
            ) from None
        if watchdog.message is not None and not isinstance(exc, KeyboardInterrupt):
            raise LavaRunError(watchdog.message + "; its other workers were stopped") from None
        raise
    try:
        if interrupted:  # a signal that arrived as the block ended: the results do not count
            kill_processes(list(watchdog.children.values()))
            _release_runtime(proc)
            raise Terminated() if interrupted[0] == signal.SIGTERM else KeyboardInterrupt()
        if watchdog.message is not None:  # died right as the block ended
            kill_processes(list(watchdog.children.values()))
            _release_runtime(proc)
            raise LavaRunError(watchdog.message + "; its other workers were stopped")
        t0 = time.monotonic()
        try:
            stopped = stop_with_timeout(proc, timeout, before)
        except BaseException:  # Ctrl-C while stopping
            kill_processes([p for p in multiprocessing.active_children() if p.pid not in before])
            _release_runtime(proc)
            raise
        if not stopped:
            raise LavaRunError(
                f"Lava's stop() did not return within {time.monotonic() - t0:.0f} s; its "
                "worker processes were killed"
            )
    finally:
        _restore()
