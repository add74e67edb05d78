"""Where a clip is augmented: pure JAX ops on one mono clip [T] with explicit parameters.

Every op keeps the clip's length (stretch and shift are followed by crop/pad),
so a batch keeps one static shape and `jax.vmap` + `jax.jit` compile it once.
Random parameters are drawn in `chain.py`; here an op does exactly what it is
told, which is what the tests measure.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ssl_audio.augment.config import VOCODER_FORMS

# ----------------------------------------------------------------------------------- STFT / phase vocoder

N_FFT = 1024  # 64 ms at 16 kHz: resolves musical partials; phase advance gives the exact frequency
HOP = 256  # N_FFT / 4: Hann windows overlap-add to a constant


def _hann(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)  # periodic


def stft(x: jax.Array) -> jax.Array:
    """[T] -> [frames, N_FFT // 2 + 1] complex, centred frames (zero-padded by N_FFT // 2)."""
    xp = jnp.pad(x, (N_FFT // 2, N_FFT // 2))
    n_frames = 1 + (xp.shape[0] - N_FFT) // HOP
    idx = np.arange(n_frames)[:, None] * HOP + np.arange(N_FFT)[None, :]
    return jnp.fft.rfft(xp[idx] * _hann(N_FFT), axis=-1)


def istft(spec: jax.Array, length: int) -> jax.Array:
    """Overlap-add inverse of `stft` for `length` samples."""
    frames = jnp.fft.irfft(spec, n=N_FFT, axis=-1) * _hann(N_FFT)
    n_frames, parts = frames.shape[0], N_FFT // HOP
    total = (n_frames + parts - 1) * HOP
    # N_FFT is a multiple of HOP: each frame is `parts` hop-long chunks, and chunk c of frame j lands on
    # output hop j + c, so the overlap-add is a sum of `parts` padded [frames, HOP] arrays. Adding into
    # slices of one output buffer (.at[].add) computed the same to the last bit in 1.6x the time (62.6
    # against 38.8 ms for 64 clips of 240 frames; the inverse FFT alone 36.3; a 2-core AMD EPYC).
    chunks = frames.reshape(n_frames, parts, HOP)
    out = sum(jnp.pad(chunks[:, c], ((c, parts - 1 - c), (0, 0))) for c in range(parts)).reshape(total)
    norm = np.zeros(total, np.float32)
    w2 = _hann(N_FFT) ** 2
    for j in range(n_frames):
        norm[j * HOP : j * HOP + N_FFT] += w2
    out = out / np.maximum(norm, 1e-3)
    return out[N_FFT // 2 : N_FFT // 2 + length]


PEAK_REACH = 8  # bins: a bin locks to the nearest peak within this many bins (8 bins = 125 Hz here)


def _peak_regions(mag: jax.Array) -> jax.Array:
    """For each bin of [..., bins] magnitudes, the index of the nearest spectral peak within PEAK_REACH
    bins (the left one on a tie), or the bin itself when no peak is that close.

    A reach, not the nearest peak at any distance: it is found with 2 x PEAK_REACH shifted compares,
    where the unbounded search's cummax and cummin over bins took 70% of the vocoder's time on CPU
    (lax.cummax lowers to a scan much slower than elementwise work). A Hann window's main lobe is 2 bins
    wide each side, so a bin 8 bins from every peak is noise or a side lobe, and locking it to itself
    is what a vocoder without locking does."""
    n = mag.shape[-1]
    edges = [(0, 0)] * (mag.ndim - 1)
    # Magnitudes are >= 0, so a -1 beyond either end makes the end bins peaks when above their one neighbour.
    neighbours = jnp.pad(mag, [*edges, (1, 1)], constant_values=-1.0)
    is_peak = (mag > neighbours[..., :n]) & (mag >= neighbours[..., 2:])
    k = jnp.arange(n)
    region = jnp.broadcast_to(k, mag.shape)
    # Static slices of one padded array (is_peak[k + d] and is_peak[k - d]): XLA fuses them with the
    # selects, where a concatenate per distance did not (regions of 64 clips x 240 frames: 32.6 against
    # 55.2 ms, equal to the bit; a sliding-window max/min was slower still, 70 ms; a 2-core AMD EPYC).
    padded = jnp.pad(is_peak, [*edges, (PEAK_REACH, PEAK_REACH)])
    # From the farthest distance in to the nearest, so a nearer peak overwrites; at each distance the
    # left peak is written last, so it wins a tie.
    for d in range(PEAK_REACH, 0, -1):
        region = jnp.where(padded[..., PEAK_REACH + d : PEAK_REACH + d + n], k + d, region)
        region = jnp.where(padded[..., PEAK_REACH - d : PEAK_REACH - d + n], k - d, region)
    return jnp.where(is_peak, k, region)


def read_frames(spec: jax.Array, duration_factor: jax.Array, n_out_frames: int):
    """Output frame j read at input frame j / duration_factor: (interpolated magnitudes, the phasor of the
    frame before, the phase advance to the frame after as a phasor); silent past the input's end."""
    n_in = spec.shape[0]
    steps = jnp.arange(n_out_frames, dtype=jnp.float32) / duration_factor
    i0 = jnp.clip(jnp.floor(steps).astype(jnp.int32), 0, n_in - 2)
    alpha = (steps - i0)[:, None]
    # Magnitude and phasor once per input frame, then gathered: each output frame reads two input frames,
    # so computing them after the gather did the work twice (four |.| per bin instead of one).
    magnitude = jnp.abs(spec)
    # z / |z|, and phase 0 where z is 0: a silent bin must not zero the phase recursion for good.
    unit = jnp.where(magnitude > 1e-12, spec / jnp.maximum(magnitude, 1e-12), 1.0 + 0j)
    mag = (1 - alpha) * magnitude[i0] + alpha * magnitude[i0 + 1]
    mag = jnp.where((steps < n_in - 1)[:, None], mag, 0.0)
    u0 = unit[i0]
    return mag, u0, unit[i0 + 1] * jnp.conj(u0)


def phase_vocoder(spec: jax.Array, duration_factor: jax.Array, n_out_frames: int, form: str = "scan") -> jax.Array:
    """Time-scales an STFT by `duration_factor` (2.0: twice as long) without changing its frequencies.

    Output frame j reads the input at fractional frame j / duration_factor: magnitudes are interpolated;
    phase advances at each spectral peak by the peak's measured instantaneous frequency, and every other
    bin keeps its phase offset to the peak of its region (identity phase locking, Laroche & Dolson 1999).
    Without the locking, bins drift apart in phase and transients (drum hits) smear and partly cancel.
    Frames past the end of the input are silent.

    `form` says how phase is carried (config key augment.vocoder_phase, whose "auto" is the scan on a CPU
    and the cumulative form on an accelerator: config.vocoder_form):
    - "scan" (this function's default): a `lax.scan` over frames, each frame's peaks advancing from the
      previous frame's *locked* output phase: the recurrence of Laroche & Dolson.
    - "cumulative": no recurrence: every bin accumulates its own advance with a cumulative product over
      time, and each frame then locks its bins to their peaks' accumulated phase (issue 14's parallel
      form: frames are independent, which suits an accelerator). Where a peak stays in its bin the two
      are the same; where peaks move between bins, the scan's peak inherits the locked phase of the bin it
      moves into and this one the bin's own history. On 2 CPU cores it is the slower (`bench augment`,
      64 3-s clips: 3.95 against 2.82 ms per clip with the scan unrolled); on an H200 the faster
      (`ssl-audio bench augment` prints both; docs/benchmarks.md).

    Phases are carried as unit phasors: the advance exp(i * (omega + princarg(dphi))) is exactly
    u1 * conj(u0), so no atan2 or sin/cos is needed per bin, which is most of the vocoder's cost.
    """
    if form not in VOCODER_FORMS:
        raise ValueError(f"phase vocoder form must be one of {', '.join(VOCODER_FORMS)}, got {form!r}")
    mag, u0, rotation = read_frames(spec, duration_factor, n_out_frames)
    regions = _peak_regions(mag)
    if form == "cumulative":
        # accumulated[j, k] = u0[0, k] * prod_{i<j} rotation[i, k]; out[j, k] = u0[j, k] * w[j, r(k)] with
        # w = accumulated * conj(u0): the bin keeps its offset to its peak, as in the scan.
        accumulated = jnp.cumprod(jnp.concatenate([u0[:1], rotation[:-1]], axis=0), axis=0)
        return mag * u0 * jnp.take_along_axis(accumulated * jnp.conj(u0), regions, axis=1)

    # The scan's recurrence: out[j, k] = u0[j, k] * w_j[r_j(k)] with w_j = out[j - 1] * rotation[j - 1] *
    # conj(u0[j]) (the bin keeps its offset to its peak; every factor has unit modulus, so nothing needs
    # renormalising over a clip's few hundred frames). Substituting out[j - 1] gives w_{j+1} = w_j[r_j] *
    # q_j with q_j = u0[j] * rotation[j] * conj(u0[j + 1]), which needs no carry: computed for all frames
    # at once, it leaves one gather and one complex product per step, where the step did three products.
    # w_0 = 1 makes frame 0 its own analysis phase; the last frame's q is never used.
    q = u0 * rotation * jnp.conj(jnp.concatenate([u0[1:], u0[-1:]], axis=0))

    def step(w, frame):
        q_j, region_j = frame
        picked = w[region_j]  # w_j[r_j]: what frame j's bins read
        return picked * q_j, picked

    # Unrolled 8 steps per loop iteration: the loop's own cost per iteration was most of the scan's time on
    # CPU (64 clips of 241 frames: 107 ms with one step per iteration, 60 unrolled by 8, 62 by 2; a 2-core
    # AMD EPYC), and XLA fuses the steps of one iteration.
    _, picked = jax.lax.scan(step, jnp.ones_like(u0[0]), (q, regions), unroll=8)
    return mag * u0 * picked


def resample_at(y: jax.Array, step: jax.Array, length: int, half_width: int = 8) -> jax.Array:
    """out[n] = y(n * step) for n < length, by Hann-windowed sinc interpolation (2 x half_width taps).

    When step > 1 (reading faster), the kernel's cut-off drops to 1/step so nothing aliases.
    The kernel's sin and cos are split by angle addition into one sin/cos of each sample's fractional
    position and per-tap constants, so each output sample costs 4 transcendentals instead of 4 per tap.
    The taps are a Python loop of 1-D gathers from the zero-padded input, not one [length, taps] gather:
    XLA's CPU gather ran the 2-D index 3.5x slower (16 one-dimensional gathers of 32,000 samples at batch 64:
    27 ms, one two-dimensional: 96 ms; the whole resampler 207 -> 60 ms, CPU-2b). A precomputed polyphase
    table was slower still (282 ms): reading its rows is another gather per tap.
    """
    cutoff = jnp.minimum(1.0, 1.0 / step)
    pos = jnp.arange(length, dtype=jnp.float32) * step
    base = jnp.floor(pos)
    frac = pos - base
    padded = jnp.pad(y, (half_width, half_width))  # zeros outside y: no validity mask per tap
    first = base.astype(jnp.int32) + 1  # index in `padded` of the first tap, y[base - half_width + 1]
    last = padded.shape[0] - 1
    # sin(pi c (frac - k)) and cos(pi (frac - k) / W) from sin/cos of frac and of k.
    a = np.pi * cutoff * frac
    sin_a, cos_a = jnp.sin(a), jnp.cos(a)
    c = np.pi * frac / half_width
    sin_c, cos_c = jnp.sin(c), jnp.cos(c)
    out = jnp.zeros_like(frac)
    for i, k in enumerate(range(-half_width + 1, half_width + 1)):
        b = np.pi * cutoff * k
        sin_part = sin_a * jnp.cos(b) - cos_a * jnp.sin(b)
        d = np.pi * k / half_width
        window = 0.5 + 0.5 * (cos_c * np.cos(d) + sin_c * np.sin(d))  # 0 at |frac - k| = W
        dist = frac - k  # in [-W, W)
        at_tap = jnp.abs(dist) < 1e-6
        weight = jnp.where(at_tap, cutoff, sin_part / jnp.where(at_tap, 1.0, np.pi * dist)) * window
        out = out + padded[jnp.minimum(first + i, last)] * weight
    return out


def stretch_and_shift(
    x: jax.Array,
    rate: jax.Array,
    semitones: jax.Array,
    max_pitch_factor: float,
    length: int | None = None,
    phase: str = "scan",
) -> jax.Array:
    """Time stretch by `rate` (1.25: 25% faster, same pitch) and pitch shift by `semitones` (same duration).

    One phase vocoder serves both: stretch the duration by pitch_factor / rate, then read it back
    pitch_factor times faster. The result is the first `length` samples (default: the input's length),
    zero-padded where the stretched input runs out (rate > input length / length).
    `max_pitch_factor` (static) bounds how much vocoder output is needed; `phase` is the vocoder's form
    (phase_vocoder).
    """
    length = x.shape[0] if length is None else int(length)
    pitch_factor = 2.0 ** (semitones / 12.0)
    spec = stft(x)
    n_out = int(math.ceil(length * max_pitch_factor / HOP)) + 4
    stretched = istft(phase_vocoder(spec, pitch_factor / rate, n_out, phase), n_out * HOP)
    return resample_at(stretched, pitch_factor, length)


# ----------------------------------------------------------------------------------------------- EQ

# audiomentations.SevenBandParametricEQ's bands: (kind, min centre Hz, max centre Hz, min Q, max Q).
EQ_BANDS = (
    ("low_shelf", 42.0, 95.0, 0.1, 0.999),
    ("peak", 91.0, 204.0, 0.5, 5.0),
    ("peak", 196.0, 441.0, 0.5, 5.0),
    ("peak", 421.0, 948.0, 0.5, 5.0),
    ("peak", 909.0, 2045.0, 0.5, 5.0),
    ("peak", 1957.0, 4404.0, 0.5, 5.0),
    ("high_shelf", 4216.0, 9486.0, 0.1, 0.999),
)


def biquad_coefficients(kind: str, centre_hz, gain_db, q, sample_rate: int):
    """RBJ cookbook biquad (b0, b1, b2, a0, a1, a2), the same formulas audiomentations uses."""
    w = 2 * jnp.pi * centre_hz / sample_rate
    a = 10 ** (gain_db / 40)
    alpha = jnp.sin(w) / (2 * q)
    cos = jnp.cos(w)
    if kind == "peak":
        return 1 + alpha * a, -2 * cos, 1 - alpha * a, 1 + alpha / a, -2 * cos, 1 - alpha / a
    sq = 2 * jnp.sqrt(a) * alpha
    if kind == "low_shelf":
        return (
            a * ((a + 1) - (a - 1) * cos + sq),
            2 * a * ((a - 1) - (a + 1) * cos),
            a * ((a + 1) - (a - 1) * cos - sq),
            (a + 1) + (a - 1) * cos + sq,
            -2 * ((a - 1) + (a + 1) * cos),
            (a + 1) + (a - 1) * cos - sq,
        )
    if kind == "high_shelf":
        return (
            a * ((a + 1) + (a - 1) * cos + sq),
            -2 * a * ((a - 1) + (a + 1) * cos),
            a * ((a + 1) + (a - 1) * cos - sq),
            (a + 1) - (a - 1) * cos + sq,
            2 * ((a - 1) - (a + 1) * cos),
            (a + 1) - (a - 1) * cos - sq,
        )
    raise ValueError(f"unknown band kind {kind!r}")


def eq_response(freqs_hz, centres, gains_db, qs, sample_rate: int) -> jax.Array:
    """Complex response of the seven cascaded bands at the given frequencies.

    The product of the numerators over the product of the denominators: one complex division per
    frequency instead of seven (the divisions were most of the EQ's cost once its FFT was right-sized).
    The bands' zeros and poles are well inside the unit circle's reach, so neither product under- or
    overflows in float32 at the gains the config allows (+-24 dB)."""
    if isinstance(freqs_hz, np.ndarray):  # static frequencies: the unit-circle points are constants
        z1 = np.exp(-1j * 2 * np.pi * freqs_hz / sample_rate).astype(np.complex64)
    else:
        z1 = jnp.exp(-1j * 2 * jnp.pi * freqs_hz / sample_rate)
    z2 = z1 * z1
    numerator = denominator = 1.0
    for i, (kind, *_rest) in enumerate(EQ_BANDS):
        b0, b1, b2, a0, a1, a2 = biquad_coefficients(kind, centres[i], gains_db[i], qs[i], sample_rate)
        numerator = numerator * (b0 + b1 * z1 + b2 * z2)
        denominator = denominator * (a0 + a1 * z1 + a2 * z2)
    return numerator / denominator


def _fft_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n. XLA's CPU FFT (ducc) is as fast per sample at these mixed-radix sizes
    as at powers of two, so padding a 40,000-sample EQ to 65,536 wasted 2.9x (30 ms against 86 per rFFT
    pair at batch 64, CPU-2b); the next power of two is up to 2x longer, a 5-smooth size at most ~10%."""
    best = 1 << max(n - 1, 0).bit_length()
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            size = power35
            while size < n:
                size *= 2
            best = min(best, size)
            power35 *= 3
        power5 *= 5
    return best


def parametric_eq(x: jax.Array, centres, gains_db, qs, sample_rate: int) -> jax.Array:
    """Applies the seven-band EQ as its exact frequency response (zero-padded FFT: no circular wrap of the
    tail into the clip), which costs one FFT pair instead of seven recursive filters."""
    n = _fft_size(x.shape[0] + sample_rate // 2)  # >= 0.5 s of room for the filters' ringing
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum = jnp.fft.rfft(x, n) * eq_response(freqs, centres, gains_db, qs, sample_rate)
    return jnp.fft.irfft(spectrum, n)[: x.shape[0]]


# ---------------------------------------------------------------------------------------------- noise


def colored_noise(key: jax.Array, length: int, decay_db_per_octave: jax.Array) -> jax.Array:
    """Gaussian noise whose power falls by `decay_db_per_octave` (0 white, 3 pink, 6 brown), unit RMS.

    Drawn in the frequency domain: independent complex Gaussian bins (the spectrum of white Gaussian noise)
    shaped and taken back with one inverse rFFT, where drawing white noise in time needed an rFFT too."""
    n = _fft_size(length)
    bins = n // 2 + 1
    white = jax.random.normal(key, (2, bins))
    log_freqs = np.log(np.maximum(np.fft.rfftfreq(n), 1.0 / n))  # DC gets the lowest bin's level
    # Amplitude slope: power -d dB/octave is amplitude f^(-d / (20 log10 2)).
    slope = -decay_db_per_octave / (20 * np.log10(2.0))
    shape = jnp.exp(slope * log_freqs)
    noise = jnp.fft.irfft(jax.lax.complex(white[0], white[1]) * shape, n)[:length]
    return noise / jnp.sqrt(jnp.mean(noise**2) + 1e-12)


def add_noise(x: jax.Array, noise: jax.Array, snr_db: jax.Array) -> jax.Array:
    """x + noise scaled so that 10 log10(P_x / P_noise) = snr_db exactly (silence stays silence)."""
    p_signal = jnp.mean(x**2)
    p_noise = jnp.mean(noise**2) + 1e-20
    scale = jnp.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))
    return x + scale * noise


# --------------------------------------------------------------------------------------------- reverb

LN_1000 = float(np.log(1000.0))  # 60 dB of amplitude decay


def synthetic_ir(key: jax.Array, length: int, rt60_s: jax.Array, pre_delay_s: jax.Array, sample_rate: int) -> jax.Array:
    """A room as exponentially decaying Gaussian noise: amplitude falls 60 dB in rt60_s after the pre-delay.
    Unit energy, so the wet signal keeps roughly the input's level."""
    t = jnp.arange(length, dtype=jnp.float32) / sample_rate - pre_delay_s
    envelope = jnp.where(t >= 0, jnp.exp(-LN_1000 * jnp.maximum(t, 0.0) / rt60_s), 0.0)
    ir = jax.random.normal(key, (length,)) * envelope
    return ir / jnp.sqrt(jnp.sum(ir**2) + 1e-12)


def convolve(x: jax.Array, ir: jax.Array) -> jax.Array:
    """Linear convolution by FFT, cut to x's length."""
    n = _fft_size(x.shape[0] + ir.shape[0] - 1)
    return jnp.fft.irfft(jnp.fft.rfft(x, n) * jnp.fft.rfft(ir, n), n)[: x.shape[0]]


def reverb(x: jax.Array, ir: jax.Array, wet: jax.Array) -> jax.Array:
    return (1.0 - wet) * x + wet * convolve(x, ir)


# ------------------------------------------------------------------------------------------ the simple ones


def gain(x: jax.Array, gain_db: jax.Array) -> jax.Array:
    return x * 10 ** (gain_db / 20)


def polarity(x: jax.Array, invert: jax.Array) -> jax.Array:
    return jnp.where(invert, -x, x)


def time_shift(x: jax.Array, shift: jax.Array) -> jax.Array:
    """Moves the clip by `shift` samples (positive: later), filling with silence."""
    n = jnp.arange(x.shape[0])
    src = n - shift
    return jnp.where((src >= 0) & (src < x.shape[0]), x[jnp.clip(src, 0, x.shape[0] - 1)], 0.0)


# ---------------------------------------------------------------------------------------- compression


def settle_coefficient(seconds: jax.Array, sample_rate: int) -> jax.Array:
    """Per-sample coefficient of a one-pole smoother that covers 1 - 10^(-60/20) of a step in `seconds`.

    This is audiomentations' definition of attack and release times (like RT60), so one config block means
    the same on both backends: the 63% time constant is seconds / ln(1000)."""
    return jnp.power(1e-3, 1.0 / jnp.maximum(seconds * sample_rate, 1.0))


def peak_envelope(x: jax.Array, release_coefficient: jax.Array) -> jax.Array:
    """env[n] = max(|x[n]|, r * env[n-1]): a peak detector that attacks at once and releases exponentially.

    The loop over samples is a recurrence, but each step is a map e -> max(b, a * e) with a > 0, and two
    such maps compose into a third, e -> max(max(b2, a2 * b1), a1 * a2 * e) (a > 0 distributes over max).
    An associative scan therefore computes it exactly in log2(T) parallel passes instead of T steps."""
    a = jnp.broadcast_to(release_coefficient, x.shape)

    def compose(first, second):
        a1, b1 = first
        a2, b2 = second
        return a1 * a2, jnp.maximum(b2, a2 * b1)

    return jax.lax.associative_scan(compose, (a, jnp.abs(x)))[1]


def one_pole(u: jax.Array, coefficient: jax.Array) -> jax.Array:
    """y[n] = c * y[n-1] + (1 - c) * u[n], starting settled at y[0] = u[0] (a view is cut from a longer
    recording, where the smoother would have settled). Affine maps compose into affine maps, so this is an
    associative scan too."""
    a = jnp.broadcast_to(coefficient, u.shape)
    b = ((1.0 - a) * u).at[0].set(u[0])

    def compose(first, second):
        a1, b1 = first
        a2, b2 = second
        return a1 * a2, a2 * b1 + b2

    return jax.lax.associative_scan(compose, (a, b))[1]


def compress(
    x: jax.Array,
    threshold_db: jax.Array,
    ratio: jax.Array,
    attack_s: jax.Array,
    release_s: jax.Array,
    makeup_db: jax.Array,
    sample_rate: int,
) -> jax.Array:
    """A feed-forward compressor: above `threshold_db` (dBFS) the output level rises 1/`ratio` dB per dB of
    input (ratio 1e9: a limiter), then `makeup_db` of gain.

    The level is a peak envelope with the release time (`peak_envelope`); the gain computer's reduction in
    dB is smoothed with the attack time (`one_pole`): the decoupled peak detector of Giannoulis, Massberg
    and Reiss (2012, "Digital dynamic range compressor design"), which audiomentations' Limiter also uses.
    No look-ahead: the first milliseconds of a sudden peak pass before the gain comes down, as in an
    analogue compressor."""
    envelope = peak_envelope(x, settle_coefficient(release_s, sample_rate))
    level_db = 20.0 * jnp.log10(jnp.maximum(envelope, 1e-10))
    reduction_db = jnp.maximum(level_db - threshold_db, 0.0) * (1.0 - 1.0 / ratio)
    smoothed = one_pole(reduction_db, settle_coefficient(attack_s, sample_rate))
    return x * jnp.power(10.0, (makeup_db - smoothed) / 20.0)


# ---------------------------------------------------------------------------------------- degradation


def lowpass(x: jax.Array, cutoff_hz: jax.Array, order: int, sample_rate: int) -> jax.Array:
    """Band-limits like a low sample rate or a cheap codec: the magnitude of an `order`-pole Butterworth
    low-pass (-3 dB at the cutoff, 6 x order dB per octave past it), applied with zero phase by FFT. The
    FFT is zero-padded past the clip so the filter's ringing does not wrap round into it."""
    n = _fft_size(x.shape[0] + 2048)  # 128 ms at 16 kHz: far longer than the filter's ringing
    freqs = jnp.fft.rfftfreq(n, 1.0 / sample_rate)
    response = 1.0 / jnp.sqrt(1.0 + (freqs / cutoff_hz) ** (2 * order))
    return jnp.fft.irfft(jnp.fft.rfft(x, n) * response, n)[: x.shape[0]]


def bit_crush(x: jax.Array, bits: jax.Array, dither: jax.Array | None = None) -> jax.Array:
    """Quantises to `bits` bits over [-1, 1] (step 2^(1 - bits), rounding: a full-scale sine keeps an
    SQNR of 6.02 bits + 1.76 dB). `dither`, if given, is triangular noise in steps (two uniforms in
    [-0.5, 0.5] summed), added before rounding: it decorrelates the error from the signal at +4.8 dB of noise."""
    step = jnp.power(2.0, 1.0 - bits)
    scaled = x / step if dither is None else x / step + dither
    return jnp.round(scaled) * step


def level_exceeded_by(magnitude: jax.Array, fraction: jax.Array, iterations: int = 24) -> jax.Array:
    """The lowest level that at most `fraction` of the samples exceed, to max(magnitude) x 2^-iterations.

    The quantile by bisection: each pass is one compare-and-mean over the clip, which vectorises, where
    `jnp.quantile`'s sort cost as much as the phase vocoder in `bench augment` (7.4 ms per 1-s clip)."""

    def halve(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        too_many = jnp.mean(magnitude > mid) > fraction
        return jnp.where(too_many, mid, lo), jnp.where(too_many, hi, mid)

    top = jnp.max(magnitude)
    return jax.lax.fori_loop(0, iterations, halve, (jnp.zeros_like(top), top))[1]


def clip(x: jax.Array, percent: jax.Array, soft: jax.Array) -> jax.Array:
    """Clips the loudest `percent` % of samples: the level L is that quantile of |x| (`level_exceeded_by`).
    Hard clipping cuts at +-L; soft saturation is L * tanh(x / L), which never reaches L and bends
    everything below it too.
    (audiomentations' ClippingDistortion clips percent / 2 on each side of the signed samples: the same
    for a symmetric signal.)"""
    level = level_exceeded_by(jnp.abs(x), percent / 100.0)
    safe = jnp.maximum(level, 1e-12)
    clipped = jnp.where(soft, safe * jnp.tanh(x / safe), jnp.clip(x, -safe, safe))
    return jnp.where(level > 0, clipped, x)
