"""`ssl-audio prepare`: its flags, turned into one call of ssl_audio.data.prepare."""

from __future__ import annotations

from ssl_audio.commands.flags import add_data_dir_argument, positive_float, positive_int
from ssl_audio.data.labels import ColumnMap
from ssl_audio.data.prepare import PrepareOptions, prepare

DESCRIPTION = (
    "Decode, resample and store a folder as a TFDS dataset that pretraining and probing read by "
    "name. Layouts: a folder with optional labels.csv, GTZAN (genres/<genre>/*.wav) or MagnaTagATune "
    "(annotations_final.csv). Splits come from a 'split' column, or are made by --group-by so no "
    "artist is in two splits. Bad files are skipped, printed and listed in bad_files.tsv. A dataset "
    "built from the same inputs is reused. With --runner, files are decoded by an Apache Beam "
    "pipeline (TFDS's Beam path: DirectRunner here, Dataflow, Flink or Spark on a cluster) into the "
    "same dataset."
)


def add_arguments(p) -> None:
    from ssl_audio.commands.flags import add_decode_arguments
    from ssl_audio.data.layouts import LAYOUTS

    d = PrepareOptions(name="", data_dir="")
    p.add_argument("--input", required=True, help="folder of audio")
    p.add_argument("--name", required=True, help="dataset name, e.g. my_music (lower-case, digits, '_')")
    add_data_dir_argument(p)
    p.add_argument("--layout", choices=LAYOUTS, default=d.layout, help=f"folder layout (default {d.layout}: detect)")
    p.add_argument(
        "--group-by", default=d.group_by, help=f"column whose values never share a split (default {d.group_by})"
    )
    p.add_argument(
        "--splits",
        default=None,
        help="train,validation,test fractions (default 0.8,0.1,0.1; all train when unlabelled); with a "
        "split column that has no validation split, validation is carved out of train by group",
    )
    p.add_argument(
        "--split-seed", type=int, default=d.split_seed, help=f"seed of the group assignment (default {d.split_seed})"
    )
    p.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="CSVNAME=COLUMN|KIND",
        help="read labels.csv column CSVNAME as our COLUMN (e.g. label=genre), or as a column of its "
        "own of KIND class, multilabel (';'-separated), value or group (e.g. style=class); "
        "repeatable",
    )
    p.add_argument(
        "--ignore-column",
        action="append",
        default=[],
        metavar="CSVNAME",
        help="leave labels.csv column CSVNAME out (e.g. seconds); repeatable",
    )
    add_decode_arguments(p)
    p.add_argument(
        "--segment-seconds",
        type=positive_float,
        default=d.segment_seconds,
        help="files longer than this are stored as equal segments of at most this length, each keeping its "
        f"file's key, labels and split (default {d.segment_seconds:g})",
    )
    p.add_argument("--workers", type=positive_int, default=None, help="processes to decode with (default: all cores)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="rebuild a dataset of this name made from other inputs, or stored by an earlier ssl_audio",
    )
    from ssl_audio.commands.flags import add_runner_arguments

    add_runner_arguments(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ssl_audio.commands.flags import decode_options
    from ssl_audio.data.splits import parse_fractions
    from ssl_audio.runtime import quiet_absl

    quiet_absl()
    opt = PrepareOptions(
        name=args.name,
        data_dir=args.data_dir,
        layout=args.layout,
        group_by=args.group_by,
        fractions=parse_fractions(args.splits) if args.splits else None,
        split_seed=args.split_seed,
        decode=decode_options(args),
        workers=args.workers,
        columns=ColumnMap.parse(args.column, args.ignore_column),
        runner=args.runner,
        beam_options=tuple(args.beam_option),
        dask_address=args.dask_address,
        dask_workers=args.dask_workers,
        progress=not args.quiet,
        segment_seconds=args.segment_seconds,
    )
    result = prepare(args.input, opt, overwrite=args.overwrite)
    for line in result.lines():
        print(line)
    return 0
