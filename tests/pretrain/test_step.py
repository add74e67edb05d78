"""The step's view lengths: the loader crops longer than the model's views when the chain can speed up."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from pretrain.config import load_config
from pretrain.step import crop_samples, make_augment, view_samples
from tests.pretrain.helpers import TINY


@pytest.mark.parametrize("backend", ["jax", "audiomentations"])
def test_views_are_cut_to_crop_seconds_from_a_longer_crop(backend):
    config = load_config(TINY, [f"--config.augment.backend={backend}"])
    view = view_samples(config)
    assert view == round(config.crop_seconds * config.sample_rate)
    assert crop_samples(config) == int(np.ceil(view * config.augment.time_stretch.max_rate))
    batch = np.random.default_rng(0).standard_normal((2, crop_samples(config))).astype(np.float32) * 0.1
    out = np.asarray(jax.jit(make_augment(config))(batch, jax.random.key(0)))
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
