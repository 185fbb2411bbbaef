"""Stopping a long run from outside: SIGTERM behaves like Ctrl-C.

Inside :func:`sigterm_as_interrupt`, a SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``) in the main
thread. :func:`clipedit.optim.optimize` already turns Ctrl-C into "stop and keep the best parameters so far", so a
terminated run returns its best result, the caller saves it, and the process then exits 143 (128 + SIGTERM), as
schedulers and ``timeout`` expect.

>>> with sigterm_as_interrupt() as state:
...     pass
>>> state.terminated
False
"""
from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass
from typing import Iterator

#: Exit status of a process ended by SIGTERM.
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived; loops treat it like Ctrl-C (keep the best so far)."""


@dataclass
class TerminationState:
    terminated: bool = False


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[TerminationState]:
    """Turn SIGTERM into :class:`Terminated` while the block runs (main thread only; elsewhere a no-op)."""
    state = TerminationState()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum, frame):
        state.terminated = True
        raise Terminated()

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, old)
