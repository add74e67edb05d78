"""The step's view lengths: the loader crops longer than the model's views when the chain can speed up."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ssl_audio.augment.views import TrainingViews, crop_samples, view_samples
from ssl_audio_pretrain.config import load_config
from tests.pretrain.helpers import TINY


@pytest.mark.parametrize("backend", ["jax", "audiomentations"])
def test_views_are_cut_to_crop_seconds_from_a_longer_crop(backend):
    config = load_config(TINY, [f"--config.augment.backend={backend}"])
    view = view_samples(config)
    assert view == round(config.crop_seconds * config.sample_rate)
    assert crop_samples(config) == int(np.ceil(view * config.augment.time_stretch.max_rate))
    batch = np.random.default_rng(0).standard_normal((2, crop_samples(config))).astype(np.float32) * 0.1
    out = np.asarray(jax.jit(TrainingViews(config).chain)(batch, jax.random.key(0)))
    assert out.shape == (2, view)


def test_reference_path_cuts_views_to_the_same_length():
    from ssl_audio.augment.config import all_ops
    from ssl_audio.augment.reference import AudiomentationsViews

    config = load_config(TINY, [])
    view = view_samples(config)
    transform = AudiomentationsViews(all_ops(config.augment), view)
    rng = np.random.default_rng(0)
    element = {v: (0.1 * rng.standard_normal(crop_samples(config))).astype(np.float32) for v in ("view_a", "view_b")}
    for seed in range(3):
        out = transform.random_map(element, np.random.default_rng(seed))
        assert out["view_a"].shape == out["view_b"].shape == (view,)


@pytest.mark.parametrize("batch_norm", ["joint", "per_view"])
def test_per_view_batch_norm_keeps_a_view_from_seeing_the_other_views_batch(batch_norm):
    """With joint statistics, changing view b's audio changes view a's projections (the leak a model can
    match positives by); with per-view statistics it cannot."""
    from ssl_audio.distributed import make_mesh
    from ssl_audio_pretrain.optimizer import make_optimizer
    from ssl_audio_pretrain.state import create_state, model_graphdef
    from ssl_audio_pretrain.step import make_loss_and_grads

    config = load_config(TINY, ["--config.augment.backend=audiomentations", f"--config.batch_norm={batch_norm}"])
    state, _ = create_state(config, make_optimizer(config), make_mesh(jax.devices()[:1]))

    def spy(z_a, z_b, temperature, mesh):  # the loss sees both projections; report view a's
        return jax.numpy.sum(z_a * z_b), {"z_a": z_a}

    step = jax.jit(make_loss_and_grads(config, model_graphdef(config), None, spy))
    rng = np.random.default_rng(0)
    shape = (config.batch_size, crop_samples(config))
    view_a = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    z = [
        np.asarray(
            step(state, {"view_a": view_a, "view_b": (gain * rng.standard_normal(shape)).astype(np.float32)})[1]["z_a"]
        )
        for gain in (0.1, 0.5)
    ]
    if batch_norm == "per_view":
        np.testing.assert_allclose(z[0], z[1], rtol=1e-5, atol=1e-6)
    else:
        assert np.max(np.abs(z[0] - z[1])) > 1e-3


def test_per_view_batch_norm_is_refused_with_byol_naming_the_key():
    from ssl_audio_pretrain.config import ConfigError

    with pytest.raises(ConfigError, match="config.batch_norm: per_view is for the contrastive"):
        load_config(TINY, ["--config.objective=byol", "--config.batch_norm=per_view"])
    with pytest.raises(ConfigError, match="config.batch_norm: must be one of"):
        load_config(TINY, ["--config.batch_norm=shuffled"])
