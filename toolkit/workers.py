"""Worker-process helpers."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Make this (worker) process receive SIGKILL when its parent dies (Linux).

    Without it, pool workers of a SIGKILLed job live on, keep writing shards and
    could race a ``--resume`` that no longer sees the dead job's lock.

    Example:
        >>> pool = multiprocessing.get_context("spawn").Pool(2, initializer=die_with_parent)  # doctest: +SKIP
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
