"""SampleCNN (Lee et al. 2017), the raw-waveform encoder of CLMR (Spijkervet & Burgoyne 2021).

A stride-3 convolution on the samples, then blocks of (conv 3 -> batch norm -> ReLU -> max-pool 3): each
block sees three times more time than the last. CLMR's 59049-sample input (3^10) ends at one frame; other
lengths end at a few frames, max-pooled over time, so any crop length works.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from ssl_audio.models.conv import conv_general_dilated
from ssl_audio.models.registry import output_dtype, register


class ConvBlock(nnx.Module):
    def __init__(self, cin: int, cout: int, *, stride: int, pool: bool, dtype, rngs: nnx.Rngs):
        self.conv = nnx.Conv(
            cin,
            cout,
            (3,),
            strides=(stride,),
            padding="SAME",
            use_bias=False,
            dtype=dtype,
            conv_general_dilated=conv_general_dilated,
            rngs=rngs,
        )
        self.norm = nnx.BatchNorm(cout, momentum=0.9, dtype=dtype, rngs=rngs)
        self.pool = pool

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jax.nn.relu(self.norm(self.conv(x)))
        # SAME padding keeps at least one frame whatever the input length.
        return nnx.max_pool(x, (3,), strides=(3,), padding="SAME") if self.pool else x


@register("samplecnn")
class SampleCNN(nnx.Module):
    def __init__(
        self,
        *,
        sample_rate: int,
        input_samples: int,
        channels: Sequence[int] = (128, 128, 128, 256, 256, 256, 256, 256, 256, 512),
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        del sample_rate, input_samples  # the waveform is the input; nothing depends on its rate or length
        self.dtype = dtype
        self.stem = ConvBlock(1, channels[0], stride=3, pool=False, dtype=dtype, rngs=rngs)
        self.blocks = nnx.List(
            [
                ConvBlock(cin, cout, stride=1, pool=True, dtype=dtype, rngs=rngs)
                for cin, cout in zip(channels[:-1], channels[1:])
            ]
        )
        self.embedding_size = channels[-1]

    def __call__(self, audio: jax.Array) -> jax.Array:
        x = self.stem(audio.astype(self.dtype)[..., None])
        for block in self.blocks:
            x = block(x)
        return output_dtype(jnp.max(x, axis=1))
