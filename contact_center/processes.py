"""Processes that stop when told, and never outlive the one that started them (issue 21; decision 0023).

- :func:`die_with_parent`: Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``): the kernel sends the
  signal to this process when its parent dies, however it dies (``kill -9`` included). ``manage.py serve``
  sets it in each child it starts; a uvicorn worker process sets it against uvicorn's supervisor
  (``contact_center.asgi``); Celery's prefork pool already sets it (SIGKILL) in its pool processes.
- :class:`Guardian`: the hard bound. A SIGTERM from the parent-death signal starts a graceful stop, and a
  graceful stop may hang (a Celery worker waits for its running tasks). The guardian is a small process
  forked by ``serve`` that waits on a pipe only ``serve`` holds: when ``serve`` is gone (the pipe reads end of
  file without a goodbye), it sends SIGTERM to every child's process group, then SIGKILL after the grace
  period, so grandchildren (uvicorn's workers, Celery's pool) go too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import signal
import time
from collections.abc import Iterable
from contextlib import suppress

PR_SET_PDEATHSIG = 1
GOODBYE = b"bye"


def die_with_parent(signum: int = signal.SIGTERM, *, parent_pid: int | None = None) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent dies; ``False`` where there is no ``prctl``.

    ``parent_pid``: the parent expected; if it is already gone (it died before the call), the signal is sent at
    once, as the kernel would have. Safe in a ``preexec_fn`` (no allocation beyond ctypes' call).
    """
    libc = _libc()
    if libc is None or libc.prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signum), 0, 0, 0) != 0:
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), signum)
    return True


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, loaded once: a parent calls this before forking, so a ``preexec_fn`` only makes the call."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl  # noqa: B018 -- raises AttributeError where there is none
    except (OSError, AttributeError):  # not Linux
        return None
    return libc


def prepare() -> None:
    """Load what :func:`die_with_parent` needs, before forking children that call it."""
    _libc()


def stop_groups(groups: Iterable[int], *, grace: float, alive=None) -> None:
    """SIGTERM to each process group, then SIGKILL to those still there after ``grace`` seconds.

    ``alive(group)`` says whether a group still has a process (default: signal 0 to the group).
    """
    groups = list(groups)
    is_alive = alive or _group_alive
    for group in groups:
        _signal_group(group, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(is_alive(group) for group in groups) and time.monotonic() < deadline:
        time.sleep(0.1)
    for group in groups:
        _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signum)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Guardian:
    """A forked watcher that stops ``groups`` if this process dies without saying goodbye (see the module doc).

    Fork it after the children are started (their process groups are known) and while this process has no other
    thread; call :meth:`dismiss` once they are stopped.
    """

    def __init__(self, groups: Iterable[int], *, grace: float) -> None:
        self.groups = list(groups)
        read_end, self._write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:  # the guardian
            os.close(self._write_end)
            self._watch(read_end, grace)
        os.close(read_end)

    def _watch(self, read_end: int, grace: float) -> None:
        # Its own session: a Ctrl-C in serve's terminal, or a signal to serve's group, does not reach it.
        os.setsid()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        received = b""
        try:
            while chunk := os.read(read_end, 16):
                received += chunk
        except OSError:
            pass
        if GOODBYE not in received:
            stop_groups(self.groups, grace=grace)
        # Leave at once: no atexit handler or database connection inherited from the parent may run here.
        os._exit(0)

    def dismiss(self) -> None:
        """The children are stopped: the guardian leaves without touching anything."""
        with suppress(OSError):
            os.write(self._write_end, GOODBYE)
        with suppress(OSError):
            os.close(self._write_end)
        with suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
