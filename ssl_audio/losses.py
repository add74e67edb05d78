"""The objectives, by name (`config.objective`), over the global batch: NT-Xent (SimCLR's), DCL (decoupled
contrastive learning, Yeh et al. 2022: the positive pair is taken out of the denominator), and BYOL's
(Grill et al. 2020: no negatives; each view's prediction regresses the other view's target projection).

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


def _unit(x: jax.Array) -> jax.Array:
    """Rows scaled to unit length, in at least float32 (bf16 -> f32; f64 for numerical checks stays)."""
    x = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


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
    z = _unit(z)
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


# (z_a, z_b, temperature, mesh) -> (loss, metrics); the objectives by name are ssl_audio/objectives/
CONTRASTIVE_LOSSES = {"nt_xent": nt_xent, "dcl": dcl}


def byol(p_a: jax.Array, p_b: jax.Array, t_a: jax.Array, t_b: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
    """BYOL's symmetric loss: 2 - 2 cos(p_a, t_b) and 2 - 2 cos(p_b, t_a), each averaged over the batch and
    summed. p: the online predictions [N, P]; t: the target projections [N, P], treated as constants.
    `pos_top1`: the share of predictions whose most similar target in the batch is their partner's."""
    t_a, t_b = jax.lax.stop_gradient(t_a), jax.lax.stop_gradient(t_b)
    p_a, p_b, t_a, t_b = _unit(p_a), _unit(p_b), _unit(t_a), _unit(t_b)
    loss = jnp.mean(2 - 2 * jnp.sum(p_a * t_b, -1)) + jnp.mean(2 - 2 * jnp.sum(p_b * t_a, -1))
    n = p_a.shape[0]
    top1 = (
        jnp.mean(jnp.argmax(p_a @ t_b.T, -1) == jnp.arange(n)) + jnp.mean(jnp.argmax(p_b @ t_a.T, -1) == jnp.arange(n))
    ) / 2
    return loss, {"pos_top1": top1}


def ema_decay(step: jax.Array, total_steps: int, base: float) -> jax.Array:
    """BYOL's target decay: from `base` at step 0 up to 1 at the last step, on a cosine."""
    progress = jnp.minimum(step.astype(jnp.float32) / max(total_steps, 1), 1.0)
    return 1.0 - (1.0 - base) * (jnp.cos(jnp.pi * progress) + 1.0) / 2.0
