"""The two-view objectives: NT-Xent and DCL over the global batch, and BYOL (ssl_audio/losses.py holds their
math). Both views go through the model as one batch so batch norm sees both, as in SimCLR."""

from __future__ import annotations

import jax
import ml_collections
from flax import nnx

from ssl_audio.augment.views import TrainingViews
from ssl_audio.losses import byol, dcl, ema_decay, nt_xent
from ssl_audio.models.contrastive import ContrastiveModel
from ssl_audio.models.variables import other_variables
from ssl_audio.objectives.base import Objective


def contrastive_model(config: ml_collections.ConfigDict, *, seed: int, predictor: bool) -> ContrastiveModel:
    return ContrastiveModel(
        config.model,
        sample_rate=config.sample_rate,
        input_samples=int(round(config.crop_seconds * config.sample_rate)),
        compute_dtype=config.compute_dtype,
        predictor=predictor,
        rngs=nnx.Rngs(params=seed),
    )


class Contrastive(Objective):
    """NT-Xent or DCL: `loss(z_a, z_b, temperature, mesh) -> (loss, metrics)`."""

    def __init__(self, name: str, loss):
        self.name, self.loss = name, loss

    def build_model(self, config, *, seed=0):
        return contrastive_model(config, seed=seed, predictor=False)

    def loss_and_grads(self, config, graphdef, mesh=None, loss=None):
        """`loss` replaces the objective's own (tests swap in a deliberately wrong one to show they can fail)."""
        views = TrainingViews(config, mesh)
        temperature = float(config.temperature)
        contrastive_loss = loss or self.loss
        per_view = config.batch_norm == "per_view"

        def loss_and_grads(state, batch):
            view_a, view_b = views(state["rng"], state["step"], batch["view_a"], batch["view_b"])
            n = batch["view_a"].shape[0]

            def loss_fn(params):
                model = nnx.merge(graphdef, params, state["batch_stats"])
                if per_view:  # two calls, each view's batch its own statistics (running ones updated twice)
                    z_a, z_b = views.encode(model, view_a)[1], views.encode(model, view_b)[1]
                else:  # one batch of 2N, view a first
                    _, z = views.encode(model, views.joined(view_a, view_b))
                    z_a, z_b = z[:n], z[n:]
                value, metrics = contrastive_loss(z_a, z_b, temperature, mesh)
                return value, (metrics, other_variables(model))

            (value, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
            return value, metrics, grads, batch_stats

        return loss_and_grads


class Byol(Objective):
    """BYOL: the online network (encoder, projection, predictor) predicts the target network's projection
    of the other view; the target is the EMA of the online weights (state["target_params"]) and gets no
    gradient. Both views go through each network as one batch, as in the contrastive path."""

    name = "byol"

    def build_model(self, config, *, seed=0):
        return contrastive_model(config, seed=seed, predictor=True)

    def extra_state(self, config, params):
        return {"target_params": jax.tree.map(lambda p: p.copy(), params)}  # the target starts as the online net

    def after_update(self, config, state, params):
        tau = ema_decay(state["step"], int(config.total_steps), float(config.byol_tau))
        return {"target_params": jax.tree.map(lambda t, p: tau * t + (1 - tau) * p, state["target_params"], params)}

    def loss_and_grads(self, config, graphdef, mesh=None, loss=None):
        if loss is not None:
            raise ValueError("byol's loss is its own; a replacement loss is for nt_xent and dcl")
        views = TrainingViews(config, mesh)

        def loss_and_grads(state, batch):
            view_a, view_b = views(state["rng"], state["step"], batch["view_a"], batch["view_b"])
            both, n = views.joined(view_a, view_b), batch["view_a"].shape[0]
            target = nnx.merge(graphdef, state["target_params"], state["batch_stats"])
            _, t = views.encode(target, both)  # batch statistics are the batch's; running ones not kept
            t = jax.lax.stop_gradient(t)

            def loss_fn(params):
                model = nnx.merge(graphdef, params, state["batch_stats"])
                _, z = views.encode(model, both)
                q = model.predict(z)
                value, metrics = byol(q[:n], q[n:], t[:n], t[n:])
                return value, (metrics, other_variables(model))

            (value, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
            return value, metrics, grads, batch_stats

        return loss_and_grads


CONTRASTIVE = {"nt_xent": Contrastive("nt_xent", nt_xent), "dcl": Contrastive("dcl", dcl), "byol": Byol()}
