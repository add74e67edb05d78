"""`ssl-audio config`: its flags, turned into one call of ssl_audio_pretrain.config."""

from __future__ import annotations

from ssl_audio_pretrain.config import config_lines, load_config

DESCRIPTION = (
    "Load a pretraining config file (FILE.py[:demo|:tiny] or a run's WORKDIR/config.json), apply "
    "--config.KEY=VALUE overrides, check it, and print every key it has: each line is an override "
    "`ssl-audio pretrain` accepts."
)
EPILOG = (
    "example: ssl-audio config configs/simclr_logmel_cnn.py:demo --config.batch_size=64 "
    "(the same as ssl-audio pretrain --config ... --print-config)"
)
TAKES_OVERRIDES = True


def add_arguments(p) -> None:
    p.add_argument("config", help="config file, e.g. configs/simclr_logmel_cnn.py:demo")


def run(args) -> int:
    for line in config_lines(load_config(args.config, args.overrides)):
        print(line)
    return 0
