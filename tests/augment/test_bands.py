"""Pitch shift and time stretch on the model's semitone bands (augment.pitch_stretch="bands")."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from ssl_audio.augment.bands import BandViews, mix, mix_partners, shift_and_stretch, uses_bands, waveform_config
from ssl_audio.augment.chain import make_chain
from ssl_audio.augment.config import default_config
from ssl_audio.models.frontend import log_filterbank, log_filterbank_with_margin, log_mel
from tests.pretrain.helpers import BANDS, TINY

SR, N_FFT, HOP = 16_000, 1024, 256
F_MIN, N_BANDS, BPO = 65.40639, 84, 12  # the demo's plan: 84 semitones from C2 (to 7.9 kHz)


def _model(**changes) -> ml_collections.ConfigDict:
    m = dict(name="logmel_cnn", scale="log", n_fft=N_FFT, hop=HOP, n_mels=N_BANDS, f_min=F_MIN, bins_per_octave=BPO)
    return ml_collections.ConfigDict({**m, **changes})


def _bands(audio: np.ndarray, margin: int) -> jax.Array:
    return log_mel(
        jnp.asarray(audio)[None], sample_rate=SR, n_fft=N_FFT, hop=HOP, n_mels=N_BANDS, f_min=F_MIN, scale="log",
        bins_per_octave=BPO, margin=margin,
    )[0]  # fmt: skip


def _tone(hz: float, seconds: float = 1.0, start: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * hz * t) * (t >= start)).astype(np.float32)


def _peak_band(bands: jax.Array) -> float:
    """Centroid of the three bands around the loudest band of the mean power: a tone's position in bands."""
    power = np.exp(np.asarray(bands)).mean(axis=0)
    k = int(np.argmax(power))
    window = power[k - 1 : k + 2]
    return float(np.sum(window * np.arange(k - 1, k + 2)) / np.sum(window))


def test_the_margin_keeps_the_plans_own_bands_and_is_silent_past_nyquist():
    margin = 4
    plain = log_filterbank(SR, N_FFT, N_BANDS, F_MIN, BPO)
    wide = log_filterbank_with_margin(SR, N_FFT, N_BANDS, F_MIN, BPO, margin)
    assert wide.shape == (N_FFT // 2 + 1, N_BANDS + 2 * margin)
    np.testing.assert_allclose(wide[:, margin : margin + N_BANDS], plain, atol=1e-6)
    centres = F_MIN * 2 ** ((np.arange(N_BANDS + 2 * margin) - margin) / BPO)
    past = centres >= SR / 2
    assert past.any() and not wide[:, past].any()  # the top of the demo's plan + 4 semitones passes 8 kHz
    assert wide[:, ~past].sum(axis=0) == pytest.approx(1.0, abs=1e-5)  # the rest area-normalised as before


def test_no_shift_and_rate_one_give_the_plans_own_bands():
    audio = _tone(440.0) + _tone(97.0)
    with_margin, plain = _bands(audio, 4), _bands(audio, 0)
    out = shift_and_stretch(with_margin, 0.0, 1.0, margin=4, n_bands=N_BANDS, n_out=50)
    np.testing.assert_allclose(out, plain[:50], atol=1e-4)


def test_a_whole_semitone_shift_moves_the_bands_by_one_each():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((30, N_BANDS + 8)).astype(np.float32))
    for k in (-4, -1, 2, 4):
        out = shift_and_stretch(x, float(k), 1.0, margin=4, n_bands=N_BANDS, n_out=30)
        np.testing.assert_allclose(out, x[:, 4 - k : 4 - k + N_BANDS], atol=1e-5)


@pytest.mark.parametrize("semitones", [3.0, -2.5, 1.5])
def test_a_shifted_tone_lands_where_the_tone_at_the_shifted_pitch_is(semitones):
    """Physics, not indices: a 440 Hz tone shifted in the band domain peaks where a tone played that many
    semitones higher peaks in the plain front end (fractions of a semitone included)."""
    shifted = shift_and_stretch(_bands(_tone(440.0), 4), semitones, 1.0, margin=4, n_bands=N_BANDS, n_out=50)
    played = _bands(_tone(440.0 * 2 ** (semitones / 12)), 0)[:50]
    assert _peak_band(shifted) == pytest.approx(_peak_band(played), abs=0.15)
    assert _peak_band(shifted) - _peak_band(_bands(_tone(440.0), 0)) == pytest.approx(semitones, abs=0.15)


