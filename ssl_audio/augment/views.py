"""The two views of a training batch: what the loader crops, how each crop is augmented, and how a view goes
through the model. One object per run (`TrainingViews(config)`); the training step calls it once for the
views and once to encode them, and knows nothing of crops, chains or bands.

    crops [N, crop_samples] --chain--> views [N, view_samples]                  (augment.pitch_stretch="waveform")
    crops [N, crop_samples] --chain without pitch/stretch--> waveforms, band draws --model's front end,
        band shift and stretch (bands.py)--> the encoder                         (augment.pitch_stretch="bands")

A view is cut to its length after the stretch, so the loader crops more than a view when the chain can speed
one up (chain.input_samples). Every draw comes from `fold_in(rng, step)`: a resumed run draws what an
uninterrupted one would.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from ssl_audio.augment.bands import BandViews, uses_bands, waveform_config
from ssl_audio.augment.chain import input_samples, make_chain
from ssl_audio.distributed import batch_sharding

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


class TrainingViews:
    """config: a pretraining config (crop_seconds, sample_rate, augment, model). Given the step's `mesh`,
    each device augments its own shard of the batch (make_chain). Building it loads the IR folder, if any,
    and checks band views against the model: errors come before anything is written."""

    def __init__(self, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None = None):
        self.view_samples, self.crop_samples = view_samples(config), crop_samples(config)
        self.mesh = mesh
        self.bands = BandViews(config.augment, config.model, self.view_samples) if uses_bands(config.augment) else None
        if self.bands is not None:  # the chain without pitch and stretch, keeping crop_samples for the bands
            self.chain = make_chain(waveform_config(config.augment), self.view_samples, cut=False, mesh=mesh)
        elif config.augment.backend == "jax":
            self.chain = make_chain(config.augment, self.view_samples, mesh=mesh)
        else:  # the data loader augmented already (backend audiomentations): only the cut is left
            self.chain = lambda batch, key: batch[:, : self.view_samples]

    def __call__(self, rng: jax.Array, step: jax.Array, view_a: jax.Array, view_b: jax.Array) -> tuple[Views, Views]:
        """Both views of the batch augmented: [N, T] waveforms each, or with band views (waveforms [N,
        crop_samples], their band-domain draws). `rng` is the run's key data, `step` the state's step."""
        rng = jax.random.fold_in(jax.random.wrap_key_data(rng), step)
        key_a, key_b = jax.random.split(rng)
        a, b = self.chain(view_a, key_a), self.chain(view_b, key_b)
        if self.bands is None:
            return a, b
        # Keys of their own (folded in, not split off key_a/key_b): the waveform chain draws what it drew before.
        band_a, band_b = jax.random.split(jax.random.fold_in(rng, 1))
        return (a, self.bands.sample(band_a, a.shape[0])), (b, self.bands.sample(band_b, b.shape[0]))

    def encode(self, model, views: Views):
        """(embedding, projection) of a batch of views, through the band-domain stage when there is one."""
        if self.bands is None:
            return model(views)
        audio, params = views
        bands = model.encoder.spectrogram(audio, margin=self.bands.margin)
        return model.from_spectrogram(self.bands.apply(bands, params))

    def joined(self, a: Views, b: Views) -> Views:
        """One batch of 2N views, view a first, sharded over the mesh's data axis as the views were: left to
        itself, XLA all-gathered the concatenation and ran the model's front end (its STFT) for the global
        batch on every device."""
        joined = jax.tree.map(lambda x, y: jnp.concatenate([x, y]), a, b)
        if self.mesh is None:
            return joined
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, batch_sharding(self.mesh)), joined)
