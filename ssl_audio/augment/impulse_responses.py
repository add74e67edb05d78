"""Impulse responses for reverb: a user's folder of IR files, or synthetic rooms.

The audiomentations path needs IR *files*, so when the config names no folder,
`write_synthetic_irs` writes a fixed set of rooms spanning the configured RT60
range, made by the same function the JAX path uses (`ops.synthetic_ir`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from ssl_audio.audio.decode import DecodeOptions, load_audio
from ssl_audio.audio.scan import find_audio_files
from ssl_audio.errors import UsageError


def write_synthetic_irs(
    folder: str | os.PathLike,
    *,
    min_rt60: float,
    max_rt60: float,
    max_pre_delay_s: float,
    sample_rate: int,
    count: int = 16,
    seed: int = 0,
) -> list[Path]:
    import jax

    from ssl_audio.augment.ops import synthetic_ir

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i, rt60 in enumerate(np.linspace(min_rt60, max_rt60, count)):
        path = folder / f"room_{i:02d}_rt60_{rt60:.2f}s.wav"
        pre_delay = float(rng.uniform(0, max_pre_delay_s))
        if not path.exists():
            length = int(np.ceil((rt60 + pre_delay) * sample_rate))
            ir = np.asarray(synthetic_ir(jax.random.key(seed * 1000 + i), length, float(rt60), pre_delay, sample_rate))
            sf.write(path, ir / max(1e-9, np.abs(ir).max()) * 0.9, sample_rate, subtype="FLOAT")
        paths.append(path)
    return paths


def load_ir_bank(folder: str | os.PathLike, sample_rate: int, max_seconds: float = 2.0) -> np.ndarray:
    """[n_irs, length] float32, each resampled, cut to max_seconds and scaled to unit energy."""
    files = find_audio_files(folder)
    if not files:
        raise UsageError(
            f"augment.reverb.ir_dir={folder}: no audio files there; give a folder of "
            "impulse responses (WAV/FLAC) or leave it empty for synthetic rooms"
        )
    options = DecodeOptions(sample_rate=sample_rate, min_seconds=0.0, silence_dbfs=-120.0)
    irs = [load_audio(f, options)[: int(max_seconds * sample_rate)] for f in files]
    length = max(len(ir) for ir in irs)
    bank = np.zeros((len(irs), length), np.float32)
    for i, ir in enumerate(irs):
        bank[i, : len(ir)] = ir / np.sqrt(np.sum(ir**2) + 1e-12)
    return bank
