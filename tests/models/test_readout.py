"""One definition of what an encoder hands out (config.model.readout), used by the API, HEAR, the
SavedModel and the probe alike: the "blocks" read-out is every block's pooled map, then the embedding."""

from __future__ import annotations

import json
import shutil

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import ssl_audio
from ssl_audio.errors import UsageError
from ssl_audio.models.frontend import log_mel
from ssl_audio.objectives import build_model
from ssl_audio.pretrained import load_encoder, with_readout
from ssl_audio_pretrain.config import load_config
from tests.pretrain.helpers import TINY
from tests.tolerance import assert_float32_close

pytestmark = pytest.mark.slow


def _with_readout(checkpoint, folder, readout):
    """The shared tiny run with the same weights, its config saying `readout`."""
    run = folder / "run"
    shutil.copytree(checkpoint, run)
    config = json.loads((run / "config.json").read_text())
    config["model"]["readout"] = readout
    (run / "config.json").write_text(json.dumps(config))
    return run


@pytest.fixture(scope="module")
def blocks_checkpoint(checkpoint, tmp_path_factory):
    return _with_readout(checkpoint, tmp_path_factory.mktemp("blocks"), "blocks")


@pytest.fixture(scope="module")
def embedding_checkpoint(checkpoint, tmp_path_factory):
    return _with_readout(checkpoint, tmp_path_factory.mktemp("embedding"), "embedding")


def _windows(model, n=3):
    return np.random.default_rng(0).uniform(-0.5, 0.5, (n, model.window_samples)).astype(np.float32)


def test_blocks_read_out_is_each_blocks_pooled_map_then_the_embedding(embedding_checkpoint, blocks_checkpoint):
    plain, blocks = ssl_audio.load_model(embedding_checkpoint), ssl_audio.load_model(blocks_checkpoint)
    config = load_config(str(embedding_checkpoint / "config.json"))
    channels, size = tuple(config.model.channels), int(config.model.embedding_size)
    windows = _windows(plain)
    a, b = plain.embed_windows(windows), blocks.embed_windows(windows)
    assert a.shape == (3, size) and b.shape == (3, sum(channels) + size)
    assert_float32_close(b[:, -size:], a)  # the same weights: the embedding is the read-out's tail

    # The block maps computed here by hand, step by step: max over frequency, then mean over time.
    encoder = load_encoder(embedding_checkpoint)
    model = nnx.merge(encoder.graphdef, encoder.params, encoder.batch_stats)
    model.eval()
    cnn = model.encoder
    x = cnn.input_norm(log_mel(jnp.asarray(windows), **cnn.frontend)[..., None])
    pooled = []
    for block in cnn.blocks:
        x = block(x)
        pooled.append(np.asarray(x).max(axis=2).mean(axis=1))
    assert_float32_close(b[:, : sum(channels)], np.concatenate(pooled, axis=1))


def test_hear_and_probe_features_hand_out_the_same_read_out(blocks_checkpoint, prepared):
    import tensorflow as tf

    from ssl_audio import hear
    from ssl_audio.data.pipeline import open_dataset
    from ssl_audio_linear_probe import features as F

    api = ssl_audio.load_model(blocks_checkpoint)
    module = hear.load_model(str(blocks_checkpoint))
    assert module.scene_embedding_size == module.timestamp_embedding_size == api.embedding_size
    audio = np.random.default_rng(1).uniform(-0.5, 0.5, (1, 2 * api.sample_rate)).astype(np.float32)
    scene = np.asarray(hear.get_scene_embeddings(tf.constant(audio), module))[0]
    assert_float32_close(scene, api.embed(audio[0], api.sample_rate).scene)

    name, data_dir = prepared
    encoder = load_encoder(blocks_checkpoint)
    # The cache tells read-outs of the same weights apart.
    assert F.encoder_feature_id(encoder, None, "mean") != F.encoder_feature_id(
        load_encoder(blocks_checkpoint, readout="embedding"), None, "mean"
    )
    handle = open_dataset(name, data_dir, sample_rate=encoder.sample_rate)
    assert F.encoder_features(encoder, handle, "train", progress=False).x.shape[1] == api.embedding_size


def test_savedmodel_hands_out_the_same_read_out(blocks_checkpoint, tmp_path):
    import tensorflow as tf

    from tests.embed.test_savedmodel import export

    result = export(blocks_checkpoint, tmp_path / "sm")
    assert result.returncode == 0, result.stderr[-3000:]
    api = ssl_audio.load_model(blocks_checkpoint)
    windows = _windows(api, 2)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))  # held: its functions die with the object
    assert_float32_close(loaded.embed_windows(tf.constant(windows)).numpy(), api.embed_windows(windows))


def test_encoders_without_the_blocks_read_out_say_so():
    # What `ssl-audio probe --readout blocks` asks of a samplecnn run (the probe overrides a copy).
    config = with_readout(load_config("configs/simclr_samplecnn.py:tiny"), "blocks")
    with pytest.raises(UsageError, match="config.model.readout"):
        build_model(config)
    config.model.readout = "embedding"
    build_model(config)  # "embedding" is every encoder's read-out
    tiny = load_config(TINY, ["--config.model.readout=blocks"])  # an override the logmel config takes
    assert tiny.model.readout == "blocks"


def test_a_cnn_block_is_read_out_alone_pooled_over_time_or_keeping_its_frequency_axis():
    import jax

    config = load_config(TINY, [])
    model = build_model(config)
    encoder = model.encoder
    audio = jax.random.normal(jax.random.key(0), (2, 16_000)) * 0.1
    _, maps = encoder._forward(audio)  # [B, time, frequency, channels] per block
    m = maps[1]
    expected = {
        "block2": jnp.max(m, axis=2).mean(axis=1),
        "block2:max": jnp.max(m, axis=2).max(axis=1),
        "block2:frequency": jnp.mean(m, axis=1).reshape(2, -1),
    }
    for readout, want in expected.items():
        encoder.readout = readout
        np.testing.assert_allclose(encoder.embed(audio), want, rtol=1e-5, err_msg=readout)
    assert expected["block2:frequency"].shape[1] == m.shape[2] * m.shape[3]
