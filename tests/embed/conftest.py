"""Audio folders to embed (the tiny checkpoint is in tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf


def music(seconds: float, rate: int, seed: int, channels: int = 1) -> np.ndarray:
    """A few decaying partials: audio with structure, different per seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = sum(
        rng.uniform(0.05, 0.2) * np.sin(2 * np.pi * rng.uniform(80, 2000) * t) * np.exp(-t % 0.5 * rng.uniform(1, 6))
        for _ in range(5)
    )
    x = (0.8 * x / np.abs(x).max()).astype(np.float32)  # below full scale: decoding keeps it as it is
    return np.stack([x, 0.5 * x], axis=1) if channels == 2 else x


def write(path, seconds: float, rate: int = 16_000, seed: int = 0, channels: int = 1):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), music(seconds, rate, seed, channels), rate)
    return path


@pytest.fixture
def folder(tmp_path):
    """Good files in nested folders at several rates and lengths, plus one of each kind of bad file."""
    root = tmp_path / "audio"
    write(root / "a.wav", 3.0, seed=1)
    write(root / "rock" / "b.flac", 2.5, rate=44_100, seed=2, channels=2)
    write(root / "rock" / "c.wav", 0.4, seed=3)  # shorter than one window
    write(root / "jazz" / "deep" / "d.wav", 4.2, rate=22_050, seed=4)
    (root / "broken.wav").write_bytes(b"RIFF not really a wave file")
    (root / "empty.wav").write_bytes(b"")
    nan = music(1.0, 16_000, 5)
    nan[100] = np.nan
    sf.write(str(root / "nan.wav"), nan, 16_000, subtype="FLOAT")
    return root


GOOD = {"a.wav", "rock/b.flac", "rock/c.wav", "jazz/deep/d.wav"}
BAD = {"broken.wav", "empty.wav", "nan.wav"}
