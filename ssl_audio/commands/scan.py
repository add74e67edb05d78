"""`ssl-audio scan`: its flags, turned into one call of ssl_audio.audio.scan."""

from __future__ import annotations

from ssl_audio.audio.scan import scan_folder, write_json
from ssl_audio.commands.flags import positive_int

DESCRIPTION = (
    "Decode every audio file under a folder and report count, hours, sample rates, channels, "
    "formats and each bad file (corrupt, empty, NaN/inf, too short, silent) with its reason. "
    "Nothing is written unless --json is given."
)


def add_arguments(p) -> None:
    from ssl_audio.commands.flags import add_decode_arguments

    p.add_argument("input", help="folder of audio (searched recursively)")
    add_decode_arguments(p)
    p.add_argument("--json", help="also write the full report to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any file is bad")
    p.add_argument("--workers", type=positive_int, default=None, help="processes to decode with (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ssl_audio.commands.flags import decode_options
    from ssl_audio.errors import refuse_existing

    options = decode_options(args)
    if args.json and not args.overwrite:  # refused before the folder is read, not after
        refuse_existing(args.json, "--json")
    summary = scan_folder(args.input, options, workers=args.workers, progress=not args.quiet)
    for line in summary.lines(options.sample_rate):
        print(line)
    if args.json:
        write_json(summary, args.json)
        print(f"  report written to {args.json}")
    return 1 if (args.strict and summary.bad) else 0
