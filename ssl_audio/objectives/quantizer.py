"""BEST-RQ's targets (Chiu et al. 2022; MusicFM's random_quantizer): frames stacked in groups, normalised
to zero mean and unit variance with statistics measured on the training set, projected by a frozen random
matrix, L2-normalised, and given the index of the nearest entry (cosine) of a frozen random codebook.

Nothing here is trained. The matrices are drawn from the run's seed once and kept in the train state, so a
checkpoint holds the exact targets it was trained on (a run stays readable if the seed's derivation changes).
MusicFM warns that without the normalisation the codes collapse onto a few entries: `code_perplexity`
makes that visible (its maximum is the codebook size).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def stack(frames: jax.Array, k: int) -> jax.Array:
    """[B, T, F] -> [B, ceil(T/k), k*F]: k consecutive frames side by side (the last group zero-padded),
    one target per encoder frame when the encoder subsamples time by k."""
    b, t, f = frames.shape
    groups = -(-t // k)
    padded = jnp.pad(frames, ((0, 0), (0, groups * k - t), (0, 0)))
    return padded.reshape(b, groups, k * f)


def make_quantizer(key: jax.Array, features: int, k: int, dim: int, size: int) -> dict[str, jax.Array]:
    """Frozen random projection [k*features, dim] (Xavier-normal, as BEST-RQ) and codebook [size, dim]
    (unit rows); mean and std per feature start at 0 and 1 until measured (`statistics`)."""
    p_key, c_key = jax.random.split(key)
    projection = jax.random.normal(p_key, (k * features, dim)) * jnp.sqrt(2.0 / (k * features + dim))
    codebook = jax.random.normal(c_key, (size, dim))
    codebook = codebook / jnp.linalg.norm(codebook, axis=-1, keepdims=True)
    return {
        "projection": projection.astype(jnp.float32),
        "codebook": codebook.astype(jnp.float32),
        "mean": jnp.zeros((features,), jnp.float32),
        "std": jnp.ones((features,), jnp.float32),
    }


def codes(quantizer: dict[str, jax.Array], frames: jax.Array, k: int) -> jax.Array:
    """[B, T, F] features -> [B, ceil(T/k)] int32 code indices."""
    x = (frames.astype(jnp.float32) - quantizer["mean"]) / quantizer["std"]
    x = stack(x, k) @ quantizer["projection"]
    x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    return jnp.argmax(x @ quantizer["codebook"].T, axis=-1).astype(jnp.int32)


def code_perplexity(indices: jax.Array, size: int, weights: jax.Array | None = None) -> jax.Array:
    """exp(entropy) of the codes' histogram: how many entries are in use (1: collapsed, `size`: uniform)."""
    w = jnp.ones(indices.shape, jnp.float32) if weights is None else weights.astype(jnp.float32)
    counts = jnp.zeros((size,), jnp.float32).at[indices.reshape(-1)].add(w.reshape(-1))
    p = counts / jnp.maximum(counts.sum(), 1.0)
    return jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))
