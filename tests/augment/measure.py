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


def stepped_tone(levels_db, segment_s: float = 0.5, f: float = 997.0, sr: int = SR) -> np.ndarray:
    """A sine whose peak level steps through `levels_db` (dBFS), `segment_s` each."""
    n = int(segment_s * sr)
    t = np.arange(n * len(levels_db)) / sr
    amplitude = np.repeat(10 ** (np.asarray(levels_db, np.float64) / 20), n)
    return (amplitude * np.sin(2 * np.pi * f * t)).astype(np.float32)


def settled_peak_db(y: np.ndarray, segments: int, settled: float = 0.4) -> np.ndarray:
    """Peak level (dBFS) of each segment's last `settled` fraction, once a compressor has settled."""
    parts = np.split(np.asarray(y, np.float64), segments)
    return np.array([20 * np.log10(np.abs(p[-int(len(p) * settled) :]).max() + 1e-12) for p in parts])


def gain_reduction_db(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A per-sample gain op's reduction in dB, read off where the input is far from a zero crossing
    (elsewhere NaN): y = x * gain, so the gain is y / x sample by sample."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    usable = np.abs(x) > 0.5 * np.abs(x).max() * 10 ** (-40 / 20)
    out = np.full(x.shape, np.nan)
    out[usable] = -20 * np.log10(np.abs(y[usable] / x[usable]))
    return out


def minus_3db_hz(x: np.ndarray, y: np.ndarray, sr: int = SR, smooth_hz: float = 50.0) -> float:
    """The frequency where a filter's measured power response (|Y|^2 / |X|^2, smoothed over `smooth_hz`)
    first falls 3 dB below its passband level (the median below 500 Hz)."""
    X, Y = np.fft.rfft(np.asarray(x, np.float64)), np.fft.rfft(np.asarray(y, np.float64))
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    width = max(1, int(smooth_hz / (freqs[1] - freqs[0])))
    kernel = np.ones(width) / width
    response = np.convolve(np.abs(Y) ** 2, kernel, "same") / np.convolve(np.abs(X) ** 2, kernel, "same")
    response_db = 10 * np.log10(response + 1e-30)
    passband = np.median(response_db[(freqs > 50) & (freqs < 500)])
    i = int(np.argmax((response_db < passband - 3) & (freqs > 500)))
    # Linear interpolation between the two bins either side of the crossing.
    f0, f1, r0, r1 = freqs[i - 1], freqs[i], response_db[i - 1] - passband + 3, response_db[i] - passband + 3
    return float(f0 + (f1 - f0) * r0 / (r0 - r1))


def sqnr_db(x: np.ndarray, y: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    return float(10 * np.log10(np.mean(x**2) / np.mean((np.asarray(y, np.float64) - x) ** 2)))
