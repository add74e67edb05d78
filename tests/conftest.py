"""Shared fixtures: small audio files and datasets the tests make themselves (nothing is downloaded)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import pytest
import soundfile as sf


def write_tone(path, *, seconds=2.0, rate=16_000, freq=440.0, channels=1, amplitude=0.5, fmt=None,
               subtype=None):
    """A sine tone file; returns its path."""
    t = np.arange(int(seconds * rate)) / rate
    x = (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    os.makedirs(os.path.dirname(str(path)) or ".", exist_ok=True)
    sf.write(str(path), data, rate, format=fmt, subtype=subtype)
    return path


@pytest.fixture
def tone():
    return write_tone


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
    """A small embedded dataset: 30 clips of 3 s, 2 artists per genre (rendered once per test session)."""
    from ssl_audio.synth.generate import SynthOptions, synth_dataset
    out = tmp_path_factory.mktemp("synth") / "audio"
    synth_dataset(out, SynthOptions(clips=30, seed=7, seconds=3.0, artists_per_genre=3), workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def prepared(synth_dir, tmp_path_factory):
    """synth_dir built as the TFDS dataset 'tiny'; returns (name, data_dir)."""
    from ssl_audio.data.prepare import PrepareOptions, prepare
    data_dir = tmp_path_factory.mktemp("tfds")
    prepare(synth_dir, PrepareOptions(name="tiny", data_dir=str(data_dir), workers=1))
    return "tiny", str(data_dir)


@pytest.fixture(scope="session")
def checkpoint(prepared, tmp_path_factory):
    """A pretraining workdir of the tiny logmel_cnn config after 2 steps, made by the CLI as a user would."""
    from tests.pretrain import helpers
    workdir = tmp_path_factory.mktemp("pretrained_tiny") / "run"
    result = helpers.run(workdir, prepared, "--config.total_steps=2", "--config.optimizer.warmup_steps=1")
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir
