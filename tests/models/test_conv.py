"""Patches + matmul computes XLA's convolution: the same values and the same gradients, in every layout
the encoders use; anything else is handed to XLA unchanged."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from ssl_audio.models import conv

# (input shape, kernel shape, strides): the logmel CNN's 3x3 stride-1/2 and 1x1 shortcut, an odd-sized
# map (SAME padding splits unevenly), and SampleCNN's 1-D stride-3 stem and stride-1 blocks.
CASES = [
    ((2, 9, 7, 3), (3, 3, 3, 4), (2, 2)),
    ((2, 8, 6, 3), (3, 3, 3, 4), (1, 1)),
    ((2, 9, 7, 3), (1, 1, 3, 5), (2, 2)),
    ((2, 5, 4, 1), (3, 3, 1, 2), (2, 2)),
    ((2, 31, 2), (3, 2, 4), (3,)),
    ((2, 12, 3), (3, 3, 3), (1,)),
]


def _numbers(shape):
    layout = ("NHWC", "HWIO", "NHWC") if len(shape) == 4 else ("NWC", "WIO", "NWC")
    return lax.conv_dimension_numbers(shape, shape[:-2] + (0, 0), layout)


@pytest.mark.parametrize("x_shape,k_shape,strides", CASES)
def test_patches_equal_xla_in_values_and_gradients(x_shape, k_shape, strides):
    kx, kk, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, x_shape, jnp.float64 if jax.config.jax_enable_x64 else jnp.float32)
    k = jax.random.normal(kk, k_shape, x.dtype)
    numbers = _numbers(x_shape)

    def run(fn):
        def loss(x, k):
            y = fn(x, k, strides, "SAME", dimension_numbers=numbers)
            return jnp.sum(y * jax.random.normal(kg, y.shape, y.dtype)), y

        (_, y), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(x, k)
        return y, grads

    y_xla, (gx_xla, gk_xla) = run(lax.conv_general_dilated)
    y_p, (gx_p, gk_p) = run(conv.patches_conv)
    assert y_p.shape == y_xla.shape
    for a, b in ((y_p, y_xla), (gx_p, gx_xla), (gk_p, gk_xla)):
        scale = float(jnp.max(jnp.abs(b)))
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5 * scale, rtol=0)


def test_dilated_or_grouped_convolutions_go_to_xla():
    x = jnp.arange(2 * 8 * 4, dtype=jnp.float32).reshape(2, 8, 4)
    k = jnp.ones((3, 2, 4), jnp.float32)
    numbers = _numbers(x.shape)
    grouped = conv.patches_conv(x, k, (1,), "SAME", dimension_numbers=numbers, feature_group_count=2)
    expected = lax.conv_general_dilated(x, k, (1,), "SAME", dimension_numbers=numbers, feature_group_count=2)
    np.testing.assert_array_equal(grouped, expected)
    k = jnp.ones((3, 4, 4), jnp.float32)
    dilated = conv.patches_conv(x, k, (1,), "SAME", rhs_dilation=(2,), dimension_numbers=numbers)
    expected = lax.conv_general_dilated(x, k, (1,), "SAME", rhs_dilation=(2,), dimension_numbers=numbers)
    np.testing.assert_array_equal(dilated, expected)


def test_auto_picks_patches_for_2d_on_cpu_and_use_overrides_it():
    assert jax.default_backend() == "cpu"
    assert conv.chosen() == "patches"
    assert conv.chosen(spatial_dims=1) == "xla"
    with conv.use("xla"):
        assert conv.chosen() == "xla"
    with conv.use("patches"):
        assert conv.chosen(spatial_dims=1) == "patches"
    assert conv.chosen() == "patches"
    with pytest.raises(ValueError, match="convolution must be one of"):
        with conv.use("cudnn"):
            pass


@pytest.mark.parametrize("x_shape,k_shape,strides", CASES[:3] + CASES[4:5])
def test_the_encoders_convolution_has_xla_values_and_patches_gradients(x_shape, k_shape, strides):
    # What nnx.Conv calls under "patches": XLA's forward, the patches form's vjp; both equal XLA's own.
    x = jax.random.normal(jax.random.key(3), x_shape)
    k = jax.random.normal(jax.random.key(4), k_shape)
    numbers = _numbers(x_shape)

    def loss(fn, x, k):
        return jnp.sum(jnp.sin(fn(x, k, strides, "SAME", dimension_numbers=numbers)))

    with conv.use("patches"):
        ours = jax.jit(jax.value_and_grad(lambda x, k: loss(conv.conv_general_dilated, x, k), argnums=(0, 1)))(x, k)
    reference = jax.value_and_grad(lambda x, k: loss(lax.conv_general_dilated, x, k), argnums=(0, 1))(x, k)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
        np.testing.assert_allclose(a, b, atol=1e-5 * float(jnp.max(jnp.abs(b))) + 1e-6)


def test_an_nnx_conv_gives_the_same_output_either_way():
    layer = nnx.Conv(3, 4, (3, 3), strides=(2, 2), conv_general_dilated=conv.conv_general_dilated, rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 9, 7, 3))
    with conv.use("xla"):
        a = layer(x)
    with conv.use("patches"):
        b = layer(x)
    np.testing.assert_allclose(a, b, atol=1e-5 * float(jnp.max(jnp.abs(a))))


@pytest.mark.slow
def test_bench_conv_times_both_and_prints_the_ratio_last():
    from ssl_audio.bench import conv as bench
    from tests.pretrain.helpers import TINY

    # The vocoder off and one round (45 -> 37 s alone; compiling each step is still ~16 s): what is checked
    # (both steps timed, the ratio, what "auto" picks) does not depend on the augmentation.
    off = ["--config.augment.pitch_shift.p=0", "--config.augment.time_stretch.p=0"]
    result = bench.run(TINY, off, repeats=1, rounds=1)
    assert result["xla_s"] > 0 and result["patches_s"] > 0
    last = bench.report(result)[-1]
    fields = dict(item.split("=") for item in last.split()[1:])
    assert last.startswith("conv ") and set(fields) == {"xla_step_ms", "patches_step_ms", "ratio", "auto_2d", "auto_1d"}
    assert float(fields["ratio"]) == pytest.approx(result["xla_s"] / result["patches_s"], rel=0.01)
    assert (fields["auto_2d"], fields["auto_1d"]) == ("patches", "xla")
