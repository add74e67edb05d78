"""Each op hits the value it is asked for, and agrees with audiomentations on the same measurement."""

import random

import audiomentations as A
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_audio.augment import ops
from tests.augment.measure import (
    SR,
    active_span,
    click_spacing,
    click_train,
    fundamental,
    gain_db_at,
    harmonic_tone,
    rt60,
    snr_db,
)

MAX_PITCH = 2 ** (4 / 12)
stretch_and_shift = jax.jit(lambda x, r, s: ops.stretch_and_shift(x, r, s, MAX_PITCH))
# The vocoder without a scan over frames (augment.vocoder_phase="cumulative"), held to the same figures.
stretch_and_shift_cumulative = jax.jit(lambda x, r, s: ops.stretch_and_shift(x, r, s, MAX_PITCH, phase="cumulative"))


def _seed(n=0):
    random.seed(n)
    np.random.seed(n)


def _tone_level_db(x: np.ndarray, freq: float) -> float:
    """A sine's amplitude at `freq` in dB re 1 (Hann-windowed projection, exact for a steady sine)."""
    n, w = np.arange(len(x)), np.hanning(len(x))
    return float(20 * np.log10(2 * abs(np.sum(x * w * np.exp(-2j * np.pi * freq * n / SR))) / np.sum(w) + 1e-12))


# The pitch shift's resampler: passband flat to 0.1 dB up to 0.6 x its cut-off (min(1, 1/step) x Nyquist),
# and what a faster read would fold back below Nyquist at least 20 dB down from 1.2 x the cut-off. Measured:
# at step 2^(4/12) a 4 kHz tone keeps +0.03 dB; tones at 7.5 and 7.9 kHz (1.18 and 1.24 x the cut-off)
# fold back at -24.6 and -42.9 dB; at step 2^(-4/12), nothing folds and 6 kHz keeps +0.06 dB.
@pytest.mark.parametrize("step", [2 ** (-4 / 12), 2 ** (2 / 12), 2 ** (4 / 12)])
def test_resampler_passband_and_aliasing(step):
    cutoff_hz = min(1.0, 1.0 / step) * SR / 2
    resample = jax.jit(lambda y: ops.resample_at(y, jnp.float32(step), SR))
    for freq in np.linspace(200.0, 0.6 * cutoff_hz, 6):
        tone = np.sin(2 * np.pi * freq * np.arange(int(1.5 * SR)) / SR).astype(np.float32)
        out = np.asarray(resample(jnp.asarray(tone)))[200:-200]  # away from the edges' partial kernels
        assert abs(_tone_level_db(out, freq * step)) < 0.1, freq
    if step > 1:
        for freq in (1.2 * cutoff_hz, 1.24 * cutoff_hz):
            if freq < SR / 2:
                tone = np.sin(2 * np.pi * freq * np.arange(int(1.5 * SR)) / SR).astype(np.float32)
                out = np.asarray(resample(jnp.asarray(tone)))[200:-200]
                assert _tone_level_db(out, SR - freq * step) < -20.0, freq


def test_resampler_reads_the_input_at_its_positions():
    # A ramp is reproduced where the kernel sees the whole ramp: linear functions are (nearly) exact for
    # a windowed sinc with cut-off 1, and the first and last taps read zeros beyond the ends.
    ramp = jnp.linspace(-1.0, 1.0, 4000, dtype=jnp.float32)
    out = np.asarray(ops.resample_at(jnp.sin(3.0 * ramp), jnp.float32(0.75), 5000))
    expected = np.sin(3.0 * np.interp(np.arange(5000) * 0.75, np.arange(4000), np.asarray(ramp)))
    inside = slice(20, int((4000 - 20) / 0.75))
    np.testing.assert_allclose(out[inside], expected[inside], atol=2e-3)
    assert np.all(out[int(4000 / 0.75) + 10 :] == 0.0)  # read past the end: silence


@pytest.mark.parametrize("semitones", [-4.0, -2.0, 3.0, 4.0])
def test_pitch_shift_moves_the_fundamental(semitones):
    x = harmonic_tone(220.0)
    want = 2 ** (semitones / 12)
    ours = np.asarray(stretch_and_shift(x, 1.0, semitones))
    _seed()
    theirs = A.PitchShift(min_semitones=semitones, max_semitones=semitones, p=1.0)(samples=x, sample_rate=SR)
    assert abs(fundamental(ours) / 220.0 / want - 1) < 0.01
    assert abs(fundamental(theirs) / 220.0 / want - 1) < 0.01
    assert ours.shape == x.shape


