"""ssl_audio/fft.py: rfft_rows is jnp.fft.rfft on one device, under vmap and under differentiation. That
each device transforms its own rows is tests/pretrain/test_scaling.py's (a 4-device process)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_audio.fft import rfft_rows

X = jnp.asarray(np.random.default_rng(0).standard_normal((3, 5, 32)).astype(np.float32))


def test_it_is_the_real_fft_over_the_last_axis():
    np.testing.assert_allclose(jax.jit(rfft_rows)(X), jnp.fft.rfft(X, axis=-1), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("axis", [0, 1])
def test_vmap_over_a_leading_axis_gives_the_same_rows(axis):
    mapped = jax.vmap(rfft_rows, in_axes=axis, out_axes=axis)(X)
    np.testing.assert_allclose(mapped, jnp.fft.rfft(X, axis=-1), rtol=1e-6, atol=1e-5)


def test_gradients_through_it_are_the_plain_transforms():
    def loss(fft):
        return lambda a: jnp.sum(jnp.abs(fft(a)) ** 1.5)

    plain = jax.grad(loss(lambda a: jnp.fft.rfft(a, axis=-1)))(X)
    np.testing.assert_allclose(jax.grad(loss(rfft_rows))(X), plain, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        jax.vmap(jax.grad(loss(rfft_rows)))(X), jax.vmap(jax.grad(loss(jnp.fft.rfft)))(X), rtol=1e-5, atol=1e-6
    )
