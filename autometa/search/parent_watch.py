"""Stopping a search from outside: SIGTERM acts like Ctrl-C, and a worker process ends with its parent.

When the parent of local workers was killed (kill -9, an out-of-memory kill, a
closed terminal), its workers trained on as orphans, and the next run failed
their live trials. Each worker asks Linux to send it SIGTERM when its parent
dies (``prctl(PR_SET_PDEATHSIG)``) and, on every platform, polls its parent's
pid once a second. SIGTERM (also a cluster scheduler's stop) is raised as
KeyboardInterrupt, so the running trial is recorded as cut off and retried.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from types import FrameType

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_SECONDS = 1.0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the death signal and the poll may both send one
    raise KeyboardInterrupt(f"signal {signum}")


def interrupt_on_sigterm() -> None:
    """Make SIGTERM end this process's search like Ctrl-C (the running trial is cut off and re-queued)."""
    signal.signal(signal.SIGTERM, _interrupt)


def stop_with_parent(parent_pid: int) -> None:
    """Turn SIGTERM into KeyboardInterrupt and send it to this process when ``parent_pid`` dies."""
    interrupt_on_sigterm()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the poll below still notices
    threading.Thread(target=_watch, args=(parent_pid,), name="parent-watch", daemon=True).start()


def _watch(parent_pid: int) -> None:
    """Poll the parent (also catching a death before ``prctl`` was set, when the pid is re-parented)."""
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
