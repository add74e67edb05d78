"""Measurements the augmentation tests make on test signals (the same for both paths)."""

import numpy as np
from scipy.signal import find_peaks

SR = 16_000


def harmonic_tone(f0: float, seconds: float = 3.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return sum(0.3 / k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 5)).astype(np.float32)


def click_train(spacing_s: float, seconds: float = 3.0, sr: int = SR, first_s: float = 0.0625) -> np.ndarray:
    x = np.zeros(int(seconds * sr), np.float32)
    x[int(first_s * sr) :: int(spacing_s * sr)] = 1.0
    return x


def fundamental(y: np.ndarray, lo: float = 80.0, hi: float = 700.0, sr: int = SR) -> float:
    """Strongest partial between lo and hi Hz (the fundamental of harmonic_tone), to ~0.01 Hz."""
    seg = y[len(y) // 8 : -len(y) // 4]
    n = 1 << 18
    spectrum = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    i = int(np.argmax(spectrum * ((freqs > lo) & (freqs < hi))))
    a, b, c = np.log(spectrum[i - 1 : i + 2] + 1e-12)
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * sr / n


def click_spacing(y: np.ndarray, sr: int = SR) -> float:
    """Mean spacing of the clicks, in seconds: a line fitted through the detected onsets."""
    energy = np.convolve(y.astype(np.float64) ** 2, np.hanning(1024), "same")
    peaks, _ = find_peaks(energy, distance=int(0.1 * sr), height=energy.max() * 0.2)
    step = np.median(np.diff(peaks))
    index = np.round((peaks - peaks[0]) / step)
    return float(np.polyfit(index, peaks, 1)[0]) / sr


def gain_db_at(x: np.ndarray, y: np.ndarray) -> float:
    """Output over input level in dB, ignoring the first and last 10% (filter settling)."""
    n = len(x) // 10
    return 20 * np.log10(np.sqrt(np.mean(y[n:-n] ** 2)) / np.sqrt(np.mean(x[n:-n] ** 2)))


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean((noisy - clean).astype(np.float64) ** 2))


def rt60(impulse_response: np.ndarray, sr: int = SR) -> float:
    """Reverberation time from Schroeder backward integration, T20 (the -5..-25 dB slope) x 3."""
    h = impulse_response.astype(np.float64)
    edc = np.cumsum(h[::-1] ** 2)[::-1]
    edc_db = 10 * np.log10(edc / edc[0] + 1e-30)
    start, end = np.argmax(edc_db <= -5), np.argmax(edc_db <= -25)
    t = np.arange(start, end) / sr
    slope = np.polyfit(t, edc_db[start:end], 1)[0]  # dB per second
    return -60.0 / slope


def active_span(y: np.ndarray, sr: int = SR) -> tuple[float, float]:
    """(first, last) time in s where the 20-ms RMS envelope is within 20 dB of its peak."""
    win = int(0.02 * sr)
    env = np.sqrt(np.convolve(y.astype(np.float64) ** 2, np.ones(win) / win, "same"))
    on = np.flatnonzero(env > env.max() * 0.1)
    return on[0] / sr, on[-1] / sr
