"""Encoders by name: `@register("samplecnn")` on a class, `build_encoder(config.model, …)` to make one.

An encoder is an `nnx.Module` mapping a batch of waveforms [B, T] to embeddings [B, embedding_size]; it is
constructed from its config block plus the sample rate and the number of samples it will see, and exposes
`embedding_size`. One that only works at the length it was built for says so with a class attribute
`fixed_input_length = True` (CNNs that pool over time take windows of any length).
Anything else (the projection head, the loss) is built around it, not inside it.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from ssl_audio.errors import UsageError

ENCODERS: dict[str, Callable[..., nnx.Module]] = {}
# What downstream jobs read out of an encoder (config.model.readout): "embedding" for every encoder;
# "blocks" (every block's pooled map with the embedding) for those that take a `readout` argument.
READOUTS = ("embedding", "blocks")


# How a layer's frames are pooled over time when it is read out by name ("block3:max"): the mean by default.
TIME_POOLINGS = ("mean", "max", "mean+max")


def parse_readout(readout: str, layer_names: tuple[str, ...], extra_poolings: tuple[str, ...] = ()) -> tuple[str, str]:
    """(what, pooling) of a read-out: "embedding", "blocks", or a layer "block3" with an optional ":POOLING"
    (TIME_POOLINGS, and the encoder's own `extra_poolings`); ValueError naming the choices otherwise."""
    what, _, pooling = readout.partition(":")
    poolings = (*TIME_POOLINGS, *extra_poolings)
    if what in READOUTS and not pooling:
        return what, "mean"
    if what in layer_names and (pooling or "mean") in poolings:
        return what, pooling or "mean"
    raise ValueError(
        f"readout must be embedding, blocks or a layer ({', '.join(layer_names)}) with an optional :POOLING "
        f"({', '.join(poolings)}), got {readout!r}"
    )


def pool_time(x: jax.Array, pooling: str, axis: int = 1) -> jax.Array:
    """Frames pooled over time: mean, max, or both side by side (mean+max)."""
    if pooling == "mean+max":
        return jnp.concatenate([jnp.mean(x, axis=axis), jnp.max(x, axis=axis)], axis=-1)
    return jnp.max(x, axis=axis) if pooling == "max" else jnp.mean(x, axis=axis)


class UnknownModelError(UsageError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def register(name: str):
    def decorate(cls):
        ENCODERS[name] = cls
        return cls

    return decorate


def accepts_any_length(name: str) -> bool:
    """Whether encoder `name` can embed windows longer or shorter than its training crops."""
    from ssl_audio import models  # noqa: F401

    return not getattr(ENCODERS.get(name), "fixed_input_length", False)


def dtype_of(name: str):
    """'float32' | 'bfloat16' | 'float64' -> the jnp dtype computations run in.

    float64 exists for numerical checks (tests/pretrain/scale_check.py compares 1 and 4 devices in it, so
    float32 rounding cannot hide or fake a difference); it needs `jax_enable_x64`, and then the
    parameters must be float64 too (`pretrain.state.to_float64`)."""
    if name == "float64" and not jax.config.jax_enable_x64:
        raise UsageError(
            "config.compute_dtype: float64 needs JAX_ENABLE_X64=1 in the environment "
            "(it is meant for numerical checks; train in float32 or bfloat16)"
        )
    return {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float64": jnp.float64}[name]


def output_dtype(x: jax.Array) -> jax.Array:
    """An encoder's output: float32 under float32 or bfloat16 compute, float64 under float64."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def read_out(encoder: nnx.Module, audio: jax.Array) -> jax.Array:
    """The one definition of what an encoder hands downstream (embed, the API, HEAR, SavedModel, the
    probe): its `embed` where it has one (the read-out its config chose), else its output."""
    return encoder.embed(audio) if hasattr(encoder, "embed") else encoder(audio)


def build_encoder(
    model: ml_collections.ConfigDict, *, sample_rate: int, input_samples: int, dtype=jnp.float32, rngs: nnx.Rngs
) -> nnx.Module:
    from ssl_audio import models  # noqa: F401  (importing the package registers every encoder)

    if model.name not in ENCODERS:
        raise UnknownModelError(
            f"config.model.name: unknown encoder {model.name!r}; choose one of {', '.join(sorted(ENCODERS))}"
        )
    options = {k: v for k, v in model.to_dict().items() if k not in ("name", "projection")}
    if "readout" not in _arguments(ENCODERS[model.name]):  # such an encoder reads out its output only
        readout = options.pop("readout", "embedding")
        if readout != "embedding":
            raise UnknownModelError(
                f"config.model.readout: the {model.name} encoder has only readout 'embedding', got {readout!r}"
            )
    return ENCODERS[model.name](sample_rate=sample_rate, input_samples=input_samples, dtype=dtype, rngs=rngs, **options)


def _arguments(cls) -> set[str]:
    import inspect

    return set(inspect.signature(cls.__init__).parameters)
