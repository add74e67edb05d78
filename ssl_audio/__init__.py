"""ssl_audio: self-supervised audio representation learning for music (JAX/Flax).

Downstream use in one line: `model = ssl_audio.load_model("runs/demo/pretrain")`, then
`model.embed(audio, sample_rate)`; see `ssl_audio.embed.model`.
"""

__version__ = "0.1.0"


def load_model(path, **options):
    """A pretrained encoder ready to embed audio (see `ssl_audio.embed.model.load_model` for options)."""
    from ssl_audio.embed.model import load_model as _load_model  # JAX is imported only when a model is wanted

    return _load_model(path, **options)
