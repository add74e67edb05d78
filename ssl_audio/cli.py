"""`ssl-audio`: one command, one subcommand per job; this file is only the table of them.

Each command is a module of ssl_audio/commands/ (benchmarks: ssl_audio/bench/) with its flags
(`add_arguments(parser)`), `DESCRIPTION`, and `run(args)`, which turns the flags into one call of a job.
Only the module of the command being run is imported, so `ssl-audio --help` and a typo are instant.
A `UsageError` (ssl_audio/errors.py) is printed as one line, exit 2; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

# Quiet TensorFlow's C++ start-up chatter before anything imports it. TF only serves TFDS here (writing and
# reading dataset files), so oneDNN's kernels, whose banner is the noisiest line, buy us nothing.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# command -> (module, one-line help): the order is the order of a project, data to embeddings.
COMMANDS = {
    "synth": "render the embedded labelled music dataset (offline, from MIDI)",
    "scan": "report a folder's audio and its bad files before training on it",
    "prepare": "build a TFDS dataset (array_record) from a folder of audio",
    "info": "describe a prepared dataset: splits, labels, artists",
    "augment-preview": "write augmented views of a file as WAV and a spectrogram PNG",
    "config": "print a pretraining config's keys and values, as --config.KEY=VALUE lines",
    "pretrain": "contrastive pretraining (SimCLR, NT-Xent over the global batch)",
    "probe": "linear / MLP probes of a checkpoint on a dataset's labels, beside baselines",
    "embed": "embed a folder (or list) of audio files into Parquet or NPZ files",
    "export-savedmodel": "write the encoder as a TensorFlow SavedModel",
    "bench": "speed benchmarks, as ratios against a reference run in the same process",
}


def command_module(name: str) -> str:
    """`export-savedmodel` -> ssl_audio.commands.export_savedmodel; `bench` -> ssl_audio.bench (its own table)."""
    return "ssl_audio.bench" if name == "bench" else "ssl_audio.commands." + name.replace("-", "_")


def build_parser(command: str | None = None, *, every_command: bool = False) -> argparse.ArgumentParser:
    """The parser; the flags of `command` (or of every command) are added, the others only listed."""
    from ssl_audio import __version__

    parser = argparse.ArgumentParser(
        prog="ssl-audio",
        description="Self-supervised audio representations for music: make or prepare data, pretrain, "
        "probe, export embeddings.",
        epilog="Run `ssl-audio COMMAND --help` for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"ssl-audio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if every_command or name == command:
            job = importlib.import_module(command_module(name))
            p.description, p.epilog = job.DESCRIPTION, getattr(job, "EPILOG", None)
            job.add_arguments(p)
            p.set_defaults(run=job.run, takes_overrides=getattr(job, "TAKES_OVERRIDES", False))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args, extra = parser.parse_known_args(argv)
    # --config.KEY=VALUE overrides are the config's business (pretrain/config.py checks every key).
    if extra and not getattr(args, "takes_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    from ssl_audio.errors import StoppedBySignal, UsageError

    try:
        code = args.run(args)
        sys.stdout.flush()  # here, where a closed pipe is caught below, not at exit
        return code
    except UsageError as err:
        if os.environ.get("SSL_AUDIO_DEBUG"):
            raise
        print(f"ssl-audio {args.command}: error: {err}", file=sys.stderr)
        return 2
    except StoppedBySignal as stop:
        import signal

        print(f"ssl-audio {args.command}: {stop}; rerun the same command to resume", file=sys.stderr)
        return 128 + signal.Signals[stop.signal_name].value
    except KeyboardInterrupt:
        print(f"ssl-audio {args.command}: interrupted; rerun the same command to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `ssl-audio embed ... | head -1`: the reader left, which is not an error. Python would print a
        # traceback (and another when it flushes stdout at exit), so stdout goes to /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command ended by a closed pipe
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS) or os.environ.get("SSL_AUDIO_DEBUG"):
            raise  # anything else from the system is a bug until shown otherwise: it keeps its traceback
        # A read-only output folder or an unreadable input: the user's to fix, named in one line.
        where = os.fsdecode(err.filename) if err.filename is not None else "a file"
        print(
            f"ssl-audio {args.command}: error: {where}: {err.strerror.lower()}; choose a folder you can write "
            "(or a file you can read), or change its permissions",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
