"""`ssl-audio bench WHAT`: speed benchmarks, each a ratio against a reference run in the same process.

A table of nested commands, like cli.py's: each benchmark module owns its flags (`add_arguments`) and its
`main(args)`. Results go to docs/benchmarks.md with the command and the machine.
"""

from __future__ import annotations

import importlib
import os

BENCHMARKS = {
    "augment": "ssl_audio.bench.augment",
    "step": "ssl_audio.bench.step",
    "conv": "ssl_audio.bench.conv",
    "decode": "ssl_audio.bench.decode",
    "embed": "ssl_audio.bench.embed",
    "listing": "ssl_audio.bench.listing",
    "memory": "ssl_audio.bench.memory",
    "input": "ssl_audio.bench.input",
}

DESCRIPTION = (
    "bench augment: the JAX augmentation chain against audiomentations. bench step: the full "
    "pretraining step and the augmentation's share of it. bench conv: that step with XLA's convolutions "
    "against patches + matmul. bench embed: `ssl-audio embed` against "
    "librosa descriptors (with --runner: on Beam against in-process). bench listing: the driver's memory "
    "for listing a catalogue. bench decode: one core's decode rate per format. bench memory: each "
    "job's peak memory on a long file against a short one. bench input: the pretraining loader's clips/s "
    "per host core. Each prints its figure "
    "last; `ssl-audio bench WHAT --help` for its flags."
)


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        q = sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION)
        module.add_arguments(q)
        q.set_defaults(bench=module.main, takes_overrides=getattr(module, "TAKES_OVERRIDES", False))


def run(args) -> int:
    if getattr(args, "devices", None) and args.devices > 1:
        # On a CPU-only machine, N simulated devices; read when the backend starts, so set before that.
        flag = f"--xla_force_host_platform_device_count={args.devices}"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()
    return args.bench(args)
