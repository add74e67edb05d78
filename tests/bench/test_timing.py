"""ssl_audio/timing.py: how every benchmark times what it compares."""

import time

import pytest

from ssl_audio.bench.timing import check_timing_arguments, fastest
from ssl_audio.errors import BadValueError


def test_bench_steps_take_turns_and_keep_their_fastest_round():
    calls = []

    def step(name, seconds_by_round):
        def run():
            calls.append(name)
            time.sleep(seconds_by_round[(sum(c == name for c in calls) - 1) // 3])  # 3 calls a round

        return {"run": run}

    # "bursty" is slowed in its first round only (as by another process); "steady" never.
    best = fastest({"bursty": step("bursty", [0.06, 0.01, 0.01]), "steady": step("steady", [0.02] * 3)}, 2, 3)
    assert calls == (["bursty"] * 3 + ["steady"] * 3) * 3  # warm-up + 2 timed, in turns
    assert best["bursty"] < 0.02 < best["steady"] < 0.04


@pytest.mark.parametrize("flag", ["repeats", "rounds"])
def test_timing_flags_below_one_are_refused_naming_the_flag(flag):
    import argparse

    args = argparse.Namespace(repeats=3, rounds=3)
    setattr(args, flag, 0)
    with pytest.raises(BadValueError, match=f"--{flag} 0"):
        check_timing_arguments(args)
