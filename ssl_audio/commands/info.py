"""`ssl-audio info`: its flags, turned into one call of ssl_audio.data.summary."""

from __future__ import annotations

from ssl_audio.data.summary import describe

DESCRIPTION = (
    "Print a prepared dataset's splits, label vocabularies and counts, artists per split (and "
    "whether any is shared), and read one pretraining batch."
)


def add_arguments(p) -> None:
    from ssl_audio.commands.flags import add_data_dir_argument

    p.add_argument("--dataset", required=True, help="dataset name given to `ssl-audio prepare`")
    add_data_dir_argument(p)
    p.add_argument(
        "--crop-seconds",
        type=float,
        default=1.0,
        help="crop length of the pretraining batch it reads (default 1; give your config's "
        "crop_seconds to see the pairs pretraining will see)",
    )
    p.add_argument(
        "--plot", default=None, help="also write a PNG of label counts per split to this path (default: none)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --plot file")


def run(args) -> int:
    from ssl_audio.errors import refuse_existing
    from ssl_audio.runtime import quiet_absl

    quiet_absl()
    if args.plot and not args.overwrite:
        refuse_existing(args.plot, "--plot")
    for line in describe(args.dataset, args.data_dir, plot=args.plot, crop_seconds=args.crop_seconds):
        print(line)
    return 0