@pytest.mark.parametrize("rate", [0.8, 1.25])
def test_a_stretched_onset_comes_at_its_time_divided_by_the_rate(rate):
    """Frame t of the view is frame r t of the input: an onset at 1.0 s comes at 1.0 / r s."""
    bands = _bands(_tone(440.0, seconds=2.5, start=1.0), 0)
    out = np.asarray(shift_and_stretch(bands, 0.0, rate, margin=0, n_bands=N_BANDS, n_out=120))
    loudness = np.exp(out).sum(axis=1)
    onset = int(np.argmax(loudness > 0.5 * loudness.max()))
    assert onset * HOP / SR == pytest.approx(1.0 / rate, abs=2.5 * HOP / SR)  # within the window's reach


def test_coins_and_ranges_are_the_waveform_paths():
    c = default_config()
    c.pitch_stretch = "bands"
    views = BandViews(c, _model(), view_samples=2 * SR)
    assert views.margin == 4 and views.view_frames == 1 + 2 * SR // HOP
    p = jax.jit(views.sample, static_argnums=1)(jax.random.key(0), 20_000)
    pitch, stretch = np.asarray(p["semitones"]) != 0, np.asarray(p["rate"]) != 1
    assert pitch.mean() == pytest.approx(c.pitch_shift.p, abs=0.02)
    assert stretch.mean() == pytest.approx(c.time_stretch.p, abs=0.02)
    assert (pitch & stretch).mean() == pytest.approx(c.pitch_shift.p * c.time_stretch.p, abs=0.02)  # independent
    s, r = np.asarray(p["semitones"])[pitch], np.asarray(p["rate"])[stretch]
    assert -4.0 <= s.min() < -3.9 and 3.9 < s.max() <= 4.0
    assert 0.8 <= r.min() < 0.81 and 1.24 < r.max() <= 1.25


def test_whole_semitones_draws_every_whole_shift_in_the_range_and_nothing_between():
    c = default_config()
    c.pitch_stretch = "bands"
    c.pitch_shift.whole_semitones = True
    views = BandViews(c, _model(), view_samples=2 * SR)
    p = jax.jit(views.sample, static_argnums=1)(jax.random.key(0), 20_000)
    s = np.asarray(p["semitones"])
    assert np.array_equal(s, np.round(s))  # on the 12-tone grid
    shifted = s[s != 0]
    assert set(np.unique(shifted)) == {-4.0, -3.0, -2.0, -1.0, 1.0, 2.0, 3.0, 4.0}  # both ends reached
    # The coin is unchanged; a whole draw of 0 (1 in 9) leaves a pitched example where it was.
    assert (s != 0).mean() == pytest.approx(c.pitch_shift.p * 8 / 9, abs=0.02)
    counts = np.unique(shifted, return_counts=True)[1]
    assert counts.min() > 0.8 * counts.mean()  # uniform over the whole numbers


def test_whole_semitone_views_equal_the_input_moved_by_whole_bands():
    """No interpolation between bands: a whole shift reads each band from exactly one input band."""
    c = default_config()
    c.pitch_stretch = "bands"
    c.pitch_shift.whole_semitones = True
    c.time_stretch.p = 0.0
    views = BandViews(c, _model(), view_samples=SR)
    bands = _bands(_tone(330.0, seconds=1.0) + _tone(523.0, seconds=1.0), views.margin)[None].repeat(64, axis=0)
    params = views.sample(jax.random.key(3), 64)
    out = np.asarray(views.apply(bands, params))
    for i, s in enumerate(np.asarray(params["semitones"]).astype(int)):
        moved = np.asarray(bands[i, : views.view_frames, views.margin - s : views.margin - s + N_BANDS])
        np.testing.assert_allclose(out[i], moved, atol=1e-4)


