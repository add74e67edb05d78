"""One pretraining step, as pure functions of (state, batch) for `jax.jit`.

    views  = views(rng, step, view_a, view_b)     (on the device; ssl_audio/augment/views.py)
    z      = views.encode(model, views)             (ssl_audio/models/; with band-domain views, pitch and
                                                    stretch between the front end and the encoder)
    loss   = objective(z_a, z_b)                   (ssl_audio/losses.py: NT-Xent, DCL or BYOL; global batch)
    state' = optimizer update of state             (pretrain/optimizer.py)

Both views go through the model as one batch so batch norm sees both, as in SimCLR. Every random draw
comes from `fold_in(state.rng, state.step)`: a resumed run draws exactly what an uninterrupted one would.
What the loader crops and how a view is made live in ssl_audio/augment/views.py, not here.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from ssl_audio.augment.views import TrainingViews
from ssl_audio.distributed import batch_sharding
from ssl_audio.losses import OBJECTIVES, byol, ema_decay
from ssl_audio.models.variables import other_variables
from ssl_audio_pretrain.optimizer import learning_rate_schedule
from ssl_audio_pretrain.state import State

Batch = dict[str, jax.Array]


def make_loss_and_grads(
    config: ml_collections.ConfigDict,
    graphdef: nnx.GraphDef,
    mesh: jax.sharding.Mesh | None = None,
    contrastive_loss=None,
):
    """(state, batch) -> (loss, metrics, grads, new batch_stats). Separate from the update so tests can
    compare gradients across device counts (and swap in a deliberately wrong loss to show they can fail)."""
    views = TrainingViews(config, mesh)
    temperature = float(config.temperature)
    objective = config.objective
    if objective == "byol" and contrastive_loss is None:
        return _byol_loss_and_grads(views, graphdef)
    contrastive_loss = contrastive_loss or OBJECTIVES[objective]
    per_view = config.batch_norm == "per_view"

    def loss_and_grads(state: State, batch: Batch):
        view_a, view_b = views(state["rng"], state["step"], batch["view_a"], batch["view_b"])
        n = batch["view_a"].shape[0]

        def loss_fn(params):
            model = nnx.merge(graphdef, params, state["batch_stats"])
            if per_view:  # two calls, each view's batch its own statistics (running ones updated twice)
                z_a, z_b = views.encode(model, view_a)[1], views.encode(model, view_b)[1]
            else:  # one batch of 2N, view a first
                _, z = views.encode(model, views.joined(view_a, view_b))
                z_a, z_b = z[:n], z[n:]
            loss, metrics = contrastive_loss(z_a, z_b, temperature, mesh)
            return loss, (metrics, other_variables(model))

        (loss, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        return loss, metrics, grads, batch_stats

    return loss_and_grads


def _byol_loss_and_grads(views: TrainingViews, graphdef: nnx.GraphDef):
    """BYOL: the online network (encoder, projection, predictor) predicts the target network's projection
    of the other view; the target is the EMA of the online weights (state["target_params"]) and gets no
    gradient. Both views go through each network as one batch, as in the contrastive path."""

    def loss_and_grads(state: State, batch: Batch):
        view_a, view_b = views(state["rng"], state["step"], batch["view_a"], batch["view_b"])
        both, n = views.joined(view_a, view_b), batch["view_a"].shape[0]
        target = nnx.merge(graphdef, state["target_params"], state["batch_stats"])
        _, t = views.encode(target, both)  # batch statistics are the batch's; running ones not kept
        t = jax.lax.stop_gradient(t)

        def loss_fn(params):
            model = nnx.merge(graphdef, params, state["batch_stats"])
            _, z = views.encode(model, both)
            q = model.predict(z)
            loss, metrics = byol(q[:n], q[n:], t[:n], t[n:])
            return loss, (metrics, other_variables(model))

        (loss, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        return loss, metrics, grads, batch_stats

    return loss_and_grads


def make_train_step(
    config: ml_collections.ConfigDict,
    graphdef: nnx.GraphDef,
    tx: optax.GradientTransformation,
    mesh: jax.sharding.Mesh | None = None,
):
    loss_and_grads = make_loss_and_grads(config, graphdef, mesh)
    schedule = learning_rate_schedule(config)
    total_steps, ema_base = int(config.total_steps), float(config.byol_tau)

    def train_step(state: State, batch: Batch) -> tuple[State, dict[str, jax.Array]]:
        loss, metrics, grads, batch_stats = loss_and_grads(state, batch)
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        new_state = {
            "step": state["step"] + 1,
            "params": params,
            "batch_stats": batch_stats,
            "opt_state": opt_state,
            "rng": state["rng"],
        }
        if "target_params" in state:  # BYOL: the target follows the online weights just updated
            tau = ema_decay(state["step"], total_steps, ema_base)
            new_state["target_params"] = jax.tree.map(
                lambda t, p: tau * t + (1 - tau) * p, state["target_params"], params
            )
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
