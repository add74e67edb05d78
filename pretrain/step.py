"""One pretraining step, as pure functions of (state, batch) for `jax.jit`.

    views  = augment(view_a), augment(view_b)     (on the device; ssl_audio/augment/chain.py)
    z      = model(views)                          (ssl_audio/models/; with augment.pitch_stretch="bands",
                                                    pitch and stretch between front end and encoder:
                                                    ssl_audio/augment/bands.py)
    loss   = objective(z_a, z_b)                   (ssl_audio/losses.py: NT-Xent, DCL or BYOL; global batch)
    state' = optimizer update of state             (pretrain/optimizer.py)

Both views go through the model as one batch so batch norm sees both, as in SimCLR. Every random draw
comes from `fold_in(state.rng, state.step)`: a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from ssl_audio.augment.bands import BandViews, uses_bands, waveform_config
from ssl_audio.augment.chain import input_samples, make_chain
from ssl_audio.distributed import batch_sharding
from ssl_audio.losses import OBJECTIVES, byol, ema_decay
from ssl_audio.models.variables import other_variables
from ssl_audio_pretrain.optimizer import learning_rate_schedule
from ssl_audio_pretrain.state import State

Batch = dict[str, jax.Array]
# A batch of views as the model takes them: waveforms [N, T], or with band-domain views (waveforms [N,
# crop_samples], each example's semitones and rate) for the stage after the front end.
Views = jax.Array | tuple[jax.Array, dict[str, jax.Array]]


def view_samples(config: ml_collections.ConfigDict) -> int:
    """Samples of each view the model sees."""
    return int(round(config.crop_seconds * config.sample_rate))


def crop_samples(config: ml_collections.ConfigDict) -> int:
    """Samples the loader crops for each view: more than `view_samples` when the chain can speed a view up,
    so that a stretched view is audio to its end (ssl_audio/augment/chain.py)."""
    return input_samples(config.augment, view_samples(config))


def make_augment(
    config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None = None
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """The on-device chain ([B, crop_samples] -> [B, view_samples]), or a cut to view_samples when the data
    loader already augmented (backend audiomentations). With band-domain pitch and stretch the chain runs
    without them and keeps crop_samples: `make_band_views` makes the rest of the view. Given the step's
    `mesh`, each device augments its own shard of the batch (make_chain)."""
    if uses_bands(config.augment):
        return make_chain(waveform_config(config.augment), view_samples(config), cut=False, mesh=mesh)
    if config.augment.backend == "jax":
        return make_chain(config.augment, view_samples(config), mesh=mesh)
    length = view_samples(config)
    return lambda batch, key: batch[:, :length]


def make_band_views(config: ml_collections.ConfigDict) -> BandViews | None:
    """Pitch shift and time stretch on the model's bands (augment.pitch_stretch="bands"), else None."""
    return BandViews(config.augment, config.model, view_samples(config)) if uses_bands(config.augment) else None


def _views(state: State, batch: Batch, augment, band_views: BandViews | None = None) -> tuple[Views, Views]:
    """Both views of the batch augmented, every objective's: [N, T] waveforms each, or with band views
    (waveforms [N, crop_samples], their band-domain draws)."""
    rng = jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), state["step"])
    key_a, key_b = jax.random.split(rng)
    a, b = augment(batch["view_a"], key_a), augment(batch["view_b"], key_b)
    if band_views is None:
        return a, b
    # Keys of their own (folded in, not split off key_a/key_b): the waveform chain draws what it drew before.
    band_a, band_b = jax.random.split(jax.random.fold_in(rng, 1))
    return (a, band_views.sample(band_a, a.shape[0])), (b, band_views.sample(band_b, b.shape[0]))


def _forward(model, views: Views, band_views: BandViews | None):
    """(embedding, projection) of a batch of views, through the band-domain stage when there is one."""
    if band_views is None:
        return model(views)
    audio, params = views
    bands = model.encoder.spectrogram(audio, margin=band_views.margin)
    return model.from_spectrogram(band_views.apply(bands, params))


def _joined(a: Views, b: Views, mesh: jax.sharding.Mesh | None = None) -> Views:
    """One batch of 2N views, view a first, sharded over the mesh's data axis as the views were: left to
    itself, XLA all-gathered the concatenation and ran the model's front end (its STFT) for the global
    batch on every device."""
    joined = jax.tree.map(lambda x, y: jnp.concatenate([x, y]), a, b)
    if mesh is None:
        return joined
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, batch_sharding(mesh)), joined)


def make_loss_and_grads(
    config: ml_collections.ConfigDict,
    graphdef: nnx.GraphDef,
    mesh: jax.sharding.Mesh | None = None,
    contrastive_loss=None,
):
    """(state, batch) -> (loss, metrics, grads, new batch_stats). Separate from the update so tests can
    compare gradients across device counts (and swap in a deliberately wrong loss to show they can fail)."""
    augment, band_views = make_augment(config, mesh), make_band_views(config)
    temperature = float(config.temperature)
    objective = config.objective
    if objective == "byol" and contrastive_loss is None:
        return _byol_loss_and_grads(augment, band_views, graphdef, mesh)
    contrastive_loss = contrastive_loss or OBJECTIVES[objective]
    per_view = config.batch_norm == "per_view"

    def loss_and_grads(state: State, batch: Batch):
        view_a, view_b = _views(state, batch, augment, band_views)
        n = batch["view_a"].shape[0]

        def loss_fn(params):
            model = nnx.merge(graphdef, params, state["batch_stats"])
            if per_view:  # two calls, each view's batch its own statistics (running ones updated twice)
                z_a, z_b = _forward(model, view_a, band_views)[1], _forward(model, view_b, band_views)[1]
            else:  # one batch of 2N, view a first
                _, z = _forward(model, _joined(view_a, view_b, mesh), band_views)
                z_a, z_b = z[:n], z[n:]
            loss, metrics = contrastive_loss(z_a, z_b, temperature, mesh)
            return loss, (metrics, other_variables(model))

        (loss, (metrics, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        return loss, metrics, grads, batch_stats

    return loss_and_grads


def _byol_loss_and_grads(
    augment, band_views: BandViews | None, graphdef: nnx.GraphDef, mesh: jax.sharding.Mesh | None = None
):
    """BYOL: the online network (encoder, projection, predictor) predicts the target network's projection
    of the other view; the target is the EMA of the online weights (state["target_params"]) and gets no
    gradient. Both views go through each network as one batch, as in the contrastive path."""

    def loss_and_grads(state: State, batch: Batch):
        view_a, view_b = _views(state, batch, augment, band_views)
        views, n = _joined(view_a, view_b, mesh), batch["view_a"].shape[0]
        target = nnx.merge(graphdef, state["target_params"], state["batch_stats"])
        _, t = _forward(target, views, band_views)  # batch statistics are the batch's; running ones not kept
        t = jax.lax.stop_gradient(t)

        def loss_fn(params):
            model = nnx.merge(graphdef, params, state["batch_stats"])
            _, z = _forward(model, views, band_views)
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
