"""`ssl-audio export-savedmodel`: a SavedModel that TensorFlow reloads and that matches JAX (tests/tolerance.py)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import ssl_audio
from tests.embed.conftest import music
from tests.pretrain import helpers
from tests.tolerance import assert_float32_close

pytestmark = pytest.mark.slow


def export(checkpoint, out, *extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ssl_audio.cli",
            "export-savedmodel",
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=helpers.env(),
        timeout=300,
    )


def test_savedmodel_reloads_and_matches_jax(checkpoint, tmp_path):
    out = tmp_path / "savedmodel"
    result = export(checkpoint, out, "--hop-seconds", "0.5")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "max abs difference" in result.stdout

    loaded = tf.saved_model.load(str(out))
    jax_model = ssl_audio.load_model(checkpoint, hop_seconds=0.5)
    assert int(loaded.sample_rate.numpy()) == jax_model.sample_rate
    assert int(loaded.window_samples.numpy()) == jax_model.window_samples

    rng = np.random.default_rng(1)
    for batch in (1, 5):  # the batch dimension is symbolic
        windows = rng.uniform(-1, 1, (batch, jax_model.window_samples)).astype(np.float32)
        assert_float32_close(loaded.embed_windows(tf.constant(windows)).numpy(), jax_model.embed_windows(windows))
    serving = loaded.signatures["serving_default"]
    out_tensor = next(iter(serving(audio=tf.constant(windows)).values()))
    assert_float32_close(out_tensor.numpy(), jax_model.embed_windows(windows))

    for seconds in (2.3, 0.4):  # windows cut in TF, the last one at the clip's end
        audio = music(seconds, jax_model.sample_rate, seed=int(seconds * 10))
        tf_out = loaded.embed_clip(tf.constant(audio))
        expected = jax_model.embed(audio, jax_model.sample_rate)
        np.testing.assert_allclose(tf_out["starts"].numpy(), expected.starts, atol=1e-9)
        np.testing.assert_allclose(tf_out["ends"].numpy(), expected.ends, atol=1e-9)
        assert_float32_close(tf_out["windows"].numpy(), expected.windows)
        assert_float32_close(tf_out["scene"].numpy(), expected.scene)
    # Integer PCM is scaled by its full range, as in the Python API (not taken as floats of 20000).
    pcm = np.round(audio * 32767).astype(np.int16)
    for ints in (pcm, pcm.astype(np.int32) * 65536, (pcm // 256 + 128).astype(np.uint8)):
        scene = loaded.embed_clip(ints)["scene"].numpy()
        assert_float32_close(scene, jax_model.embed(ints, jax_model.sample_rate).scene)
        cosine = scene @ tf_out["scene"].numpy() / np.linalg.norm(scene) / np.linalg.norm(tf_out["scene"].numpy())
        assert cosine > 0.99
    with pytest.raises(ValueError, match="Could not find matching concrete function"):
        loaded.embed_clip(pcm.astype(np.int64))  # no full range to scale by: refused, as the Python API does
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio has no samples"):  # as the Python API
        loaded.embed_clip(tf.constant(np.zeros(0, np.float32)))
    with pytest.raises(ValueError, match="audio has no samples"):
        jax_model.embed(np.zeros(0, np.float32), jax_model.sample_rate)

    # The README's SavedModel snippet, as written, on this export.
    from tests.test_readme import block_with

    snippet = {"tf": tf, "windows": windows, "audio": music(1.5, jax_model.sample_rate, seed=3)}
    exec(block_with("tf.saved_model.load").replace("runs/demo/savedmodel", str(out)), snippet)

    again = export(checkpoint, out)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert export(checkpoint, out, "--overwrite").returncode == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("x")
    refused = export(checkpoint, tmp_path / "other", "--overwrite")
    assert refused.returncode == 2 and "not a SavedModel" in refused.stderr
