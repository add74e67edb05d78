"""One pretraining step, as pure functions of (state, batch) for `jax.jit`.

    loss, grads = objective(state, batch)           (ssl_audio/objectives/: the two views of contrastive
                                                    learning, ssl_audio/augment/views.py, or masked
                                                    prediction's targets and masks)
    state' = optimizer update of state             (pretrain/optimizer.py), then the objective's own
                                                    update (BYOL's EMA target)

Every random draw comes from `fold_in(state.rng, state.step)`: a resumed run draws exactly what an
uninterrupted one would. What the loader crops, how a view is made and what the loss is live in the library,
not here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from ssl_audio import objectives
from ssl_audio.distributed import batch_sharding
from ssl_audio_pretrain.optimizer import learning_rate_schedule
from ssl_audio_pretrain.state import State

Batch = dict[str, jax.Array]


def make_loss_and_grads(
    config: ml_collections.ConfigDict,
    graphdef: nnx.GraphDef,
    mesh: jax.sharding.Mesh | None = None,
    contrastive_loss=None,
):
    """(state, batch) -> (loss, metrics, grads, new batch_stats), the objective's (ssl_audio/objectives/).
    Separate from the update so tests can compare gradients across device counts (and swap in a
    deliberately wrong contrastive loss to show they can fail)."""
    return objectives.get(config.objective).loss_and_grads(config, graphdef, mesh, contrastive_loss)


def make_train_step(
    config: ml_collections.ConfigDict,
    graphdef: nnx.GraphDef,
    tx: optax.GradientTransformation,
    mesh: jax.sharding.Mesh | None = None,
):
    loss_and_grads = make_loss_and_grads(config, graphdef, mesh)
    schedule = learning_rate_schedule(config)
    objective = objectives.get(config.objective)

    def train_step(state: State, batch: Batch) -> tuple[State, dict[str, jax.Array]]:
        loss, metrics, grads, batch_stats = loss_and_grads(state, batch)
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        new_state = {
            **state,  # the objective's own entries (a frozen quantizer) carried over
            "step": state["step"] + 1,
            "params": params,
            "batch_stats": batch_stats,
            "opt_state": opt_state,
            **objective.after_update(config, state, params),  # BYOL: the target follows the weights just updated
        }
        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(params)]))
        metrics = {
            "loss": loss,
            **metrics,
            "grad_norm": optax.global_norm(grads),
            "learning_rate": schedule(state["step"]),
            "params_finite": finite,
        }
        return new_state, metrics

    return train_step


def jit_train_step(train_step, state_shardings, mesh: jax.sharding.Mesh):
    """Batch sharded over the data axis, state replicated and donated (updated in place on the device)."""
    from ssl_audio.distributed import replicated

    return jax.jit(
        train_step,
        in_shardings=(state_shardings, batch_sharding(mesh)),
        out_shardings=(state_shardings, replicated(mesh)),
        donate_argnums=0,
    )
