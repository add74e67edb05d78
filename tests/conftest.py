"""Shared fixtures: small audio files and datasets the tests make themselves (nothing is downloaded)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import pytest
import soundfile as sf


def write_tone(path, *, seconds=2.0, rate=16_000, freq=440.0, channels=1, amplitude=0.5, fmt=None, subtype=None):
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


@contextlib.contextmanager
def _exclusive(lock: Path):
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        yield


def shared(tmp_path_factory, name: str, make) -> Path:
    """A folder made once per test session, however many xdist workers run: the first worker to ask makes it
    under a lock, the others wait and reuse it. (Per-worker session fixtures made each of these twice, and
    pinning their tests to one worker instead made that worker the suite's critical path.)"""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the base temp folder all workers of this session share
    target = root / f"shared-{name}"
    with _exclusive(root / f"shared-{name}.lock"):
        if not (target / ".complete").exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            make(target)
            (target / ".complete").write_text("")
    return target


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory):
    """A small embedded dataset: 30 clips of 3 s, 3 artists per genre (rendered once per test session)."""
    from ssl_audio.synth.generate import SynthOptions, synth_dataset

    def make(folder):
        synth_dataset(
            folder / "audio",
            SynthOptions(clips=30, seed=7, seconds=3.0, artists_per_genre=3),
            workers=1,
            progress=False,
        )

    return shared(tmp_path_factory, "synth", make) / "audio"


@pytest.fixture(scope="session")
def prepared(synth_dir, tmp_path_factory):
    """synth_dir built as the TFDS dataset 'tiny'; returns (name, data_dir)."""
    from ssl_audio.data.prepare import PrepareOptions, prepare

    def make(folder):
        prepare(synth_dir, PrepareOptions(name="tiny", data_dir=str(folder), workers=1))

    return "tiny", str(shared(tmp_path_factory, "tfds", make))


@pytest.fixture(scope="session")
def checkpoint(prepared, tmp_path_factory):
    """A pretraining workdir of the tiny logmel_cnn config after 2 steps, made by the CLI as a user would.
    Shared by every test that needs a checkpoint: read it, or copy it before changing anything."""
    from tests.pretrain import helpers

    def make(folder):
        result = helpers.run(folder / "run", prepared, "--config.total_steps=2", "--config.optimizer.warmup_steps=1")
        assert result.returncode == 0, result.stderr[-3000:]

    return shared(tmp_path_factory, "pretrained_tiny", make) / "run"
