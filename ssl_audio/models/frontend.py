"""Log-mel spectrogram on the device: framing + rFFT + mel filterbank, in JAX, inside the jitted step.

Computed in float32 whatever the model's compute dtype: the log of small powers needs the range.
The filterbank is librosa's (Slaney mel scale, area-normalised), built once on the host as a constant.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

LOG_FLOOR = 1e-6  # -60 dB below full scale: quieter detail is noise for music tagging


@functools.cache
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    import librosa  # imported here: only the filterbank needs it, and it is slow to import

    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max).T.astype(np.float32)


def n_frames(n_samples: int, hop: int) -> int:
    """Frames of a centred STFT: one per hop, the first centred on sample 0."""
    return 1 + n_samples // hop


def log_mel(
    audio: jax.Array,
    *,
    sample_rate: int,
    n_fft: int,
    hop: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> jax.Array:
    """[B, T] waveforms -> [B, frames, n_mels] log-mel power (natural log, floored at LOG_FLOOR)."""
    x = audio.astype(jnp.promote_types(audio.dtype, jnp.float32))  # float64 stays float64 (scale checks)
    x = jnp.pad(x, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
    frames = n_frames(audio.shape[-1], hop)
    index = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None, :]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    power = jnp.abs(jnp.fft.rfft(x[:, index] * window, axis=-1)) ** 2
    mel = power @ mel_filterbank(sample_rate, n_fft, n_mels, float(f_min), float(f_max or sample_rate / 2))
    return jnp.log(jnp.maximum(mel, LOG_FLOOR))
