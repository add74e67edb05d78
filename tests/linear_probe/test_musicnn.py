"""The probe's supervised peer: musicnn's MSD model from its own package, in a graph of its own."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.pretrain import helpers

THEIRS = """
import sys, numpy as np
from musicnn.extractor import extractor  # disables eager mode: a process of its own
_, _, features = extractor(sys.argv[1], model="MSD_musicnn", input_length=3, extract_features=True)
np.save(sys.argv[2], features["max_pool"][0])
"""


def test_our_graph_gives_musicnns_own_features(tmp_path):
    """The first 3-s patch of a quiet clip (musicnn's extractor casts its log-mel input to float16, which
    overflows on loud audio): our pooled layer is musicnn's, to float16's rounding of that input."""
    import soundfile as sf

    from ssl_audio_linear_probe import musicnn_peer

    rng = np.random.default_rng(0)
    t = np.arange(16_000 * 4) / 16_000
    audio = 0.005 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.001 * rng.normal(size=t.size)
    sf.write(tmp_path / "clip.wav", audio.astype(np.float32), 16_000)
    env = {**helpers.env(), "TF_USE_LEGACY_KERAS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", THEIRS, str(tmp_path / "clip.wav"), str(tmp_path / "theirs.npy")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = np.load(tmp_path / "theirs.npy")
    session, x, training, pooled, _, _ = musicnn_peer._graph()
    ours = session.run(pooled, feed_dict={x: musicnn_peer.patches(audio, 16_000)[:1], training: False})[0]
    assert ours.shape == (753,) and np.isfinite(theirs).all()
    assert np.abs(ours - theirs).max() <= 2e-3 * np.abs(theirs).max()
    # A clip's feature: the mean over its patches (here 1, then a zero-padded one for a short clip).
    assert musicnn_peer.clip_feature(audio[:16_000], 16_000).shape == (753,)


@pytest.mark.slow
def test_probe_puts_musicnn_beside_the_pretrained_encoder(checkpoint, prepared, tmp_path):
    name, data_dir = prepared
    out = tmp_path / "probe"
    result = subprocess.run(
        [sys.executable, "-m", "ssl_audio.cli", "probe", "--checkpoint", str(checkpoint), "--dataset", name,
         "--data-dir", data_dir, "--out", str(out), "--task", "genre", "--features", "pretrained,mfcc,musicnn",
         "--cache-dir", str(tmp_path / "cache"), "--quiet", "--workers", "1"],
        capture_output=True, text=True, env=helpers.env(), timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["features"]["musicnn"]["dim"] == 753
    assert set(results["tasks"]["genre"]["comparisons"]) == {"pretrained-mfcc", "pretrained-musicnn", "mfcc-musicnn"}
    assert " musicnn=" in result.stdout.splitlines()[-1] and "pretrained_vs_musicnn=" in result.stdout
    assert "musicnn MSD_musicnn" in (out / "report.md").read_text()


def test_without_the_package_the_peer_is_one_line_naming_the_install(monkeypatch):
    import importlib.util

    from ssl_audio_linear_probe import musicnn_peer

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "musicnn" else real(name, *a))
    with pytest.raises(musicnn_peer.MusicnnMissingError, match="musicnn not installed; pip install --no-deps musicnn"):
        musicnn_peer.check_installed()