@pytest.mark.parametrize("semitones", [-4.0, 4.0])
def test_pitch_shift_keeps_duration(semitones):
    x = np.zeros(3 * SR, np.float32)
    x[SR // 2 : 2 * SR] = harmonic_tone(330.0, seconds=1.5)  # a 1.5 s note starting at 0.5 s
    on, off = active_span(np.asarray(stretch_and_shift(x, 1.0, semitones)))
    assert abs(on - 0.5) < 0.03 and abs(off - 2.0) < 0.03


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_time_stretch_rescales_click_spacing(rate):
    x = click_train(0.25)
    ours = np.asarray(stretch_and_shift(x, rate, 0.0))
    _seed()
    theirs = A.TimeStretch(min_rate=rate, max_rate=rate, leave_length_unchanged=True, p=1.0)(samples=x, sample_rate=SR)
    assert abs(click_spacing(ours) / (0.25 / rate) - 1) < 0.02
    assert abs(click_spacing(theirs) / (0.25 / rate) - 1) < 0.02


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_time_stretch_keeps_pitch(rate):
    x = harmonic_tone(220.0)
    ours = np.asarray(stretch_and_shift(x, rate, 0.0))
    _seed()
    theirs = A.TimeStretch(min_rate=rate, max_rate=rate, leave_length_unchanged=True, p=1.0)(samples=x, sample_rate=SR)
    assert abs(fundamental(ours) / 220.0 - 1) < 0.01
    assert abs(fundamental(theirs) / 220.0 - 1) < 0.01


@pytest.mark.parametrize("semitones", [-4.0, 3.0])
@pytest.mark.parametrize("rate", [0.8, 1.0, 1.25])
def test_cumulative_phase_vocoder_keeps_pitch_duration_and_timing(semitones, rate):
    """The parallel form on the scan's own figures: fundamental within 1%, note start and end within
    30 ms, click spacing within 2%."""
    x = harmonic_tone(220.0)
    got = fundamental(np.asarray(stretch_and_shift_cumulative(x, rate, semitones)))
    assert abs(got / 220.0 / 2 ** (semitones / 12) - 1) < 0.01
    clicks = np.asarray(stretch_and_shift_cumulative(click_train(0.25), rate, semitones))
    assert abs(click_spacing(clicks) / (0.25 / rate) - 1) < 0.02
    if rate == 1.0:
        note = np.zeros(3 * SR, np.float32)
        note[SR // 2 : 2 * SR] = harmonic_tone(330.0, seconds=1.5)
        on, off = active_span(np.asarray(stretch_and_shift_cumulative(note, 1.0, semitones)))
        assert abs(on - 0.5) < 0.03 and abs(off - 2.0) < 0.03


def test_both_phase_forms_agree_where_peaks_stay_in_their_bins():
    """A steady harmonic tone: every peak stays in its bin, so carrying the locked phase (scan) and each
    bin's own phase (cumulative) are the same computation; on a click train they differ (peaks move)."""
    x = harmonic_tone(250.0)  # partials at 250 Hz multiples: exactly on bins 16, 32, ... of the 1,024-point FFT
    scan = np.asarray(stretch_and_shift(x, 0.9, 0.0))
    cumulative = np.asarray(stretch_and_shift_cumulative(x, 0.9, 0.0))
    inside = slice(SR // 4, -SR // 4)
    assert np.max(np.abs(scan[inside] - cumulative[inside])) < 1e-3 * np.max(np.abs(scan))
    clicks = click_train(0.25)
    assert (
        np.max(np.abs(np.asarray(stretch_and_shift(clicks, 0.9, 2.0)) - stretch_and_shift_cumulative(clicks, 0.9, 2.0)))
        > 1e-3
    )
    with pytest.raises(ValueError, match="must be one of scan, cumulative"):
        ops.phase_vocoder(ops.stft(jnp.asarray(x)), jnp.float32(1.0), 10, "sideways")


def test_each_bin_locks_to_the_nearest_peak_within_reach_the_left_one_on_a_tie():
    rng = np.random.default_rng(3)
    mags = np.abs(rng.standard_normal((6, 200))).astype(np.float32)
    # Silence: only bin 0 is a peak (above nothing), so the bins within reach lock to it, the rest to themselves.
    mags[0] = 0.0
    mags[1, ::20] = 5.0  # peaks 20 apart: bins 10 from both are out of reach, and ties do not occur
    mags[2, 0:200:6] = 5.0  # peaks 6 apart: bins 3 from two peaks take the left one
    regions = np.asarray(ops._peak_regions(jnp.asarray(mags)))
    assert np.all(regions[0, : ops.PEAK_REACH + 1] == 0) and np.all(
        regions[0, ops.PEAK_REACH + 1 :] == np.arange(ops.PEAK_REACH + 1, 200)
    )
    for row, region in zip(mags, regions):
        neighbours = np.concatenate([[-1.0], row, [-1.0]])
        peaks = np.flatnonzero((row > neighbours[:-2]) & (row >= neighbours[2:]))
        for k in range(row.size):
            near = [p for p in peaks if abs(p - k) <= ops.PEAK_REACH]
            expected = min(near, key=lambda p: (abs(p - k), p)) if near else k
            assert region[k] == expected, (k, region[k], expected)


def _eq_params(band, gain_db):
    centres = np.array([60.0, 140, 300, 650, 1400, 3000, 6400], np.float32)
    gains = np.zeros(7, np.float32)
    gains[band] = gain_db
    return centres, gains, np.full(7, 0.9, np.float32)


@pytest.mark.parametrize("band", range(7))
@pytest.mark.parametrize("gain_db", [-9.0, 9.0])
def test_eq_band_gain_at_its_centre(band, gain_db):
    centres, gains, qs = _eq_params(band, gain_db)
    t = np.arange(3 * SR) / SR
    tone = (0.3 * np.sin(2 * np.pi * centres[band] * t)).astype(np.float32)
    out = np.asarray(ops.parametric_eq(jnp.asarray(tone), centres, gains, qs, SR))
    measured = gain_db_at(tone, out)
    # A shelf's gain at its corner frequency is half its shelf gain (RBJ definition); a peak's is the full gain.
    kind = ops.EQ_BANDS[band][0]
    expected = gain_db / 2 if kind != "peak" else gain_db
    assert abs(measured - expected) < 1.0


def test_eq_matches_audiomentations_band_for_band():
    """Draw audiomentations' random seven-band EQ, apply ours with its parameters, compare at every centre."""
    _seed(3)
    eq = A.SevenBandParametricEQ(min_gain_db=-12, max_gain_db=12, p=1.0)
    eq.randomize_parameters(np.zeros(10, np.float32), SR)
    filters = [eq.low_shelf_filter, *eq.peaking_filters, eq.high_shelf_filter]
    centres = np.array([f.parameters["center_freq"] for f in filters], np.float32)
    gains = np.array([f.parameters["gain_db"] for f in filters], np.float32)
    qs = np.array([f.parameters["q_factor"] for f in filters], np.float32)
    eq.freeze_parameters()
    t = np.arange(3 * SR) / SR
    for centre in centres:
        tone = (0.2 * np.sin(2 * np.pi * centre * t)).astype(np.float32)
        theirs = eq(samples=tone, sample_rate=SR)
        ours = np.asarray(ops.parametric_eq(jnp.asarray(tone), centres, gains, qs, SR))
        assert abs(gain_db_at(tone, ours) - gain_db_at(tone, theirs)) < 1.0


@pytest.mark.parametrize("decay,snr", [(0.0, 15.0), (3.0, 5.0), (6.0, 30.0), (-3.0, 20.0)])
def test_noise_hits_the_requested_snr(decay, snr):
    x = harmonic_tone(220.0)
    noise = ops.colored_noise(jax.random.key(1), len(x), decay)
    ours = np.asarray(ops.add_noise(jnp.asarray(x), noise, snr))
    assert abs(snr_db(x, ours) - snr) < 0.5


def test_noise_colour_slope():
    noise = np.asarray(ops.colored_noise(jax.random.key(2), 4 * SR, 3.0))  # pink: -3 dB per octave
    spectrum = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(len(noise), 1 / SR)
    band = lambda lo: spectrum[(freqs >= lo) & (freqs < 2 * lo)].mean()  # noqa: E731
    slopes = [10 * np.log10(band(2 * f) / band(f)) for f in (250, 500, 1000, 2000)]
    assert all(abs(s + 3.0) < 0.5 for s in slopes)


@pytest.mark.parametrize("snr", [10.0, 30.0])
def test_audiomentations_noise_agrees_on_snr(snr):
    x = harmonic_tone(220.0)
    _seed()
    white = A.AddGaussianSNR(min_snr_db=snr, max_snr_db=snr, p=1.0)(samples=x, sample_rate=SR)
    assert abs(snr_db(x, white) - snr) < 0.5


@pytest.mark.parametrize("target", [0.3, 0.8, 1.2])
def test_reverb_output_has_the_requested_rt60(target, tmp_path):
    click = np.zeros(3 * SR, np.float32)
    click[100] = 1.0
    ir = ops.synthetic_ir(jax.random.key(0), int(1.3 * SR), target, 0.01, SR)
    ours = np.asarray(ops.reverb(jnp.asarray(click), ir, 1.0))
    assert abs(rt60(ours) / target - 1) < 0.15
    # audiomentations with a room of the same model written as a file.
    import soundfile as sf

    sf.write(tmp_path / "room.wav", np.asarray(ir), SR, subtype="FLOAT")
    _seed()
    theirs = A.ApplyImpulseResponse(ir_path=str(tmp_path / "room.wav"), p=1.0)(samples=click, sample_rate=SR)
    assert abs(rt60(theirs) / target - 1) < 0.15


def test_gain_polarity_and_shift_are_exact():
    x = jnp.asarray(harmonic_tone(220.0))
    np.testing.assert_allclose(ops.gain(x, 6.0), x * 10 ** (6 / 20), rtol=1e-6)
    np.testing.assert_array_equal(ops.polarity(x, True), -x)
    np.testing.assert_array_equal(ops.polarity(x, False), x)
    shifted = ops.time_shift(x, 100)
    np.testing.assert_array_equal(shifted[100:], x[:-100])
    assert float(jnp.abs(shifted[:100]).max()) == 0.0
    np.testing.assert_array_equal(ops.time_shift(x, -50)[:-50], x[50:])
