"""NT-Xent, SimCLR's contrastive loss, over the global batch.

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
    n = z_a.shape[0]
    z = jnp.concatenate([z_a, z_b], axis=0)
    z = z.astype(jnp.promote_types(z.dtype, jnp.float32))  # bf16 -> f32; f64 (numerical checks) stays
    z = z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
    keys = z if mesh is None else jax.lax.with_sharding_constraint(z, NamedSharding(mesh, P()))
    logits = (z @ keys.T) / temperature  # [2N, 2N]
    logits = jnp.where(jnp.eye(2 * n, dtype=bool), -jnp.inf, logits)  # an anchor is not its own partner
    partner = jnp.concatenate([jnp.arange(n) + n, jnp.arange(n)])
    log_p = jax.nn.log_softmax(logits, axis=-1)
    loss = -jnp.mean(jnp.take_along_axis(log_p, partner[:, None], axis=-1))
    pos_top1 = jnp.mean(jnp.argmax(logits, axis=-1) == partner)
    return loss, {"pos_top1": pos_top1}
