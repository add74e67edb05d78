"""ssl_audio.hear against the HEAR 2021 API, checked the way hear-validator checks a TensorFlow module."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from ssl_audio import hear
from tests.tolerance import assert_float32_close

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(checkpoint):
    return hear.load_model(str(checkpoint))


def test_model_attributes(model):
    assert isinstance(model, tf.Module)  # the validator takes TF or torch modules only
    assert model.sample_rate in (16000, 22050, 44100, 48000)
    assert isinstance(model.scene_embedding_size, int) and isinstance(model.timestamp_embedding_size, int)


@pytest.mark.parametrize("length", [1.07, 1.98, 4.0])
def test_timestamp_embeddings_like_the_validator(model, length):
    audio = tf.random.uniform((2, int(length * model.sample_rate))) * 2 - 1.0
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert embeddings.dtype == tf.float32
    embeddings, timestamps = embeddings.numpy(), timestamps.numpy()
    assert embeddings.ndim == 3 and timestamps.ndim == 2
    assert embeddings.shape[0] == 2 and embeddings.shape[:2] == timestamps.shape
    assert embeddings.shape[2] == model.timestamp_embedding_size
    diff = np.diff(timestamps)
    assert diff.max() <= 50.0  # HEAR: at most 50 ms between timestamps
    assert np.abs(diff - diff.mean()).max() <= 1.0  # regular
    assert timestamps.min() <= diff.mean()
    assert 1000 * length - 2 * diff.mean() <= timestamps.max() <= 1000 * length
    assert np.isfinite(embeddings).all()


def test_timestamp_embedding_is_the_window_centred_on_its_timestamp(model):
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 3 * model.sample_rate)).astype(np.float32)
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)  # NumPy in, NumPy out
    assert isinstance(embeddings, np.ndarray)
    em = model.embedding_model
    k = 30  # 1.5 s: a window entirely inside the sound
    centre = int(round(timestamps[0, k] * model.sample_rate / 1000))
    window = audio[0, centre - em.window_samples // 2 : centre - em.window_samples // 2 + em.window_samples]
    assert_float32_close(embeddings[0, k], em.embed_windows(window[None])[0])
    edge = np.concatenate(
        [np.zeros(em.window_samples // 2, np.float32), audio[0, : em.window_samples - em.window_samples // 2]]
    )
    assert_float32_close(embeddings[0, 0], em.embed_windows(edge[None])[0])


def test_scene_embeddings_like_the_validator(model):
    audio = tf.random.uniform((4, int(2.74 * model.sample_rate))) * 2 - 1.0
    embeddings = hear.get_scene_embeddings(audio, model).numpy()
    assert embeddings.dtype == np.float32 and embeddings.shape == (4, model.scene_embedding_size)
    assert np.abs(embeddings[0] - embeddings[1]).max() > 0  # different sounds, different embeddings


def test_no_path_and_bad_shapes_are_explained():
    with pytest.raises(ValueError, match="needs a path"):
        hear.load_model()
    with pytest.raises(ValueError, match=r"\[n_sounds, n_samples\]"):
        hear._to_numpy(np.zeros(16000))
