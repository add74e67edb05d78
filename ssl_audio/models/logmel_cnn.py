"""Short-chunk ResNet on a log-mel spectrogram (Won et al. 2020, "Evaluation of CNN-based automatic music
tagging models"): the strongest simple CNN of that comparison.

The log-mel is computed on the device (frontend.py). Residual blocks of two 3x3 convolutions, the first
with stride 2, halve time and frequency; after the last block frequency is max-pooled away and time is
max-pooled, then a dense layer gives the embedding (what the projection head and the loss see).

What downstream jobs read out (`embed`) is that embedding, or with `readout="blocks"` every block's map
(max over frequency, mean over time) concatenated with it: early blocks keep the timbre and texture
that the last max-pool and the contrastive objective throw away (Pons & Serra 2018: every layer of a
randomly weighted CNN, pooled and concatenated, beats MFCC; BYOL-A v2 concatenates its local conv
features with its MLP output). Pretraining is the same either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from ssl_audio.models.conv import conv_general_dilated
from ssl_audio.models.frontend import filterbank, log_mel
from ssl_audio.models.registry import output_dtype, parse_readout, pool_time, register

# A block's read-out that keeps its frequency axis ("block3:frequency"): where in the spectrum a feature
# fires, which the max over frequency throws away (timbre and register; pitch on semitone bands).
FREQUENCY_POOLING = ("frequency",)


class ResBlock(nnx.Module):
    def __init__(self, cin: int, cout: int, *, stride: int, dtype, rngs: nnx.Rngs):
        conv = lambda a, b, k, s: nnx.Conv(
            a,
            b,
            (k, k),
            strides=(s, s),
            padding="SAME",  # noqa: E731
            use_bias=False,
            dtype=dtype,
            conv_general_dilated=conv_general_dilated,  # XLA's or patches, by backend (conv.py)
            rngs=rngs,
        )
        norm = lambda c: nnx.BatchNorm(c, momentum=0.9, dtype=dtype, rngs=rngs)  # noqa: E731
        self.conv1, self.norm1 = conv(cin, cout, 3, stride), norm(cout)
        self.conv2, self.norm2 = conv(cout, cout, 3, 1), norm(cout)
        # A 1x1 projection on the shortcut where the shape changes (always, with stride 2).
        self.has_projection = stride != 1 or cin != cout
        if self.has_projection:
            self.project_conv, self.project_norm = conv(cin, cout, 1, stride), norm(cout)

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jax.nn.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        shortcut = self.project_norm(self.project_conv(x)) if self.has_projection else x
        return jax.nn.relu(y + shortcut)


@register("logmel_cnn")
class LogMelCNN(nnx.Module):
    def __init__(
        self,
        *,
        sample_rate: int,
        input_samples: int,
        n_fft: int = 512,
        hop: int = 256,
        n_mels: int = 128,
        scale: str = "mel",
        f_min: float = 0.0,
        bins_per_octave: int = 12,
        channels: Sequence[int] = (128, 128, 128, 128, 128, 128, 256),
        embedding_size: int = 512,
        readout: str = "embedding",
        stem_channels: int = 0,
        stem_kernel: Sequence[int] = (3, 13),
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        del input_samples
        self.layer_names = tuple(f"block{i + 1}" for i in range(len(channels)))
        parse_readout(readout, self.layer_names, FREQUENCY_POOLING)  # a bad read-out fails here, naming the choices
        self.readout = readout
        self.frontend = dict(
            sample_rate=sample_rate, n_fft=n_fft, hop=hop, n_mels=n_mels, scale=scale, f_min=f_min,
            bins_per_octave=bins_per_octave,
        )  # fmt: skip
        if scale != "mel":  # an unknown scale or a log band plan past Nyquist fails here, not at the first step
            filterbank(scale, sample_rate, n_fft, n_mels, f_min, None, bins_per_octave)  # (mel: librosa, left lazy)
        self.dtype = dtype
        self.input_norm = nnx.BatchNorm(1, momentum=0.9, dtype=dtype, rngs=rngs)  # log-mel scale differs by data
        # An optional stem at full resolution before the first stride: a (time x frequency) kernel as tall
        # as an octave of semitone bands sees a chord's whole shape (a major triad is 0-4-7, a minor one
        # 0-3-7), which the 3x3 blocks only see after the first stride has halved the frequency axis
        # (Pons et al. 2016: tall filters for harmony and timbre). 0: no stem (the measured default).
        self.has_stem = bool(stem_channels)
        if self.has_stem:
            if len(stem_kernel) != 2 or min(stem_kernel) < 1:
                raise ValueError(f"stem_kernel must be (time, frequency) sizes >= 1, got {tuple(stem_kernel)}")
            self.stem = nnx.Conv(
                1, stem_channels, tuple(stem_kernel), padding="SAME", use_bias=False, dtype=dtype,
                conv_general_dilated=conv_general_dilated, rngs=rngs,
            )  # fmt: skip
            self.stem_norm = nnx.BatchNorm(stem_channels, momentum=0.9, dtype=dtype, rngs=rngs)
        widths = (stem_channels or 1, *channels)
        self.blocks = nnx.List(
            [ResBlock(a, b, stride=2, dtype=dtype, rngs=rngs) for a, b in zip(widths[:-1], widths[1:])]
        )
        self.dense = nnx.Linear(channels[-1], embedding_size, dtype=dtype, rngs=rngs)
        self.norm = nnx.BatchNorm(embedding_size, momentum=0.9, dtype=dtype, rngs=rngs)
        self.embedding_size = embedding_size

    def __call__(self, audio: jax.Array) -> jax.Array:
        """[B, T] -> the embedding [B, embedding_size] (pretraining's input to the projection head)."""
        return self._forward(audio)[0]

    def embed(self, audio: jax.Array) -> jax.Array:
        """[B, T] -> what downstream jobs read out: the embedding, with readout="blocks" every block's map
        pooled (max over frequency, mean over time) and concatenated with it, or one block ("block3"): max over
        frequency, then over time the mean (":max", ":mean+max" as said), or ":frequency" keeping the frequency
        axis (frequency x channels, mean over time)."""
        embedding, maps = self._forward(audio)
        what, pooling = parse_readout(self.readout, self.layer_names, FREQUENCY_POOLING)
        if what == "embedding":
            return embedding
        if what == "blocks":
            pooled = [output_dtype(jnp.mean(jnp.max(m, axis=2), axis=1)) for m in maps]
            return jnp.concatenate([*pooled, embedding], axis=-1)
        m = maps[self.layer_names.index(what)]  # one block alone: [B, time, frequency, channels]
        if pooling in FREQUENCY_POOLING:  # the frequency axis kept: frequency x channels, mean over time
            return output_dtype(jnp.mean(m, axis=1).reshape(m.shape[0], -1))
        return output_dtype(pool_time(jnp.max(m, axis=2), pooling))

    def spectrogram(self, audio: jax.Array, margin: int = 0) -> jax.Array:
        """[B, T] -> the front end's log bands [B, frames, n_mels + 2 margin] (float32). margin > 0 (log bands
        only) adds bands on either side for views shifted in the band domain (ssl_audio/augment/bands.py)."""
        return log_mel(audio, **self.frontend, margin=margin)

    def from_spectrogram(self, bands: jax.Array) -> jax.Array:
        """[B, frames, n_mels] log bands -> the embedding: the encoder after its front end (pretraining's
        path for views made in the band domain)."""
        return self._encode(bands)[0]

    def _forward(self, audio: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
        return self._encode(self.spectrogram(audio))

    def _encode(self, bands: jax.Array) -> tuple[jax.Array, list[jax.Array]]:
        x = self.input_norm(bands[..., None].astype(self.dtype))  # [B, frames, mels, 1]
        if self.has_stem:
            x = jax.nn.relu(self.stem_norm(self.stem(x)))  # [B, frames, mels, stem_channels]
        maps = []
        for block in self.blocks:
            x = block(x)
            maps.append(x)
        x = jnp.max(x, axis=(1, 2))  # max over time and the remaining frequency bins
        return output_dtype(jax.nn.relu(self.norm(self.dense(x)))), maps
