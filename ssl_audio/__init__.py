"""ssl_audio: self-supervised audio representation learning for music (JAX/Flax)."""

__version__ = "0.1.0"
