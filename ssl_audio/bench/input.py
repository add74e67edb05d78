"""`ssl-audio bench input`: how many clips a second the pretraining loader delivers, and how many host
cores would feed a given step rate.

The loader is the one `ssl-audio pretrain` builds (grain over the prepared array_record dataset: shuffled
records, two random crops per clip, int16 to float32, batching, this process's shard), for the config's
batch and crop, with 0, 1, ... N worker processes. Where a clip's time goes is measured on the same records
one stage at a time, in this process: the record read (array_record and the example's parsing), the crops
with their conversion to float, and the batching.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from ssl_audio.augment.views import crop_samples
from ssl_audio.errors import BadValueError

# The step rate to feed by default: the full logmel_cnn step in bfloat16 at batch 256 on one H200
# (docs/benchmarks.md, step).
H200_BF16_CLIPS_PER_S = 7411.0


def cpu_seconds() -> float:
    """CPU seconds used so far by this process (all its threads) and its live children (grain's workers),
    from /proc; the clips a CPU-second is what one host core delivers."""
    total = sum(os.times()[:2])
    ticks = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").glob("*/children"):
        for pid in task.read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # the child ended meanwhile
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def loader_rate(handle, config, workers: int, batches: int) -> tuple[float, float]:
    """Clips/s of the pretraining loader with `workers` processes, and clips per CPU-second (its threads and
    workers together), over `batches` batches after the first (whose time is start-up and the first reads)."""
    from ssl_audio_pretrain.train import config_loader

    loader = config_loader(config, handle, worker_count=workers, shard_index=0, shard_count=1)
    it = iter(loader)
    next(it)
    began, cpu = time.perf_counter(), cpu_seconds()
    for _ in range(batches):
        next(it)
    seconds, cpu = time.perf_counter() - began, cpu_seconds() - cpu
    del it
    clips = batches * config.batch_size
    return clips / seconds, clips / max(cpu, 1e-9)


def stages(handle, config, clips: int) -> dict[str, float]:
    """Milliseconds per clip of each stage, on `clips` records read in a shuffled order: the record read
    (array_record and the example's parsing), the two crops, the batch (grain's Batch stacks them) and its
    conversion to float32, made together."""
    from ssl_audio.data.pipeline import TwoCrops, stack_as_float

    source = handle.source(config.split)
    order = np.random.default_rng(0).permutation(len(source))[:clips]
    crops, rng, times = TwoCrops(crop_samples(config)), np.random.default_rng(0), {}

    def stage(name, fn):
        began = time.perf_counter()
        out = fn()
        times[name] = 1e3 * (time.perf_counter() - began) / clips
        return out

    records = stage("read", lambda: [source[int(i)] for i in order])
    pairs = stage("crop", lambda: [crops.random_map(r, rng) for r in records])
    size = min(config.batch_size, clips)  # the loader's batches in this process, each one float32 array
    stage("batch", lambda: [stack_as_float(pairs[i : i + size]) for i in range(0, clips - size + 1, size)])
    return times


def run(spec: str, overrides: list[str], *, workers: list[int], demand: float, batches: int) -> dict:
    from ssl_audio.data.pipeline import open_dataset
    from ssl_audio_pretrain.config import load_config

    config = load_config(spec, overrides)
    handle = open_dataset(
        config.dataset, config.data_dir, sample_rate=config.sample_rate, data_dir_flag="--config.data_dir"
    )
    measured = {n: loader_rate(handle, config, n, batches) for n in workers}
    rates = {n: rate for n, (rate, _) in measured.items()}
    per_core = {n: per_cpu for n, (_, per_cpu) in measured.items()}
    best = max(per_core, key=per_core.get)
    return {
        "config": spec,
        "dataset": config.dataset,
        "batch_size": config.batch_size,
        "crop_samples": crop_samples(config),
        "sample_rate": config.sample_rate,
        "rates": rates,
        "per_core_by_workers": per_core,
        "per_core": per_core[best],
        "best_workers": best,
        "clips_per_s": max(rates.values()),
        "demand": demand,
        "cores_for_demand": math.ceil(demand / per_core[best]),
        "stages": stages(handle, config, min(256, len(handle.source(config.split)))),
        "host_cores": os.cpu_count(),
    }


def report(r: dict) -> list[str]:
    s = r["stages"]
    total = sum(s.values())
    return [
        f"bench input: the pretraining loader of {r['config']} on {r['dataset']}: batches of {r['batch_size']} "
        f"clips, two crops of {r['crop_samples']} samples ({r['crop_samples'] / r['sample_rate']:.2f} s) each; "
        f"{r['host_cores']} host cores",
        *(
            f"  {n} worker process(es): {rate:.0f} clips/s, {r['per_core_by_workers'][n]:.0f} per CPU-second"
            + (" (read in the training process, by grain's threads)" if n == 0 else "")
            for n, rate in r["rates"].items()
        ),
        f"  a clip's time, in this process: read {s['read']:.3f} ms, crops {s['crop']:.3f} ms, batch as float32 "
        f"{s['batch']:.3f} ms ({total:.3f} ms: {1e3 / total:.0f} clips/s on one core without grain)",
        f"  {r['demand']:.0f} clips/s would take {r['cores_for_demand']} host core(s) at "
        f"{r['per_core']:.0f} clips/s each ({r['best_workers']} worker(s))",
        f"input clips_per_s={r['clips_per_s']:.1f} per_core={r['per_core']:.1f} "
        f"cores_for_demand={r['cores_for_demand']}",
    ]


# ------------------------------------------------------------------------------------------ the command

HELP = "the pretraining loader alone: clips/s per host core, and the cores a step rate needs"
DESCRIPTION = (
    "The pretraining loader of a config (grain over its prepared dataset: two crops per clip, batching, "
    "this process's shard) with 0..N worker processes; where a clip's time goes; and the host cores that "
    "would feed --demand clips/s. Prints last `input clips_per_s=... per_core=... cores_for_demand=...`."
)
TAKES_OVERRIDES = True


def add_arguments(p) -> None:
    from ssl_audio.commands.flags import positive_int

    p.add_argument(
        "--config",
        required=True,
        help="pretraining config whose batch and crops to read, e.g. configs/simclr_logmel_cnn.py:demo; its "
        "dataset with --config.dataset=NAME --config.data_dir=DIR",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="time 0, 1, ... N worker processes (default: 0 .. the host's cores)",
    )
    p.add_argument(
        "--demand",
        type=float,
        default=H200_BF16_CLIPS_PER_S,
        help=f"clips/s to feed, for the cores it would take (default {H200_BF16_CLIPS_PER_S:g}: one H200's "
        "bfloat16 step of the full config)",
    )
    p.add_argument("--batches", type=positive_int, default=20, help="batches timed per setting (default 20)")


def main(args) -> int:
    from ssl_audio.runtime import quiet_absl

    quiet_absl()
    top = (os.cpu_count() or 1) if args.workers is None else args.workers
    if top < 0:
        raise BadValueError(f"--workers {top}: give 0 or more")
    if args.demand <= 0:
        raise BadValueError(f"--demand {args.demand}: give a positive number of clips per second")
    result = run(args.config, args.overrides, workers=list(range(top + 1)), demand=args.demand, batches=args.batches)
    for line in report(result):
        print(line, flush=True)
    return 0
