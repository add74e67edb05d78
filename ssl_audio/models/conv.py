"""How the encoders' convolutions are computed: XLA's convolution, or patches and one matrix product.

Both compute the same function (`tests/models/test_conv.py` checks values and gradients). They differ in
speed by backend. On the CPU, XLA's gradient of a convolution's kernel is its slowest op by far: for the
demo CNN's 3x3, 32 -> 32 channel convolution on 63 x 32 maps, batch 64, the kernel gradient took 799 ms
against the forward's 84 ms (AMD EPYC, 2 cores). Written as patches (the 9 shifted copies of the input,
concatenated on the channel axis) times the kernel reshaped to a matrix, the forward and both gradients
are plain matrix products and slices, which XLA's CPU backend runs at its matmul speed:
`ssl-audio bench conv` prints the ratio. On GPUs and TPUs the vendor convolutions are faster than
patches and use 9x less memory, so "auto" keeps XLA's there.

An encoder passes `conv_general_dilated` to `nnx.Conv`; the choice is made when the step is traced, from
the backend it is traced for, unless `use("xla" | "patches")` says otherwise (benchmarks and tests).
"patches" is XLA's forward with the patches form's gradients (a custom VJP): for inference alone (embed,
the probe) patches were 1.2-1.5x slower than XLA's forward, so only the gradients change.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools

import jax
import jax.numpy as jnp
from jax import lax

IMPLEMENTATIONS = ("auto", "xla", "patches")
_forced: contextvars.ContextVar[str] = contextvars.ContextVar("ssl_audio_conv", default="auto")


@contextlib.contextmanager
def use(name: str):
    """Within the block, encoders traced use convolution `name` ("auto" chooses by backend)."""
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"convolution must be one of {', '.join(IMPLEMENTATIONS)}, got {name!r}")
    token = _forced.set(name)
    try:
        yield
    finally:
        _forced.reset(token)


def chosen(spatial_dims: int = 2) -> str:
    """ "xla" or "patches": what a convolution over `spatial_dims` dimensions traced now is computed with.

    "auto" takes patches for 2-D convolutions on the CPU only: for SampleCNN's 1-D, 3-tap convolutions
    XLA's own were faster (bench conv, configs/simclr_samplecnn.py:demo: docs/archive/benchmarks-record.md#conv)."""
    name = _forced.get()
    if name != "auto":
        return name
    return "patches" if jax.default_backend() == "cpu" and spatial_dims == 2 else "xla"


def _channels_last(dimension_numbers, ndim: int) -> bool:
    """Whether the layout is flax's: inputs [N, spatial..., C], kernels [spatial..., I, O]."""
    if dimension_numbers is None or isinstance(dimension_numbers, tuple) and isinstance(dimension_numbers[0], str):
        return False
    spatial = tuple(range(1, ndim - 1))
    lhs, rhs, out = dimension_numbers
    return (
        tuple(lhs) == (0, ndim - 1, *spatial)
        and tuple(rhs) == (ndim - 1, ndim - 2, *range(ndim - 2))
        and tuple(out) == tuple(lhs)
    )


def patches_conv(
    lhs: jax.Array,
    rhs: jax.Array,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    precision=None,
    **kwargs,
) -> jax.Array:
    """`lax.conv_general_dilated` for channels-last layouts as patches times a matrix; any other case
    (dilation, groups, another layout) goes to XLA's convolution unchanged."""
    options = dict(
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        **kwargs,
    )
    if not _plain(lhs, options):
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation=lhs_dilation,
            rhs_dilation=rhs_dilation,
            dimension_numbers=dimension_numbers,
            feature_group_count=feature_group_count,
            precision=precision,
            **kwargs,
        )
    spatial_in = lhs.shape[1:-1]
    window = rhs.shape[:-2]
    strides = tuple(window_strides)
    pads = lax.padtype_to_pads(spatial_in, window, strides, padding) if isinstance(padding, str) else list(padding)
    x = jnp.pad(lhs, ((0, 0), *pads, (0, 0)))
    padded = x.shape[1:-1]
    out_shape = [(p - w) // s + 1 for p, w, s in zip(padded, window, strides)]
    # One strided slice per kernel offset, in the kernel's row-major order, so that the concatenated
    # channel axis matches rhs reshaped to [prod(window) * C_in, C_out].
    columns = []
    for offset in itertools.product(*(range(w) for w in window)):
        index = tuple(slice(o, o + (n - 1) * s + 1, s) for o, n, s in zip(offset, out_shape, strides))
        columns.append(x[(slice(None), *index, slice(None))])
    patches = jnp.concatenate(columns, axis=-1) if len(columns) > 1 else columns[0]
    kernel = rhs.reshape(-1, rhs.shape[-1])
    return jnp.einsum("...c,cd->...d", patches, kernel, precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _xla_forward_patches_gradient(lhs, rhs, strides, padding, numbers, precision):
    """XLA's convolution forward (it is fast: patches were 1.2-1.5x slower for inference, which embed and the
    probe are), and the gradients of the patches form (the matmuls that replace XLA's slow kernel gradient)."""
    return lax.conv_general_dilated(lhs, rhs, strides, padding, dimension_numbers=numbers, precision=precision)


def _forward(lhs, rhs, strides, padding, numbers, precision):
    return _xla_forward_patches_gradient(lhs, rhs, strides, padding, numbers, precision), (lhs, rhs)


def _backward(strides, padding, numbers, precision, residuals, cotangent):
    lhs, rhs = residuals
    as_patches = lambda a, b: patches_conv(a, b, strides, padding, dimension_numbers=numbers, precision=precision)
    return jax.vjp(as_patches, lhs, rhs)[1](cotangent)


_xla_forward_patches_gradient.defvjp(_forward, _backward)


def conv_general_dilated(lhs, rhs, window_strides, padding, *args, **kwargs) -> jax.Array:
    """What the encoders give `nnx.Conv`: the implementation `chosen()` when traced. "patches" keeps XLA's
    forward and takes the gradients of the patches form, so inference is unchanged and training gets the
    fast gradients."""
    if chosen(lhs.ndim - 2) == "patches" and not args and _plain(lhs, kwargs):
        pads = padding if isinstance(padding, str) else tuple(tuple(p) for p in padding)
        return _xla_forward_patches_gradient(
            lhs, rhs, tuple(window_strides), pads, kwargs.get("dimension_numbers"), kwargs.get("precision")
        )
    return lax.conv_general_dilated(lhs, rhs, window_strides, padding, *args, **kwargs)


def _plain(lhs, kwargs) -> bool:
    """The call is one `patches_conv` computes itself (not handed on to XLA)."""
    return (
        kwargs.get("feature_group_count", 1) == 1
        and all(d == 1 for d in (kwargs.get("lhs_dilation") or ()))
        and all(d == 1 for d in (kwargs.get("rhs_dilation") or ()))
        and _channels_last(kwargs.get("dimension_numbers"), lhs.ndim)
        and not kwargs.get("preferred_element_type")
        and kwargs.get("out_sharding") is None
    )
