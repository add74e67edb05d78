"""Log-mel spectrogram on the device: framing + rFFT + a filterbank, in JAX, inside the jitted step.

Computed in float32 whatever the model's compute dtype: the log of small powers needs the range.
Two filterbanks, built once on the host as constants:
- "mel": librosa's (Slaney mel scale, area-normalised), the field's default;
- "log": triangles one semitone apart (`bins_per_octave` per octave from `f_min`), like a constant-Q
  transform's spacing. A mel bank of 64 bands is 30-45 Hz wide below 1 kHz, wider than a semitone up to
  ~600 Hz, so a major and a minor third land in the same band; semitone bands keep the intervals that
  decide mode and harmony, and a pitch shift becomes a shift along the frequency axis, which a
  convolution already treats alike everywhere. Its lowest bands need a fine FFT (n_fft 2048 at 16 kHz:
  7.8 Hz bins, a semitone from ~130 Hz; 1024: from ~260 Hz); a band narrower than a bin interpolates. The
  demo takes 1024: 2048's 128-ms window blurred the onsets arousal is read from (docs/quality.md, 5a).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ssl_audio.fft import rfft_rows

LOG_FLOOR = 1e-6  # -60 dB below full scale: quieter detail is noise for music tagging


@functools.cache
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    import librosa  # imported here: only the filterbank needs it, and it is slow to import

    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max).T.astype(np.float32)


@functools.cache
def log_filterbank(sample_rate: int, n_fft: int, n_bins: int, f_min: float, bins_per_octave: int) -> np.ndarray:
    """[n_fft // 2 + 1, n_bins]: triangles on a log-frequency axis, centre k at f_min * 2^(k / bins_per_octave),
    each falling to 0 at its neighbours' centres, each summing to 1 over the FFT bins (area-normalised, as
    the mel bank is). A band narrower than an FFT bin is read by linear interpolation at its centre."""
    if f_min <= 0:
        raise ValueError(f"the log filterbank needs f_min > 0 Hz, got {f_min}")
    top = f_min * 2 ** ((n_bins - 1) / bins_per_octave)
    if top >= sample_rate / 2:
        raise ValueError(
            f"{n_bins} log bands of {bins_per_octave} per octave from {f_min:g} Hz reach {top:.0f} Hz, above "
            f"the Nyquist frequency {sample_rate / 2:g} Hz: lower config.model.n_mels or config.model.f_min"
        )
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    octaves = np.log2(np.maximum(freqs, 1e-6) / f_min) * bins_per_octave  # FFT bins in band units
    bank = np.maximum(0.0, 1.0 - np.abs(octaves[:, None] - np.arange(n_bins)[None, :]))
    spacing = sample_rate / n_fft
    for k in range(n_bins):
        centre = f_min * 2 ** (k / bins_per_octave)
        if bank[:, k].sum() < 1.0:  # fewer than ~2 FFT bins under the triangle: interpolate at the centre
            lo = int(centre // spacing)
            frac = centre / spacing - lo
            bank[:, k] = 0.0
            bank[lo, k], bank[lo + 1, k] = 1.0 - frac, frac
    return (bank / bank.sum(axis=0, keepdims=True)).astype(np.float32)


@functools.cache
def log_filterbank_with_margin(
    sample_rate: int, n_fft: int, n_bins: int, f_min: float, bins_per_octave: int, margin: int
) -> np.ndarray:
    """[n_fft // 2 + 1, n_bins + 2 margin]: the log bank of `log_filterbank` with `margin` more bands, on the
    same spacing, below f_min and above its top, so that a view shifted by up to `margin` bands is still
    read from audio (ssl_audio/augment/bands.py). The plan's own bands are columns margin .. margin + n_bins
    - 1, identical to `log_filterbank`'s. Bands whose centre is at or past the Nyquist frequency are zero
    (log: the floor): there is no audio there, as a waveform shifted down has none at its top."""
    low = f_min * 2 ** (-margin / bins_per_octave)
    total = n_bins + 2 * margin
    below_nyquist = int(np.sum(low * 2 ** (np.arange(total) / bins_per_octave) < sample_rate / 2))
    bank = np.zeros((n_fft // 2 + 1, total), np.float32)
    bank[:, :below_nyquist] = log_filterbank(sample_rate, n_fft, below_nyquist, low, bins_per_octave)
    return bank


def filterbank(
    scale: str,
    sample_rate: int,
    n_fft: int,
    n_bins: int,
    f_min: float,
    f_max: float | None,
    bins_per_octave: int,
    margin: int = 0,
) -> np.ndarray:
    if scale == "mel":
        if margin:
            raise ValueError("a margin of bands is for the log scale only (a shift of mel bands is not a pitch shift)")
        return mel_filterbank(sample_rate, n_fft, n_bins, float(f_min), float(f_max or sample_rate / 2))
    if scale == "log":
        if margin:
            return log_filterbank_with_margin(sample_rate, n_fft, n_bins, float(f_min), int(bins_per_octave), margin)
        return log_filterbank(sample_rate, n_fft, n_bins, float(f_min), int(bins_per_octave))
    raise ValueError(f"config.model.scale: 'mel' or 'log', got {scale!r}")


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
    scale: str = "mel",
    bins_per_octave: int = 12,
    margin: int = 0,
) -> jax.Array:
    """[B, T] waveforms -> [B, frames, n_mels + 2 margin] log power in the bands of `scale` (natural log,
    floored at LOG_FLOOR); f_max is the mel bank's top, bins_per_octave the log bank's spacing, margin the
    extra log bands on either side that band-domain views read from (`log_filterbank_with_margin`)."""
    x = audio.astype(jnp.promote_types(audio.dtype, jnp.float32))  # float64 stays float64 (scale checks)
    x = jnp.pad(x, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
    frames = n_frames(audio.shape[-1], hop)
    index = np.arange(frames)[:, None] * hop + np.arange(n_fft)[None, :]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    power = jnp.abs(rfft_rows(x[:, index] * window)) ** 2  # each device its own rows (ssl_audio/fft.py)
    mel = power @ filterbank(scale, sample_rate, n_fft, n_mels, f_min, f_max, bins_per_octave, margin)
    return jnp.log(jnp.maximum(mel, LOG_FLOOR))
