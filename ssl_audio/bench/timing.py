"""How every `ssl-audio bench` times what it compares: warm-up first, then the compared things take turns
for a few rounds and each keeps its fastest round (one definition, for steps, ops and CPU libraries)."""

from __future__ import annotations

import time

from ssl_audio.errors import BadValueError


def timed(fn, repeats: int) -> float:
    """Seconds per call of `fn` over `repeats` calls, after one warm-up call (compilation excluded). What fn
    returns is waited for (jax arrays are dispatched asynchronously)."""
    import jax

    jax.block_until_ready(fn())
    begin = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    jax.block_until_ready(out)
    return (time.perf_counter() - begin) / repeats


def fastest(runs: dict[str, dict], repeats: int, rounds: int) -> dict[str, float]:
    """Seconds per call of each `runs[name]["run"]`: they take turns, `rounds` times, and each keeps its
    fastest round. A 2-core host's other work slows whichever runs at that moment; taking turns and the
    minimum keeps a burst from landing on one side of a ratio (3 repeats of one step, then 3 of the other,
    once read a 110-ms augmentation cost as 0)."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best[name], timed(run["run"], repeats))
    return best


def add_timing_arguments(p, calls: str = "timed steps", turns: str = "the compared steps") -> None:
    """--repeats and --rounds, as every `bench` command that compares things takes them; `calls` and
    `turns` name, in the help, what is repeated and what takes turns."""
    p.add_argument("--repeats", type=int, default=3, help=f"{calls} per round, after warm-up (default 3)")
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help=f"rounds in which {turns} take turns; each keeps its fastest (default 3)",
    )


def check_timing_arguments(args) -> None:
    for flag, value in (("--repeats", args.repeats), ("--rounds", args.rounds)):
        if value < 1:
            raise BadValueError(f"{flag} {value}: give a whole number of at least 1")
