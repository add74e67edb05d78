"""parallel_map: order kept, and a worker that crashes is an error, not a hang."""

from __future__ import annotations

import os
import signal

import pytest

from ssl_audio.parallel import parallel_map


def square(x: int) -> int:
    return x * x


def crash_on_three(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGSEGV)  # what a crash in native code (numba, a codec) looks like
    return x


def test_results_come_back_in_order():
    assert list(parallel_map(square, list(range(20)), workers=2, progress=False)) == [x * x for x in range(20)]


def test_a_crashed_worker_is_an_error_naming_the_job():
    with pytest.raises(RuntimeError, match="mfcc test: a worker process died"):
        list(parallel_map(crash_on_three, list(range(8)), workers=2, desc="mfcc test", progress=False))
