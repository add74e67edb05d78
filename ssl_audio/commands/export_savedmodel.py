"""`ssl-audio export-savedmodel`: its flags, turned into one call of ssl_audio.embed.savedmodel."""

from __future__ import annotations

from ssl_audio.embed.savedmodel import export_savedmodel

DESCRIPTION = (
    "Convert the encoder with jax2tf into a TensorFlow SavedModel with two signatures: embed_windows "
    "(audio [batch, window] -> [batch, D]; the default) and embed_clip (mono audio [samples] at the "
    "model's rate -> scene [D], windows [T, D], starts and ends in seconds). Load it with "
    "tf.saved_model.load(DIR)."
)


def add_arguments(p) -> None:
    from ssl_audio.commands.flags import add_checkpoint_argument, add_layer_argument, add_window_arguments

    add_checkpoint_argument(p)
    p.add_argument("--out", required=True, help="SavedModel folder to write")
    add_window_arguments(p)
    add_layer_argument(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing SavedModel in --out")


def run(args) -> int:
    result = export_savedmodel(
        args.checkpoint,
        args.out,
        window_seconds=args.window_seconds,
        hop_seconds=args.hop_seconds,
        overwrite=args.overwrite,
        layer=args.layer,
    )
    for line in result.lines():
        print(line)
    return 0
