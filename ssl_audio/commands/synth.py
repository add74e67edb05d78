"""`ssl-audio synth`: its flags, turned into one call of ssl_audio.synth.generate."""

from __future__ import annotations

from ssl_audio.commands.flags import positive_int
from ssl_audio.synth.generate import FORMATS, SynthOptions, synth_dataset

DESCRIPTION = (
    "Render multi-instrument music from MIDI with the General MIDI soundfont that ships with "
    "pretty_midi: 10 genres, 4 moods, instrument families, artists. Writes OUT/clips/*.wav and "
    "OUT/labels.csv. Rerunning with the same settings resumes; the same --seed always gives the "
    "same audio."
)


def add_arguments(p) -> None:
    d = SynthOptions(clips=1)
    p.add_argument("--out", required=True, help="output folder (created; refused if it holds other files)")
    p.add_argument("--clips", type=positive_int, required=True, help="number of clips to render")
    p.add_argument("--seed", type=int, default=d.seed, help=f"dataset seed (default {d.seed})")
    p.add_argument("--seconds", type=float, default=d.seconds, help=f"clip length in seconds (default {d.seconds:g})")
    p.add_argument(
        "--sample-rate", type=int, default=d.sample_rate, help=f"sample rate in Hz (default {d.sample_rate})"
    )
    p.add_argument(
        "--format", choices=sorted(FORMATS), default=d.format, help=f"audio file format (default {d.format})"
    )
    p.add_argument(
        "--artists-per-genre",
        type=int,
        default=d.artists_per_genre,
        help=f"artist personas per genre (default {d.artists_per_genre})",
    )
    p.add_argument("--workers", type=positive_int, default=None, help="processes to render with (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing synth dataset in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    from ssl_audio.text import plural

    opt = SynthOptions(
        clips=args.clips,
        seed=args.seed,
        seconds=args.seconds,
        sample_rate=args.sample_rate,
        format=args.format,
        artists_per_genre=args.artists_per_genre,
    )
    result = synth_dataset(args.out, opt, workers=args.workers, overwrite=args.overwrite, progress=not args.quiet)
    total = result.rendered + result.reused
    print(
        f"synth: {plural(total, 'clip')} of {opt.seconds:g} s in {result.out} ({result.rendered} rendered, "
        f"{result.reused} already there) in {result.seconds_taken:.1f} s"
        + (f" = {result.clips_per_second:.1f} clips/s" if result.rendered else "")
    )
    print("  genres: " + ", ".join(f"{k} {v}" for k, v in result.genres.items()))
    print("  moods:  " + ", ".join(f"{k} {v}" for k, v in result.moods.items()))
    print(f"  artists: {result.artists}; labels in {result.out / 'labels.csv'}")
    return 0
