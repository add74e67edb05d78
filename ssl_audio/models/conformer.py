"""Conformer (Gulati et al. 2020) on a log-mel spectrogram: an encoder that outputs frames, for masked
prediction (BEST-RQ, ssl_audio/objectives/best_rq.py) and any objective that pools them.

    log-mel [B, T, mels] at 100 frames/s  -> two 3x3 convolutions of stride 2 -> [B, T/4, width], 25 frames/s
    -> `depth` blocks, each: half feed-forward, self-attention with rotary positions, a depthwise
       convolution module, half feed-forward, layer norm (pre-norm residuals throughout)

Rotary positions are relative, so any window length works (unlike learned absolute positions). What
downstream jobs read out (`embed`, by `readout`): "embedding" (the last block's frames, mean over time),
"blocks" (every block's frames, mean over time, concatenated), or one block by name ("block1" ...
"blockN"): music models' best layer is rarely the last (MERT's users read out a middle layer).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from ssl_audio.models.frontend import filterbank, log_mel
from ssl_audio.models.registry import output_dtype, parse_readout, pool_time, register

SUBSAMPLING = 4  # two stride-2 convolutions: one output frame per 4 input frames


def rotary(x: jax.Array) -> jax.Array:
    """Rotary position embedding (Su et al. 2021) over the time axis of [B, T, heads, head_dim]: each pair of
    channels rotated by an angle proportional to the position, so that q·k depends on their distance."""
    t, d = x.shape[1], x.shape[-1]
    half = d // 2
    dtype = jnp.promote_types(x.dtype, jnp.float32)  # bf16 rotated in float32; float64 checks stay float64
    freq = 1.0 / (10_000 ** (jnp.arange(half, dtype=dtype) / half))
    angle = jnp.arange(t, dtype=dtype)[:, None] * freq[None, :]  # [T, half]
    cos, sin = jnp.cos(angle)[None, :, None, :], jnp.sin(angle)[None, :, None, :]
    a, b = x[..., :half].astype(dtype), x[..., half:].astype(dtype)
    return jnp.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1).astype(x.dtype)


class RotaryAttention(nnx.Module):
    def __init__(self, width: int, heads: int, *, dtype, rngs: nnx.Rngs):
        if width % heads or (width // heads) % 2:
            raise ValueError(f"width {width} must split into {heads} heads of an even size")
        self.heads = heads
        self.qkv = nnx.Linear(width, 3 * width, dtype=dtype, rngs=rngs)
        self.out = nnx.Linear(width, width, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        b, t, w = x.shape
        q, k, v = jnp.split(self.qkv(x).reshape(b, t, 3 * self.heads, w // self.heads), 3, axis=2)
        q, k = rotary(q), rotary(k)
        # The softmax in float32 at least (float64 kept for the numerical checks).
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k).astype(jnp.promote_types(q.dtype, jnp.float32))
        weights = jax.nn.softmax(logits / math.sqrt(q.shape[-1]), axis=-1).astype(v.dtype)
        return self.out(jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t, w))


class FeedForward(nnx.Module):
    def __init__(self, width: int, ratio: int, *, dtype, rngs: nnx.Rngs):
        self.norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.up = nnx.Linear(width, width * ratio, dtype=dtype, rngs=rngs)
        self.down = nnx.Linear(width * ratio, width, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down(jax.nn.silu(self.up(self.norm(x))))


class ConvModule(nnx.Module):
    """Pointwise conv with a GLU, depthwise conv over time, layer norm, swish, pointwise conv."""

    def __init__(self, width: int, kernel: int, *, dtype, rngs: nnx.Rngs):
        self.norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.pointwise_in = nnx.Linear(width, 2 * width, dtype=dtype, rngs=rngs)
        self.depthwise = nnx.Conv(
            width, width, (kernel,), padding="SAME", feature_group_count=width, dtype=dtype, rngs=rngs
        )
        self.depthwise_norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.pointwise_out = nnx.Linear(width, width, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jax.nn.glu(self.pointwise_in(self.norm(x)), axis=-1)
        y = jax.nn.silu(self.depthwise_norm(self.depthwise(y)))
        return self.pointwise_out(y)


class ConformerBlock(nnx.Module):
    def __init__(self, width: int, heads: int, ffn_ratio: int, kernel: int, *, dtype, rngs: nnx.Rngs):
        self.ffn1 = FeedForward(width, ffn_ratio, dtype=dtype, rngs=rngs)
        self.attention_norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)
        self.attention = RotaryAttention(width, heads, dtype=dtype, rngs=rngs)
        self.conv = ConvModule(width, kernel, dtype=dtype, rngs=rngs)
        self.ffn2 = FeedForward(width, ffn_ratio, dtype=dtype, rngs=rngs)
        self.norm = nnx.LayerNorm(width, dtype=dtype, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = x + 0.5 * self.ffn1(x)
        x = x + self.attention(self.attention_norm(x))
        x = x + self.conv(x)
        x = x + 0.5 * self.ffn2(x)
        return self.norm(x)


@register("conformer")
class Conformer(nnx.Module):
    def __init__(
        self,
        *,
        sample_rate: int,
        input_samples: int,
        n_fft: int = 400,
        hop: int = 160,
        n_mels: int = 80,
        scale: str = "mel",
        f_min: float = 0.0,
        bins_per_octave: int = 12,
        subsampling_channels: int = 32,
        width: int = 256,
        depth: int = 8,
        heads: int = 4,
        ffn_ratio: int = 4,
        conv_kernel: int = 15,
        readout: str = "embedding",
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        del input_samples  # rotary positions: any length
        self.frontend = dict(
            sample_rate=sample_rate, n_fft=n_fft, hop=hop, n_mels=n_mels, scale=scale, f_min=f_min,
            bins_per_octave=bins_per_octave,
        )  # fmt: skip
        if scale != "mel":
            filterbank(scale, sample_rate, n_fft, n_mels, f_min, None, bins_per_octave)  # fails here, not at step 1
        self.dtype = dtype
        self.layer_names = tuple(f"block{i + 1}" for i in range(depth))
        parse_readout(readout, self.layer_names)  # a bad read-out fails here, naming the choices
        self.readout = readout
        conv = lambda a, b: nnx.Conv(a, b, (3, 3), strides=(2, 2), padding="SAME", dtype=dtype, rngs=rngs)  # noqa: E731
        self.subsample1 = conv(1, subsampling_channels)
        self.subsample2 = conv(subsampling_channels, subsampling_channels)
        self.project = nnx.Linear(subsampling_channels * math.ceil(n_mels / 4), width, dtype=dtype, rngs=rngs)
        self.blocks = nnx.List(
            [ConformerBlock(width, heads, ffn_ratio, conv_kernel, dtype=dtype, rngs=rngs) for _ in range(depth)]
        )
        self.width = width
        self.embedding_size = width

    # ------------------------------------------------------------------------------------ the frames
    def spectrogram(self, audio: jax.Array) -> jax.Array:
        """[B, samples] -> log-mel [B, T, n_mels] (float32), 100 frames a second at the defaults."""
        return log_mel(audio, **self.frontend)

    @staticmethod
    def input_frames(bands: jax.Array) -> jax.Array:
        """The log-mel at a fixed scale (no batch statistics in a transformer): music's natural-log power sits
        around -14..2, so this is near zero mean, unit spread. Masked prediction replaces frames here."""
        return (bands + 6.0) / 4.0

    def encode_frames(self, x: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
        """Scaled log-mel [B, T, mels] -> (the last block's frames [B, ceil(T/4), width], every block's)."""
        y = jax.nn.gelu(self.subsample1(x[..., None].astype(self.dtype)))
        y = jax.nn.gelu(self.subsample2(y))  # [B, T/4, mels/4, C]
        y = self.project(y.reshape(*y.shape[:2], -1))
        layers = []
        for block in self.blocks:
            y = block(y)
            layers.append(y)
        return y, layers

    def frames(self, audio: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
        return self.encode_frames(self.input_frames(self.spectrogram(audio)))

    # ------------------------------------------------------------------------------- the read-outs
    def __call__(self, audio: jax.Array) -> jax.Array:
        """[B, samples] -> [B, width]: the last block's frames, mean over time."""
        return output_dtype(jnp.mean(self.frames(audio)[0], axis=1))

    def embed(self, audio: jax.Array) -> jax.Array:
        """What downstream jobs read out, by `readout`: the embedding, every block (concatenated), or one block
        ("block3"), its frames pooled over time by the mean, or as "block3:max" / "block3:mean+max" says."""
        last, layers = self.frames(audio)
        what, pooling = parse_readout(self.readout, self.layer_names)
        if what == "embedding":
            return output_dtype(jnp.mean(last, axis=1))
        if what == "blocks":
            return jnp.concatenate([output_dtype(jnp.mean(y, axis=1)) for y in layers], axis=-1)
        return output_dtype(pool_time(layers[self.layer_names.index(what)], pooling))