def test_the_default_draw_is_real_valued_and_the_same_stream_as_before():
    """whole_semitones=False keeps the draw runs were made with: a uniform of the same key and range."""
    from ssl_audio.augment.config import draw_semitones

    c = default_config()
    got = draw_semitones(jax.random.key(7), (1000,), c.pitch_shift)
    want = jax.random.uniform(jax.random.key(7), (1000,), minval=-4.0, maxval=4.0)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert not np.array_equal(np.asarray(got), np.round(np.asarray(got)))


def test_mixup_partners_are_another_example_of_the_same_stratum_and_ratios_follow_the_coin():
    draws = [mix_partners(jax.random.key(i), 64, 0.6, 0.4) for i in range(200)]
    partner = np.stack([np.asarray(d["mix_partner"]) for d in draws])
    ratio = np.stack([np.asarray(d["mix_ratio"]) for d in draws])
    own = np.arange(64)
    assert not np.any(partner == own)  # never itself
    assert np.all(partner // 16 == own // 16)  # inside its stratum of 16: inside a device's shard
    assert set(np.unique(partner[:, 0])) == set(range(1, 16))  # every other member of the stratum
    assert 0.0 <= ratio.min() and ratio.max() <= 0.4
    assert (ratio > 0).mean() == pytest.approx(0.6, abs=0.015)  # 12,800 coins: sd 0.004
    assert ratio[ratio > 0].mean() == pytest.approx(0.2, abs=0.01)  # uniform on [0, 0.4]


def test_mixup_adds_the_partners_power_at_its_ratio():
    views = jnp.log(jnp.stack([jnp.full((5, 7), 1.0), jnp.full((5, 7), 3.0), jnp.full((5, 7), 2.0)]))
    out = np.exp(np.asarray(mix(views, jnp.array([1, 0, 2]), jnp.array([0.25, 0.0, 0.4]))))
    np.testing.assert_allclose(out[0], 0.75 * 1.0 + 0.25 * 3.0, rtol=1e-6)  # 1.5: a quarter of clip 1 behind
    np.testing.assert_allclose(out[1], 3.0, rtol=1e-6)  # ratio 0: the view itself
    np.testing.assert_allclose(out[2], 2.0, rtol=1e-6)  # its own power mixed with itself


def test_mixup_off_keeps_the_views_and_their_draws_and_on_mixes_views_on_their_coin():
    c = default_config()
    c.pitch_stretch = "bands"
    off = BandViews(c, _model(), view_samples=SR)
    c.mixup.p = 1.0
    on = BandViews(c, _model(), view_samples=SR)
    key = jax.random.key(4)
    p_off, p_on = off.sample(key, 16), on.sample(key, 16)
    assert set(p_off) == {"semitones", "rate"}  # nothing drawn, nothing mixed, when off
    for name in ("semitones", "rate"):  # the same draws either way: runs without mixup are unchanged
        np.testing.assert_array_equal(np.asarray(p_off[name]), np.asarray(p_on[name]))
    bands = jnp.stack([_bands(_tone(110.0 * 2 ** (i / 12), seconds=1.25), on.margin) for i in range(16)])
    plain, mixed = np.asarray(off.apply(bands, p_off)), np.asarray(on.apply(bands, p_on))
    assert plain.shape == mixed.shape == (16, on.view_frames, N_BANDS)
    partner, ratio = np.asarray(p_on["mix_partner"]), np.asarray(p_on["mix_ratio"])
    want = np.log(
        np.maximum((1 - ratio[:, None, None]) * np.exp(plain) + ratio[:, None, None] * np.exp(plain[partner]), 1e-10)
    )
    np.testing.assert_allclose(mixed, want, atol=1e-4)
    assert np.all(ratio > 0)


def test_mixup_on_the_waveform_path_is_refused_naming_the_key_and_the_flag():
    from ssl_audio_pretrain.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"^config\.augment\.mixup: .*--config\.augment\.pitch_stretch=bands"):
        load_config(TINY, ["--config.augment.mixup.p=0.5"])
    with pytest.raises(ConfigError, match=r"^config\.augment\.mixup\.max_ratio: must be in \(0, 0\.5\]"):
        load_config(TINY, [*BANDS, "--config.augment.mixup.p=0.5", "--config.augment.mixup.max_ratio=0.9"])


