"""`ssl-audio embed`: its flags, turned into one call of ssl_audio.embed.export."""

from __future__ import annotations

from ssl_audio.commands.flags import add_window_arguments, positive_int
from ssl_audio.embed.export import export

DESCRIPTION = (
    "Decode and resample every audio file under --input (or listed in it, one path per line), cut it "
    "into the model's windows, embed the windows in batches over every local device, and write per "
    "file a pooled scene embedding and, with --windows, the timestamped window embeddings. "
    "OUT/manifest.json records the checkpoint, settings and counts; bad files go to OUT/errors.tsv, "
    "files kept in spite of being short to OUT/notes.tsv. Rerunning the same command resumes: "
    "finished files are skipped and new ones appended. With --runner the same job runs as an Apache Beam "
    "pipeline (DirectRunner here; Dataflow, Flink or Spark on a cluster) with the same outputs."
)


def add_arguments(p) -> None:
    from ssl_audio.commands.flags import (
        add_checkpoint_argument,
        add_decode_arguments,
        add_layer_argument,
        add_runner_arguments,
    )
    from ssl_audio.embed.model import POOLINGS
    from ssl_audio.embed.store import FORMATS

    add_checkpoint_argument(p)
    p.add_argument(
        "--input",
        required=True,
        help="folder of audio (recursive), one audio file, or a text file with one path per line (a relative "
        "path in it is taken from the list file's folder, not the current one; '#' starts a comment)",
    )
    p.add_argument("--output", required=True, help="output folder (resumed when it holds this command's output)")
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="parquet",
        help="parquet: OUT/scene/ (and OUT/windows/) tables of parts; npz: one OUT/npz/<path>.npz per "
        "file (default parquet)",
    )
    add_window_arguments(p)
    add_layer_argument(p)
    p.add_argument(
        "--pooling",
        choices=POOLINGS,
        default="mean",
        help="window embeddings -> one per file (default mean); none writes window embeddings only",
    )
    p.add_argument("--windows", action="store_true", help="also write every window's embedding with its times")
    p.add_argument(
        "--batch-size", type=positive_int, default=64, help="windows per device batch, over all devices (default 64)"
    )
    add_decode_arguments(p, sample_rate=False, keep_short=True)
    p.add_argument("--workers", type=positive_int, default=2, help="decoding threads (default 2; without --runner)")
    p.add_argument("--retry-errors", action="store_true", help="retry files listed in OUT/errors.tsv by an earlier run")
    p.add_argument("--overwrite", action="store_true", help="replace an output made with other settings (start over)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_runner_arguments(p)


def run(args) -> int:
    from ssl_audio.commands.flags import decode_options
    from ssl_audio.embed.model import load_model
    from ssl_audio.errors import BadValueError

    if not args.runner and (args.dask_address or args.dask_workers):  # else ignored: the job would run here
        raise BadValueError("--dask-address and --dask-workers go with --runner dask")

    model = load_model(
        args.checkpoint,
        window_seconds=args.window_seconds,
        hop_seconds=args.hop_seconds,
        pooling=args.pooling,
        batch_size=args.batch_size,
        layer=args.layer,
    )
    options = decode_options(args, sample_rate=model.sample_rate, keep_short=True)
    common = dict(
        fmt=args.format, windows=args.windows, overwrite=args.overwrite, retry_errors=args.retry_errors, decode=options
    )
    if args.runner:  # the same job on Beam (ssl_audio/beam/embed.py): the same output folder
        from ssl_audio.beam.embed import export_beam

        result = export_beam(
            model, args.input, args.output, checkpoint=args.checkpoint, runner=args.runner,
            beam_options=args.beam_option, dask_address=args.dask_address, dask_workers=args.dask_workers, **common,
        )  # fmt: skip
    else:
        result = export(model, args.input, args.output, workers=args.workers, progress=not args.quiet, **common)
    for line in result.lines():
        print(line)
    return 0
