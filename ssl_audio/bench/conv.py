"""`ssl-audio bench conv`: the pretraining step with XLA's convolutions against patches (models/conv.py).

The same config, batch and devices, compiled and timed twice in one process: once with every encoder
convolution as XLA's `conv_general_dilated`, once as patches times a matrix. The last line says which
"auto" picks on this backend and the ratio, which is what justifies that pick.
"""

from __future__ import annotations

import jax
import numpy as np

from ssl_audio.bench.timing import add_timing_arguments, check_timing_arguments, fastest
from ssl_audio.models import conv

HELP = "the pretraining step with XLA's convolutions against patches + matmul"
DESCRIPTION = (
    "Times a config's full pretraining step twice in one process, with XLA's convolutions and with "
    "patches + one matrix product (ssl_audio/models/conv.py); prints, last, "
    "`conv xla_step_ms=... patches_step_ms=... ratio=... auto_2d=... auto_1d=...` (ratio = xla / patches; "
    "auto_*: what 'auto' picks here for 2-D and 1-D convolutions)."
)
TAKES_OVERRIDES = True


def add_arguments(p) -> None:
    p.add_argument(
        "--config",
        required=True,
        help="pretraining config, e.g. configs/simclr_logmel_cnn.py:demo (--config.KEY=VALUE overrides allowed)",
    )
    p.add_argument("--batch", type=int, default=None, help="clips per step (default: the config's batch_size)")
    add_timing_arguments(p)


def run(spec: str, overrides: list[str], *, repeats: int, rounds: int = 3) -> dict:
    from ssl_audio.bench.step import compile_step, synthetic_batch
    from ssl_audio.distributed import check_batch_divides, global_batch, make_mesh
    from ssl_audio_pretrain.config import load_config

    config = load_config(spec, overrides)
    mesh = make_mesh(jax.devices())
    check_batch_divides(config.batch_size, mesh)
    batch = global_batch(synthetic_batch(config, np.random.default_rng(0)), mesh)
    steps = {}
    for name in ("xla", "patches"):
        with conv.use(name):  # the choice is made while tracing: each step is compiled inside its own
            steps[name] = compile_step(config, mesh, batch)
    times = fastest(steps, repeats, rounds)  # in turns, the fastest round each (ssl_audio/timing.py)
    return {
        "config": spec,
        "device": jax.devices()[0].device_kind,
        "devices": len(jax.devices()),
        "batch_size": config.batch_size,
        "xla_s": times["xla"],
        "patches_s": times["patches"],
        "auto_2d": conv.chosen(2),
        "auto_1d": conv.chosen(1),
    }


def report(r: dict) -> list[str]:
    ratio = r["xla_s"] / r["patches_s"]
    return [
        f"bench conv: {r['config']} on {r['devices']} x {r['device']}, global batch {r['batch_size']}",
        f"  step with XLA's convolutions {r['xla_s'] * 1e3:.1f} ms; "
        f"with patches + matmul {r['patches_s'] * 1e3:.1f} ms",
        f"conv xla_step_ms={r['xla_s'] * 1e3:.1f} patches_step_ms={r['patches_s'] * 1e3:.1f} ratio={ratio:.2f} "
        f"auto_2d={r['auto_2d']} auto_1d={r['auto_1d']}",
    ]


def main(args) -> int:
    check_timing_arguments(args)
    overrides = list(args.overrides) + ([f"--config.batch_size={args.batch}"] if args.batch else [])
    for line in report(run(args.config, overrides, repeats=args.repeats, rounds=args.rounds)):
        print(line, flush=True)
    return 0
