"""The contrastive objectives, by name (`config.objective`), over the global batch: NT-Xent (SimCLR's) and
DCL (decoupled contrastive learning, Yeh et al. 2022: the positive pair is taken out of the denominator).

For N clips and two views each, every one of the 2N projections must pick out its partner among the 2N - 1
others; the other 2N - 2 are its negatives. Negatives must come from the *whole* batch, on every device and
host: a loss over each device's slice alone has N / n_devices times fewer negatives, and public multi-GPU
SimCLR code that did this learned much less. Here the arrays are global (jit over a mesh): the keys are
constrained to be replicated, which makes XLA all-gather every device's projections before the similarity
matrix, while the queries stay sharded so each device computes only its own rows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P


def nt_xent(
    z_a: jax.Array, z_b: jax.Array, temperature: float, mesh: jax.sharding.Mesh | None = None
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """z_a, z_b: [N, D] projections of the two views of the same N clips (row i of each is one clip).

    Returns the mean loss over the 2N anchors and metrics: `pos_top1`, the share of anchors whose most
    similar other projection is their partner.
    """
    return _contrastive(z_a, z_b, temperature, mesh, decoupled=False)


def dcl(
    z_a: jax.Array, z_b: jax.Array, temperature: float, mesh: jax.sharding.Mesh | None = None
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """NT-Xent without the positive in the denominator: -s(i, partner)/t + logsumexp over the 2N - 2
    negatives. NT-Xent's gradient on a pair is scaled by (1 - p(partner)), which vanishes as soon as the
    pair is easy; at small batches (few negatives) that leaves little to learn from, which is what DCL
    removes (reported +6% on ImageNet linear probes at batch 256)."""
    return _contrastive(z_a, z_b, temperature, mesh, decoupled=True)


def _contrastive(z_a, z_b, temperature, mesh, *, decoupled: bool):
    n = z_a.shape[0]
    z = jnp.concatenate([z_a, z_b], axis=0)
    z = z.astype(jnp.promote_types(z.dtype, jnp.float32))  # bf16 -> f32; f64 (numerical checks) stays
    z = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
    keys = z if mesh is None else jax.lax.with_sharding_constraint(z, NamedSharding(mesh, P()))
    logits = (z @ keys.T) / temperature  # [2N, 2N]
    logits = jnp.where(jnp.eye(2 * n, dtype=bool), -jnp.inf, logits)  # an anchor is not its own partner
    partner = jnp.concatenate([jnp.arange(n) + n, jnp.arange(n)])
    positive = jnp.take_along_axis(logits, partner[:, None], axis=-1)[:, 0]
    others = logits
    if decoupled:
        others = jnp.where(jax.nn.one_hot(partner, 2 * n, dtype=bool), -jnp.inf, logits)
    loss = jnp.mean(jax.nn.logsumexp(others, axis=-1) - positive)
    pos_top1 = jnp.mean(jnp.argmax(logits, axis=-1) == partner)
    return loss, {"pos_top1": pos_top1}


OBJECTIVES = {"nt_xent": nt_xent, "dcl": dcl}
