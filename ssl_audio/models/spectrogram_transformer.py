"""Spectrogram transformer (as AST / ViT): the log-mel is cut into patches, each patch embedded linearly,
a learned position embedding added, and a pre-norm transformer encoder run over the patch sequence with a
class token, whose output is the embedding.

Positions are learned for the input length the model is built for (`input_samples`); the log-mel is padded
up to whole patches.
"""

from __future__ import annotations

import math

import einops
import jax
import jax.numpy as jnp
from flax import nnx

from ssl_audio.models.frontend import log_mel, n_frames
from ssl_audio.models.registry import output_dtype, register


def _attention(query, key, value, bias=None, mask=None, **kwargs):
    """Flax's attention, except in float64: jax.nn.dot_product_attention takes its softmax in float32
    (right for bfloat16, but it would round the float64 numerical checks to float32)."""
    if query.dtype != jnp.float64:
        return nnx.dot_product_attention(query, key, value, bias, mask, **kwargs)
    assert bias is None and mask is None  # the encoder attends over every patch
    logits = jnp.einsum("...qhd,...khd->...hqk", query / jnp.sqrt(query.shape[-1]).astype(query.dtype), key)
    return jnp.einsum("...hqk,...khd->...qhd", jax.nn.softmax(logits, axis=-1), value)


class EncoderLayer(nnx.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: int, *, dtype, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.attention = nnx.MultiHeadAttention(
            heads, width, dtype=dtype, decode=False, attention_fn=_attention, rngs=rngs
        )
        self.norm2 = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.mlp_in = nnx.Linear(width, width * mlp_ratio, dtype=dtype, rngs=rngs)
        self.mlp_out = nnx.Linear(width * mlp_ratio, width, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp_out(jax.nn.gelu(self.mlp_in(self.norm2(x))))


@register("spectrogram_transformer")
class SpectrogramTransformer(nnx.Module):
    # Its position embeddings are sized for `input_samples`: longer input would be cut, shorter padded.
    fixed_input_length = True

    def __init__(
        self,
        *,
        sample_rate: int,
        input_samples: int,
        n_fft: int = 512,
        hop: int = 160,
        n_mels: int = 128,
        patch: tuple[int, int] = (16, 16),
        width: int = 384,
        depth: int = 6,
        heads: int = 6,
        mlp_ratio: int = 4,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        self.frontend = dict(sample_rate=sample_rate, n_fft=n_fft, hop=hop, n_mels=n_mels)
        self.patch = tuple(patch)
        self.dtype = dtype
        self.time_patches = math.ceil(n_frames(input_samples, hop) / patch[0])
        self.mel_patches = math.ceil(n_mels / patch[1])
        self.embed = nnx.Linear(patch[0] * patch[1], width, dtype=dtype, rngs=rngs)
        init = nnx.initializers.normal(0.02)
        self.cls = nnx.Param(init(rngs.params(), (1, 1, width)))
        self.position = nnx.Param(init(rngs.params(), (1, 1 + self.time_patches * self.mel_patches, width)))
        self.layers = nnx.List([EncoderLayer(width, heads, mlp_ratio, dtype=dtype, rngs=rngs) for _ in range(depth)])
        self.norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.embedding_size = width

    def __call__(self, audio: jax.Array) -> jax.Array:
        x = log_mel(audio, **self.frontend)  # [B, frames, mels]
        # Fixed scale for the log-mel (no batch statistics in a transformer): natural-log power of music
        # sits around -14..2, so this maps it near zero mean, unit spread.
        x = (x + 6.0) / 4.0
        pt, pf = self.patch
        frames = self.time_patches * pt
        x = jnp.pad(
            x[:, :frames], ((0, 0), (0, frames - min(x.shape[1], frames)), (0, self.mel_patches * pf - x.shape[2]))
        )
        x = einops.rearrange(x, "b (t pt) (f pf) -> b (t f) (pt pf)", pt=pt, pf=pf)
        x = self.embed(x.astype(self.dtype))
        cls = jnp.broadcast_to(self.cls[...].astype(x.dtype), (x.shape[0], 1, x.shape[2]))
        x = jnp.concatenate([cls, x], axis=1) + self.position[...].astype(x.dtype)
        for layer in self.layers:
            x = layer(x)
        return output_dtype(self.norm(x[:, 0]))
