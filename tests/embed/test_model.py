"""The Python API: `ssl_audio.load_model(CKPT).embed(audio, sample_rate)`."""

from __future__ import annotations

import numpy as np
import pytest

import ssl_audio
from ssl_audio.audio.decode import DecodeError
from tests.embed.conftest import music
from tests.tolerance import assert_float32_close

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(checkpoint):
    return ssl_audio.load_model(checkpoint, batch_size=8)


def test_embed_returns_scene_and_timestamped_windows(model):
    assert model.sample_rate == 16_000 and model.window_seconds == 1.0
    audio = music(3.5, 16_000, seed=0)
    e = model.embed(audio, 16_000)
    assert e.windows.shape == (4, model.embedding_size) and e.windows.dtype == np.float32
    np.testing.assert_allclose(e.starts, [0.0, 1.0, 2.0, 2.5])
    np.testing.assert_allclose(e.ends, [1.0, 2.0, 3.0, 3.5])
    np.testing.assert_allclose(e.timestamps, [0.5, 1.5, 2.5, 3.0])
    np.testing.assert_allclose(e.scene, e.windows.mean(axis=0), rtol=1e-6)
    # Each window's embedding is the encoder's on exactly those samples, whatever else shares its batch.
    alone = model.embed_windows(audio[16_000 * 2 : 16_000 * 3][None])
    assert_float32_close(e.windows[2], alone[0])
    assert np.abs(e.windows[0] - e.windows[1]).max() > 1e-4


def test_batches_larger_than_the_device_batch_give_the_same_embeddings(model):
    windows = np.stack([music(1.0, 16_000, seed=s) for s in range(19)])  # 8 + 8 + 3 (padded)
    together = model.embed_windows(windows)
    one_by_one = np.concatenate([model.embed_windows(w[None]) for w in windows])
    assert_float32_close(together, one_by_one)


def test_channels_either_way_round_and_other_rates(model):
    mono = music(2.0, 16_000, seed=1)
    expected = model.embed(mono, 16_000).scene
    np.testing.assert_allclose(model.embed(np.stack([mono, mono], axis=1), 16_000).scene, expected, atol=1e-6)
    np.testing.assert_allclose(model.embed(np.stack([mono, mono]), 16_000).scene, expected, atol=1e-6)
    resampled = model.embed(music(2.0, 44_100, seed=1), 44_100)
    assert resampled.duration == pytest.approx(2.0) and resampled.windows.shape[0] == 2


def test_short_clip_max_pooling_and_bad_arrays(checkpoint, model):
    short = model.embed(music(0.3, 16_000, seed=2), 16_000)
    assert short.windows.shape[0] == 1 and short.ends[0] == pytest.approx(0.3)
    maxed = ssl_audio.load_model(checkpoint, pooling="max", hop_seconds=0.5)
    e = maxed.embed(music(2.0, 16_000, seed=3), 16_000)
    assert len(e.starts) == 3
    np.testing.assert_allclose(e.scene, e.windows.max(axis=0))
    bad = music(1.0, 16_000, seed=4)
    bad[10] = np.nan
    with pytest.raises(DecodeError, match="NaN"):
        model.embed(bad, 16_000)
    with pytest.raises(ValueError, match="sample_rate"):
        model.embed(bad, 0)
    with pytest.raises(ValueError, match="shape"):
        model.embed(np.zeros((2, 3, 4)), 16_000)


def test_a_fixed_length_encoder_refuses_other_window_lengths():
    from ssl_audio.embed.model import EmbeddingModel
    from ssl_audio.pretrained import random_encoder
    from ssl_audio_configs.simclr_transformer import get_config

    encoder = random_encoder(get_config("tiny"))
    with pytest.raises(ValueError, match="takes windows of exactly"):
        EmbeddingModel(encoder, window_seconds=encoder.window_seconds * 2)
    assert EmbeddingModel(encoder, hop_seconds=0.25).hop_samples == 4_000
    with pytest.raises(ValueError, match="at least 0.1"):
        EmbeddingModel(encoder, window_seconds=0.001)
    with pytest.raises(ValueError, match="hop-seconds positive"):
        EmbeddingModel(encoder, hop_seconds=-1.0)


def test_a_cnn_encoder_takes_longer_windows_than_it_was_trained_on():
    from ssl_audio.embed.model import EmbeddingModel
    from ssl_audio.pretrained import random_encoder
    from ssl_audio_configs.simclr_logmel_cnn import get_config

    model = EmbeddingModel(random_encoder(get_config("tiny")), window_seconds=2.5, hop_seconds=1.0)
    e = model.embed(music(4.0, 16_000, seed=5), 16_000)
    np.testing.assert_allclose(e.starts, [0.0, 1.0, 1.5])
    assert e.windows.shape == (3, model.embedding_size) and np.isfinite(e.windows).all()
