"""Ctrl-C that no library can swallow.

soundfile reads a file object through Python callbacks run by cffi, and cffi prints an exception raised
inside a callback and drops it: a KeyboardInterrupt that lands there becomes a short read, the file looks
truncated, and a job that records bad files would record it and run on. Inside `watched()`, SIGINT first
sets a flag and then raises KeyboardInterrupt as usual; `check()` raises it again wherever a job is about to
record a result (a bad file, a finished file), so an interrupt is never taken for a file's failure.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_received = threading.Event()


@contextlib.contextmanager
def watched():
    """SIGINT sets the flag, then raises KeyboardInterrupt (main thread only: elsewhere Python allows no
    handler, and the block runs unwatched)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        _received.set()
        raise KeyboardInterrupt

    _received.clear()
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _received.clear()


def check() -> None:
    """KeyboardInterrupt if SIGINT came while watched, even where the first one was swallowed."""
    if _received.is_set():
        raise KeyboardInterrupt
