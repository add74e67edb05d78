"""Run in a process with 4 host devices (XLA_FLAGS=--xla_force_host_platform_device_count=4):

for each config given, the augmentation chain, then one training step's loss, gradients and batch statistics,
on a 1-device mesh and on a 4-device mesh, from the same state and the same global batch. The step is
compared on the same augmented views: the chain itself is compared separately (it is per-example, so it may
differ only by float rounding, but max-pooling encoders turn a rounding difference in their input into a
different argmax and so a different gradient, which says nothing about the sharding). Prints one JSON line
per config with the largest differences, and the loss with per-device negatives only (what a loss that
skips the all-gather would compute), to show the comparison can tell them apart.
"""

from __future__ import annotations

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from pretrain.config import load_config
from pretrain.optimizer import make_optimizer
from pretrain.state import create_state, model_graphdef
from pretrain.step import make_augment, make_loss_and_grads
from ssl_audio.distributed import DATA_AXIS, batch_sharding, global_batch, make_mesh, replicated
from ssl_audio.losses import nt_xent


def batch_for(config) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n, t = config.batch_size, int(round(config.crop_seconds * config.sample_rate))
    time = np.arange(t) / config.sample_rate
    tones = np.sin(2 * np.pi * rng.uniform(100, 2000, (n, 1)) * time) * rng.uniform(0.1, 0.5, (n, 1))
    return {v: (tones + 0.05 * rng.standard_normal((n, t))).astype(np.float32) for v in ("view_a", "view_b")}


def augmented(config, devices, batch):
    """Both views through the augmentation chain, batch sharded over `devices`."""
    mesh = make_mesh(devices)
    chain = jax.jit(make_augment(config), in_shardings=(batch_sharding(mesh), None),
                    out_shardings=batch_sharding(mesh))
    b = global_batch(batch, mesh)
    keys = jax.random.split(jax.random.key(config.seed), 2)
    return {v: np.asarray(chain(b[v], k)) for v, k in zip(("view_a", "view_b"), keys)}


def loss_and_grads(config, devices, batch):
    """The step's loss, gradients and new batch statistics on already augmented views."""
    mesh = make_mesh(devices)
    state, shardings = create_state(config, make_optimizer(config), mesh)
    no_augment = config.copy_and_resolve_references()
    no_augment.augment.backend = "audiomentations"  # the step then leaves the views as they come
    gradients = jax.jit(make_loss_and_grads(no_augment, model_graphdef(config), mesh),
                        in_shardings=(shardings, batch_sharding(mesh)), out_shardings=replicated(mesh))
    loss, _, grads, stats = jax.device_get(gradients(state, global_batch(batch, mesh)))
    return loss, grads, stats


def largest_difference(a, b) -> float:
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in
               zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def local_negatives_loss(z_a, z_b, mesh, temperature) -> float:
    """NT-Xent computed on each device's slice alone, then averaged: the multi-GPU bug."""
    per_device = jax.shard_map(lambda a, b: jax.lax.pmean(nt_xent(a, b, temperature)[0], DATA_AXIS)[None],
                               mesh=mesh, in_specs=(P(DATA_AXIS), P(DATA_AXIS)), out_specs=P(DATA_AXIS))
    return float(per_device(z_a, z_b)[0])


def main(specs: list[str]) -> None:
    assert len(jax.devices()) >= 4, "run with XLA_FLAGS=--xla_force_host_platform_device_count=4"
    for spec in specs:
        config = load_config(spec)
        views1 = augmented(config, jax.devices()[:1], batch_for(config))
        views4 = augmented(config, jax.devices()[:4], batch_for(config))
        loss1, grads1, stats1 = loss_and_grads(config, jax.devices()[:1], views1)
        loss4, grads4, stats4 = loss_and_grads(config, jax.devices()[:4], views1)
        z_rng = np.random.default_rng(1)
        z_a, z_b = (jnp.asarray(z_rng.standard_normal((16, 8)), jnp.float32) for _ in range(2))
        mesh4 = make_mesh(jax.devices()[:4])
        print(json.dumps({
            "config": spec, "loss_1": float(loss1), "loss_4": float(loss4),
            "augment_max_abs": largest_difference(views1, views4),
            "grad_max_abs": largest_difference(grads1, grads4),
            "grad_scale": max(float(np.max(np.abs(g))) for g in jax.tree.leaves(grads1)),
            "augment_scale": max(float(np.max(np.abs(v))) for v in views1.values()),
            "batch_stats_max_abs": largest_difference(stats1, stats4),
            "global_negatives_loss": float(nt_xent(z_a, z_b, 0.1)[0]),
            "global_negatives_loss_4": float(jax.jit(lambda a, b: nt_xent(a, b, 0.1, mesh4)[0])(
                jax.device_put(z_a, batch_sharding(mesh4)), jax.device_put(z_b, batch_sharding(mesh4)))),
            "local_negatives_loss_4": local_negatives_loss(z_a, z_b, mesh4, 0.1),
        }), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
