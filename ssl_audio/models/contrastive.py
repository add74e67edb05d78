"""The pretraining model: an encoder (by name from the registry) and SimCLR's projection head, plus BYOL's
predictor when the objective is byol.

The loss sees the projection z (BYOL: the prediction of the other view's target projection); downstream
tasks use the encoder's read-out (SimCLR: what comes before the head transfers better).
"""

from __future__ import annotations

import jax
import ml_collections
from flax import nnx

from ssl_audio.models.registry import build_encoder, dtype_of, output_dtype


class ProjectionHead(nnx.Module):
    """Linear -> batch norm -> ReLU -> linear, as in SimCLR."""

    def __init__(self, cin: int, hidden: int, cout: int, *, dtype, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(cin, hidden, use_bias=False, dtype=dtype, rngs=rngs)
        self.norm = nnx.BatchNorm(hidden, momentum=0.9, dtype=dtype, rngs=rngs)
        self.out = nnx.Linear(hidden, cout, dtype=dtype, rngs=rngs)

    def __call__(self, h: jax.Array) -> jax.Array:
        return output_dtype(self.out(jax.nn.relu(self.norm(self.hidden(h)))))


class ContrastiveModel(nnx.Module):
    def __init__(
        self,
        model: ml_collections.ConfigDict,
        *,
        sample_rate: int,
        input_samples: int,
        compute_dtype: str = "float32",
        predictor: bool = False,
        rngs: nnx.Rngs,
    ):
        dtype = dtype_of(compute_dtype)
        self.encoder = build_encoder(
            model, sample_rate=sample_rate, input_samples=input_samples, dtype=dtype, rngs=rngs
        )
        p = model.projection
        self.projection = ProjectionHead(
            self.encoder.embedding_size, p.hidden_size, p.output_size, dtype=dtype, rngs=rngs
        )
        self.embedding_size = self.encoder.embedding_size
        # BYOL's predictor q: the online network predicts the target's projection of the other view; the
        # asymmetry (target without q, updated by EMA only) is what keeps BYOL from collapsing.
        self.predictor = (
            ProjectionHead(p.output_size, p.hidden_size, p.output_size, dtype=dtype, rngs=rngs) if predictor else None
        )

    def predict(self, z: jax.Array) -> jax.Array:
        return self.predictor(z)

    def __call__(self, audio: jax.Array) -> tuple[jax.Array, jax.Array]:
        """[B, T] -> (embedding h [B, D], projection z [B, P]), both float32 (float64 under float64 compute)."""
        h = self.encoder(audio)
        return h, self.projection(h)

    def from_spectrogram(self, bands: jax.Array) -> tuple[jax.Array, jax.Array]:
        """The same from the encoder's front-end output (views made in the band domain; encoders with a
        `spectrogram` method only)."""
        h = self.encoder.from_spectrogram(bands)
        return h, self.projection(h)
