"""Ordered parallel map over processes with a progress bar (rate and ETA).

One helper for every long host-side job (synth, scan, prepare), so they share
worker start-up, ordering and progress behaviour.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def parallel_map(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int | None = None,
    desc: str = "",
    unit: str = "it",
    initializer: Callable | None = None,
    initargs: tuple = (),
    progress: bool = True,
) -> Iterator[R]:
    """Yields fn(item) for each item, in order, computed by `workers` processes.

    workers=1 runs in this process (no pickling, easy to debug). `fn` must be a
    module-level function so that it pickles.
    """
    workers = default_workers() if workers is None else max(1, int(workers))
    bar = tqdm(total=len(items), desc=desc, unit=unit, disable=not progress, dynamic_ncols=True)
    try:
        if workers == 1 or len(items) <= 1:
            if initializer is not None:
                initializer(*initargs)
            for item in items:
                yield fn(item)
                bar.update(1)
            return
        # 'spawn' keeps workers free of the parent's JAX/TF threads (fork after they start can deadlock).
        ctx = mp.get_context("spawn")
        chunksize = max(1, min(16, len(items) // (workers * 8) or 1))
        # An executor, not multiprocessing.Pool: when a worker dies (a crash in native code) the Pool waits
        # forever for its task, while the executor raises BrokenProcessPool.
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=initializer, initargs=initargs) as pool:
            try:
                for result in pool.map(fn, items, chunksize=chunksize):
                    yield result
                    bar.update(1)
            except BrokenProcessPool:
                raise RuntimeError(
                    f"{desc or 'parallel work'}: a worker process died (crashed in native code); "
                    f"rerun with --workers 1 to see where"
                ) from None
    finally:
        bar.close()
