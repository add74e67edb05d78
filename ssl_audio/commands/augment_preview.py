"""`ssl-audio augment-preview`: its flags, turned into one call of ssl_audio.augment.preview."""

from __future__ import annotations

from ssl_audio.augment.preview import preview

DESCRIPTION = (
    "Decode a file, take a crop from its middle, and write the crop and N views through the JAX "
    "augmentation chain as WAV files, plus views.png: their spectrograms side by side, titled with the "
    "ops drawn. --config uses a pretraining config's augment block, so you hear what you train with."
)
TAKES_OVERRIDES = True


def add_arguments(p) -> None:
    from ssl_audio.commands.flags import add_decode_arguments

    p.add_argument("--input", required=True, help="an audio file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--config",
        default=None,
        help="a pretraining config whose augment block to use, e.g. configs/simclr_logmel_cnn.py:demo "
        "(--config.augment.KEY=VALUE overrides allowed; default: the default chain)",
    )
    p.add_argument("--views", type=int, default=4, help="number of augmented views (default 4)")
    p.add_argument("--seconds", type=float, default=4.0, help="crop length (default 4)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    add_decode_arguments(p, sample_rate=False)
    p.add_argument("--overwrite", action="store_true", help="replace files of an earlier preview in --out")


def run(args) -> int:
    from ssl_audio.commands.flags import decode_options
    from ssl_audio.errors import BadValueError

    config = None
    if args.config:
        from ssl_audio_pretrain.config import load_config

        config = load_config(args.config, args.overrides).augment
    elif args.overrides:
        raise BadValueError(f"augment-preview: {args.overrides[0]} needs --config (the config it overrides)")
    rate = int(config.sample_rate) if config is not None else 16_000
    written = preview(
        args.input,
        args.out,
        views=args.views,
        seconds=args.seconds,
        seed=args.seed,
        config=config,
        overwrite=args.overwrite,
        decode=decode_options(args, sample_rate=rate),
    )
    print(f"augment-preview: {len(written) - 2} augmented views of {args.input} in {args.out}")
    for path in written:
        print(f"  {path}")
    return 0
