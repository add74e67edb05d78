"""Flags shared by several commands, and the types that refuse a bad value in one line naming the flag.

`--batch-size 0` or `--hop-seconds 0` is refused by argparse instead of meaning "the default" or failing later.
"""

from __future__ import annotations

import argparse
import math
import os

from ssl_audio.audio.decode import DecodeOptions
from ssl_audio.beam.runner import RUNNERS
from ssl_audio.data.location import default_data_dir


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def add_decode_arguments(parser, *, sample_rate: bool = True, keep_short: bool = False) -> None:
    """The flags of every command that decodes files: the names DecodeError's hints refer to."""
    d = DecodeOptions()
    if sample_rate:
        parser.add_argument(
            "--sample-rate", type=int, default=d.sample_rate, help=f"target sample rate in Hz (default {d.sample_rate})"
        )
    what = (
        "are kept, embedded as one zero-padded window, and listed in OUT/notes.tsv"
        if keep_short
        else "are skipped as bad"
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=d.min_seconds,
        help=f"files shorter than this {what} (default {d.min_seconds:g})",
    )
    parser.add_argument(
        "--silence-dbfs",
        type=float,
        default=d.silence_dbfs,
        help=f"files whose peak is below this level are skipped as silent (default {d.silence_dbfs:g})",
    )


def decode_options(args, *, sample_rate: int | None = None, keep_short: bool = False) -> DecodeOptions:
    """DecodeOptions from the flags `add_decode_arguments` added (sample_rate: a model's, when it has none)."""
    rate = sample_rate if sample_rate is not None else args.sample_rate
    return DecodeOptions(
        sample_rate=rate, min_seconds=args.min_seconds, silence_dbfs=args.silence_dbfs, keep_short=keep_short
    )


def add_data_dir_argument(parser) -> None:
    parser.add_argument(
        "--data-dir",
        default=default_data_dir(),
        help=f"where TFDS datasets live (default $TFDS_DATA_DIR or ~/tensorflow_datasets, here {default_data_dir()})",
    )


def add_checkpoint_argument(parser, required: bool = True, only: str = "") -> None:
    """--checkpoint, as every command that reads a pretrained encoder takes it."""
    parser.add_argument(
        "--checkpoint",
        required=required,
        default=None,
        help=f"{only}a pretraining workdir (its latest checkpoint) or WORKDIR/checkpoints/STEP",
    )


def add_runner_arguments(p) -> None:
    """--runner and --beam-option, as prepare and embed take them."""
    p.add_argument(
        "--runner",
        choices=tuple(RUNNERS),
        default=None,
        help="run as an Apache Beam pipeline on this runner (needs the beam extra: pip install 'ssl_audio[beam]'); "
        "default: in this process",
    )
    p.add_argument(
        "--beam-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Beam pipeline option for --runner, e.g. direct_num_workers=4, project=P, region=R, "
        "flink_master=HOST:PORT; repeatable",
    )
    p.add_argument(
        "--dask-address",
        default=None,
        metavar="HOST:PORT",
        help="--runner dask: the scheduler of a running Dask cluster (e.g. one started by dask-jobqueue); "
        "default: a local cluster started and closed by the job",
    )
    p.add_argument(
        "--dask-workers",
        type=positive_int,
        default=None,
        help="--runner dask without --dask-address: worker processes of the local cluster (default: half the cores)",
    )
    p.add_argument(
        "--verbose",
        action=_Verbose,
        nargs=0,
        help="with --runner: show the engine's own logs (Beam's and Dask's start-up, workers, shutdown); "
        "default: only errors",
    )


class _Verbose(argparse.Action):
    """--verbose: engine logs shown, in this process and in every worker it starts (they inherit the setting
    through the environment: ssl_audio.runtime.engine_logs)."""

    def __call__(self, parser, namespace, values, option_string=None):
        os.environ["SSL_AUDIO_VERBOSE"] = "1"
        setattr(namespace, self.dest, True)


def add_layer_argument(p, *, all_layers: bool = False) -> None:
    """--layer: what is read out of the encoder in place of the run's own read-out (config.model.readout)."""
    p.add_argument(
        "--layer",
        "--readout",
        dest="layer",
        default=None,
        metavar="NAME",
        help="read out this layer: embedding (the encoder's output), blocks (every block, concatenated) or one "
        "block by name (block1, block2, ...: `ssl-audio config` shows the encoder's depth), its frames pooled "
        "over time by the mean, or as block3:max, block3:mean+max say (the CNN's block3:frequency keeps the "
        "frequency axis)"
        + ("; all: score every layer on validation and test the best" if all_layers else "")
        + "; default: the run's config.model.readout",
    )


def add_window_arguments(p) -> None:
    """--window-seconds and --hop-seconds, as embed and export-savedmodel take them."""
    p.add_argument(
        "--window-seconds",
        type=positive_float,
        default=None,
        help="window length (default: the model's training crop; CNN encoders accept others)",
    )
    p.add_argument("--hop-seconds", type=positive_float, default=None, help="hop between windows (default: the window)")