def test_the_waveform_chain_then_keeps_the_longer_input_and_skips_the_vocoder():
    c = default_config()
    c.pitch_stretch = "bands"
    assert uses_bands(c)
    wave = waveform_config(c)
    assert wave.pitch_shift.p == wave.time_stretch.p == 0.0 and c.pitch_shift.p == 0.5  # the original untouched
    batch = jnp.asarray(np.stack([_tone(220.0 * (i + 1), seconds=1.25) for i in range(4)]))
    out = jax.jit(make_chain(wave, SR, cut=False))(batch, jax.random.key(0))
    assert out.shape == batch.shape  # cut later, after the band-domain stretch


def test_views_on_a_model_without_semitone_bands_are_refused_naming_the_key_and_the_flag():
    c = default_config()
    c.pitch_stretch = "bands"
    hint = r"config\.augment\.pitch_stretch: .*--config\.augment\.pitch_stretch=waveform"
    with pytest.raises(ValueError, match=hint):
        BandViews(c, _model(scale="mel"), view_samples=SR)
    with pytest.raises(ValueError, match="config.augment.pitch_stretch"):
        BandViews(c, _model(name="samplecnn"), view_samples=SR)


def test_config_errors_are_one_line_naming_the_key(tmp_path):
    from ssl_audio_pretrain.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"^config\.augment\.pitch_stretch: 'bands' needs .*scale='log'"):
        load_config(TINY, ["--config.augment.pitch_stretch=bands"])  # the tiny config has mel bands
    with pytest.raises(ConfigError, match=r"^config\.augment\.pitch_stretch: must be 'waveform'"):
        load_config(TINY, ["--config.augment.pitch_stretch=spectral"])
    with pytest.raises(ConfigError, match=r"^config\.augment\.pitch_stretch: 'bands' views are made on the device"):
        load_config(TINY, [*BANDS, "--config.augment.backend=audiomentations"])


# The waveform chain's other ops off: each op at p=0 is left out of the program, so the step compiles in a
# fraction of the time, and these tests are about the band stage.
WAVEFORM_OFF = tuple(f"--config.augment.{op}.p=0" for op in ("time_shift", "eq", "reverb", "gain", "polarity", "noise"))


def _step_loss(*overrides) -> float:
    """The tiny config's loss on one fixed batch, with band views (the waveform chain's own ops off);
    asserts loss and gradients finite."""
    from ssl_audio.augment.views import crop_samples
    from ssl_audio.distributed import make_mesh
    from ssl_audio_pretrain.config import load_config
    from ssl_audio_pretrain.optimizer import make_optimizer
    from ssl_audio_pretrain.state import create_state, model_graphdef
    from ssl_audio_pretrain.step import make_loss_and_grads

    config = load_config(TINY, [*BANDS, *WAVEFORM_OFF, *overrides])
    state, _ = create_state(config, make_optimizer(config), make_mesh(jax.devices()[:1]))
    rng = np.random.default_rng(0)
    shape = (config.batch_size, crop_samples(config))
    batch = {v: (0.1 * rng.standard_normal(shape)).astype(np.float32) for v in ("view_a", "view_b")}
    value, _, grads, _ = jax.jit(make_loss_and_grads(config, model_graphdef(config)))(state, batch)
    assert np.isfinite(float(value)) and all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
    return float(value)


def test_a_training_step_with_band_views_and_no_draws_is_the_waveform_step():
    off = ("--config.augment.pitch_shift.p=0", "--config.augment.time_stretch.p=0")
    # With both coins off the band stage is a cut: the waveform path's loss on the same views (its chain,
    # with both off, cuts the same first view_samples), up to float32 rounding.
    assert _step_loss(*off) == pytest.approx(_step_loss(*off, "--config.augment.pitch_stretch=waveform"), rel=1e-4)


@pytest.mark.parametrize(
    "overrides", [("--config.objective=byol",), ("--config.batch_norm=per_view",), ("--config.augment.mixup.p=0.5",)]
)
def test_band_views_run_on_every_path_of_the_step(overrides):
    _step_loss(*overrides)
