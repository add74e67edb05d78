import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import soundfile as sf

from ssl_audio.augment import ops
from ssl_audio.augment.chain import (
    _exact_coins,
    input_samples,
    make_chain,
    passes,
    sample_parameters,
    shards_whole_strata,
    stratum_size,
    subset_size,
)
from ssl_audio.augment.config import all_ops, default_config, validate
from ssl_audio.augment.reference import AudiomentationsViews
from ssl_audio.errors import BadValueError
from tests.augment.measure import SR, harmonic_tone
from tests.compiled import fft_rows

B, T = 4, SR  # 1-s clips keep compile and run times small


@pytest.fixture(scope="module")
def full_chain():
    return jax.jit(make_chain(all_ops(default_config())))


def _music(batch=B):
    return jnp.asarray(np.stack([harmonic_tone(110.0 * (i + 1), seconds=1.0) for i in range(batch)]))


def test_shape_dtype_and_finite_on_music_silence_and_full_scale(full_chain):
    square = np.sign(np.sin(2 * np.pi * 100 * np.arange(T) / SR)).astype(np.float32)  # full scale
    for batch in (_music(), jnp.zeros((B, T)), jnp.asarray(np.stack([square] * B))):
        y = full_chain(batch, jax.random.key(0))
        assert y.shape == (B, T) and y.dtype == jnp.float32
        assert bool(jnp.isfinite(y).all())
    assert float(jnp.abs(full_chain(jnp.zeros((B, T)), jax.random.key(1))).max()) == 0.0  # silence stays silence


def test_compiles_once_and_reruns_without_recompiling(full_chain):
    x = _music()
    for i in range(3):
        full_chain(x, jax.random.key(i)).block_until_ready()
    assert full_chain._cache_size() == 1


def test_same_key_same_output_different_keys_differ(full_chain):
    x = _music()
    a = full_chain(x, jax.random.key(7))
    np.testing.assert_array_equal(a, full_chain(x, jax.random.key(7)))
    assert not np.allclose(a, full_chain(x, jax.random.key(8)))


def test_every_example_gets_its_own_draw(full_chain):
    same = jnp.tile(_music(1), (B, 1))
    y = np.asarray(full_chain(same, jax.random.key(3)))
    assert all(not np.allclose(y[0], y[i]) for i in range(1, B))


def test_probability_zero_is_the_identity():
    chain = jax.jit(make_chain(all_ops(default_config(), p=0.0)))
    x = _music()
    np.testing.assert_array_equal(chain(x, jax.random.key(0)), x)


def test_probabilities_gate_each_op_independently():
    config = all_ops(default_config(), p=0.0)
    config.polarity.p = 0.5
    chain = jax.jit(make_chain(config))
    x = _music(64)
    y = chain(x, jax.random.key(0))
    inverted = np.asarray(jnp.all(y == -x, axis=1))
    untouched = np.asarray(jnp.all(y == x, axis=1))
    assert (inverted | untouched).all() and 16 < inverted.sum() < 48


def test_reverb_from_a_folder_of_impulse_responses(tmp_path):
    ir = np.zeros(400, np.float32)
    ir[200] = 1.0  # a pure 200-sample delay: the output must be the input, delayed
    sf.write(tmp_path / "delay.wav", ir, SR, subtype="FLOAT")
    config = all_ops(default_config(), p=0.0)
    config.reverb.p, config.reverb.min_wet, config.reverb.max_wet, config.reverb.ir_dir = 1.0, 1.0, 1.0, str(tmp_path)
    x = _music()
    y = jax.jit(make_chain(config))(x, jax.random.key(0))
    np.testing.assert_allclose(y[:, 200:], x[:, :-200], atol=1e-4)


def test_empty_ir_folder_is_a_clear_error(tmp_path):
    config = default_config()
    config.reverb.ir_dir = str(tmp_path)
    with pytest.raises(Exception, match="ir_dir"):
        make_chain(config)


@pytest.mark.parametrize(
    "key,value,match",
    [
        ("eq.p", 1.5, "augment.eq.p"),
        ("backend", "torch", "augment.backend"),
        ("time_stretch.min_rate", 0.1, "augment.time_stretch"),
        ("noise.color", "blue", "augment.noise.color"),
        ("compression.min_ratio", 0.5, "augment.compression"),
        ("compression.max_threshold_db", 3.0, "augment.compression"),
        ("lowpass.max_cutoff_hz", 9000.0, "augment.lowpass"),
        ("lowpass.order", 0, "augment.lowpass.order"),
        ("bit_crush.min_bits", 1, "augment.bit_crush"),
        ("clipping.max_percent", 100.0, "augment.clipping"),
        (
            "vocoder_phase",
            "parallel",
            "augment.vocoder_phase: must be one of auto, scan, cumulative .*vocoder_phase=auto",
        ),
        ("clips_per_pass", "some", "augment.clips_per_pass: must be 'auto', 'all' or a whole number"),
        ("clips_per_pass", "0", "augment.clips_per_pass: .*clips_per_pass=16"),
    ],
)
def test_bad_values_name_the_key(key, value, match):
    config = default_config()
    section, _, leaf = key.rpartition(".")
    (config[section] if section else config)[leaf] = value
    with pytest.raises(ValueError, match=match):
        validate(config)


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"backend": "audiomentations"}, "whole_semitones: audiomentations .*--config.augment.backend=jax"),
        ({"min_semitones": 0.2, "max_semitones": 0.8}, "whole_semitones: no whole number .*widen the range"),
    ],
)
def test_whole_semitones_that_cannot_be_drawn_name_the_key(changes, match):
    config = default_config()
    config.pitch_shift.whole_semitones = True
    config.backend = changes.pop("backend", config.backend)
    for key, value in changes.items():
        config.pitch_shift[key] = value
    with pytest.raises(ValueError, match=match):
        validate(config)
    loose = ml_collections.ConfigDict(default_config().to_dict(), type_safe=False)  # e.g. from a run's JSON
    loose.pitch_shift.whole_semitones = "yes"
    with pytest.raises(ValueError, match="augment.pitch_shift.whole_semitones: must be True or False"):
        validate(loose)


def test_unknown_key_is_an_error_naming_it():
    config = default_config()
    with pytest.raises(AttributeError, match="gain_rnage"):
        config.eq.gain_rnage = 3
    loose = ml_collections.ConfigDict(default_config().to_dict())  # e.g. built from a dict, unlocked
    loose.eq.gain_rnage = 3
    with pytest.raises(ValueError, match="augment.eq.gain_rnage: unknown key"):
        validate(loose)


@pytest.mark.slow
def test_reference_path_in_loader_is_deterministic_per_seed():
    transform = AudiomentationsViews(all_ops(default_config()))
    element = {"view_a": np.asarray(_music(1))[0], "view_b": np.asarray(_music(1))[0]}
    a = transform.random_map(element, np.random.default_rng(5))
    b = transform.random_map(element, np.random.default_rng(5))
    c = transform.random_map(element, np.random.default_rng(6))
    np.testing.assert_array_equal(a["view_a"], b["view_a"])
    assert not np.allclose(a["view_a"], c["view_a"])
    assert not np.allclose(a["view_a"], a["view_b"])  # the two views get different draws


def test_views_sped_up_are_audio_to_their_end():
    """A view stretched at the fastest rate, cut from input_samples of audio, has no silent tail; cut from
    its own length (what the loader used to crop), the last 1 - 1/rate of it is silence."""
    config = all_ops(default_config(), p=0.0)
    config.time_stretch.p, config.time_stretch.min_rate = 1.0, config.time_stretch.max_rate  # always 1.25
    view = T // 2
    longer = input_samples(config, view)
    assert longer == int(np.ceil(view * 1.25))
    x = jnp.tile(_music(1)[:, :longer], (2, 1))
    tail = slice(int(view * 0.85), view)  # inside the last 20%
    y = np.asarray(jax.jit(make_chain(config, view))(x, jax.random.key(0)))
    assert y.shape == (2, view)
    assert np.sqrt(np.mean(y[:, tail] ** 2)) > 0.3 * np.sqrt(np.mean(y[:, : view // 2] ** 2))
    own_length = np.asarray(jax.jit(make_chain(config))(x[:, :view], jax.random.key(0)))
    assert np.sqrt(np.mean(own_length[:, tail] ** 2)) < 1e-3 * np.sqrt(np.mean(own_length[:, : view // 2] ** 2))


def test_unstretched_views_are_the_first_view_samples():
    config = all_ops(default_config(), p=0.0)
    x = _music()
    np.testing.assert_array_equal(jax.jit(make_chain(config, T // 2))(x, jax.random.key(0)), x[:, : T // 2])
    assert input_samples(config, 1000) == 1000  # nothing is stretched: no longer crop needed


def test_the_vocoder_path_draws_whole_semitones_when_asked():
    config = default_config()
    config.pitch_shift.whole_semitones = True
    s = np.asarray(sample_parameters(config, jax.random.key(1), 4096, n_irs=0)["semitones"])
    assert np.array_equal(s, np.round(s)) and set(np.unique(s)) == set(range(-4, 5))


@pytest.mark.parametrize("p,batch", [(0.5, 32), (0.3, 32), (0.75, 12)])
def test_exact_coins_give_each_example_chance_p_and_each_stratum_a_fixed_count(p, batch):
    """The costly ops run on a fixed number of examples per stratum (static shapes), and still each example
    draws its op with probability p: counts are floor or ceil of p x S, and the marginal over keys is p."""
    s = stratum_size(batch)
    draws = np.array([np.asarray(_exact_coins(jax.random.key(i), batch, p)[0]) for i in range(400)])
    counts = draws.reshape(400, batch // s, s).sum(axis=2)
    assert set(np.unique(counts)) <= {int(np.floor(p * s)), int(np.ceil(p * s))}
    assert abs(draws.mean() - p) < 0.02  # 400 x batch coins: sd of the mean under 0.01
    assert np.all(np.abs(draws.mean(axis=0) - p) < 0.1)  # no example is favoured (per-example sd <= 0.025)
    assert subset_size(p, batch) == int(np.ceil(p * s - 1e-9))


def test_pitch_and_stretch_share_one_exact_coin_and_stay_independent():
    config = default_config()
    config.pitch_shift.p, config.time_stretch.p = 0.5, 0.3
    params = [sample_parameters(config, jax.random.key(i), 32, 0) for i in range(300)]
    pitch = np.array([np.asarray(q["semitones"]) != 0 for q in params])
    stretch = np.array([np.asarray(q["rate"]) != 1 for q in params])
    vocoder = np.array([np.asarray(q["vocoder_on"]) for q in params])
    np.testing.assert_array_equal(vocoder, pitch | stretch)
    assert abs(pitch.mean() - 0.5) < 0.02 and abs(stretch.mean() - 0.3) < 0.02
    assert abs((pitch & stretch).mean() - 0.15) < 0.02


def test_an_op_on_a_subset_lands_on_the_examples_whose_coin_said_yes():
    """EQ at p = 0.5 on 32 examples: exactly 16 come back bit for bit, and each of the others is the EQ op
    applied alone with that example's own drawn parameters (the gather and scatter keep examples in place)."""
    config = all_ops(default_config(), p=0.0)
    config.eq.p = 0.5
    x = _music(32)
    key = jax.random.key(4)
    y = np.asarray(jax.jit(make_chain(config))(x, key))
    params = sample_parameters(config, key, 32, 0)
    on = np.asarray(params["eq_on"])
    assert on.sum() == 16
    np.testing.assert_array_equal(y[~on], np.asarray(x)[~on])
    for i in np.flatnonzero(on)[:4]:
        alone = ops.parametric_eq(x[i], params["eq_centres"][i], params["eq_gains_db"][i], params["eq_qs"][i], SR)
        np.testing.assert_allclose(y[i], np.asarray(alone), atol=1e-5)
        assert not np.allclose(y[i], np.asarray(x)[i])


def test_the_chain_runs_the_vocoder_in_the_form_the_config_names():
    x = jnp.asarray(np.stack([harmonic_tone(220.0 + 30 * i, seconds=1.0) for i in range(4)]))
    config = default_config()
    config.pitch_shift.p = config.time_stretch.p = 1.0  # every example through the vocoder
    for name in ("eq", "reverb", "noise", "time_shift"):
        config[name].p = 0.0
    views = {}
    for form in ("scan", "cumulative", "auto"):
        config.vocoder_phase = form
        views[form] = np.asarray(jax.jit(make_chain(config))(x, jax.random.key(0)))
        assert views[form].shape == x.shape and np.all(np.isfinite(views[form]))
    assert not np.allclose(views["scan"], views["cumulative"], atol=1e-4)  # the key reaches the vocoder
    np.testing.assert_array_equal(views["auto"], views["scan"])  # on this CPU, "auto" is the scan


def test_auto_vocoder_is_the_scan_on_a_cpu_and_the_cumulative_form_on_an_accelerator():
    from ssl_audio.augment.config import vocoder_form

    assert [vocoder_form("auto", p) for p in ("cpu", "gpu", "tpu")] == ["scan", "cumulative", "cumulative"]
    assert [vocoder_form(f, "gpu") for f in ("scan", "cumulative")] == ["scan", "cumulative"]


@pytest.mark.parametrize(
    "batch, devices, sharded",
    [(64, 4, True), (48, 3, True), (128, 4, True), (32, 4, False), (8, 4, False), (12, 4, False), (64, 1, False)],
)
def test_each_device_augments_its_own_shard_only_when_it_holds_whole_strata(batch, devices, sharded):
    """make_chain(mesh=...) runs the ops per device only where no stratum straddles two devices: else a
    device's subset would depend on examples it does not hold (and the views on the device count). That the
    sharded chain makes one device's views, with per-device FFTs, is tests/pretrain/test_scaling.py's."""
    from types import SimpleNamespace

    assert shards_whole_strata(batch, SimpleNamespace(shape={"data": devices})) is sharded


def test_passes_are_one_stratum_on_a_cpu_the_whole_batch_elsewhere_or_what_the_config_names():
    assert [passes("auto", 64, p) for p in ("cpu", "gpu", "tpu")] == [16, 64, 64]
    assert [passes("auto", 12, "cpu"), passes("auto", 8, "cpu")] == [12, 8]  # a small batch is one stratum
    assert [passes("all", 64, "cpu"), passes("32", 64, "gpu"), passes("64", 64, "cpu")] == [64, 32, 64]
    for setting, batch in (("24", 64), ("32", 48), ("8", 64)):  # not whole strata, or not dividing the batch
        with pytest.raises(BadValueError, match=f"augment.clips_per_pass: {setting} clips a pass .*=auto"):
            passes(setting, batch, "cpu")


def test_in_passes_the_chain_makes_the_whole_batchs_views_and_transforms_a_pass_at_a_time():
    """The same draws, so the same views up to float rounding (bit crush is off: it rounds to a grid, where a
    last-bit difference can move a sample by a step); and every FFT of the compiled chain is one pass's."""
    x = jnp.asarray(np.stack([harmonic_tone(110.0 * (1 + i % 5), seconds=0.5) for i in range(32)]))
    config = all_ops(default_config())
    config.bit_crush.p = 0.0
    views, rows = {}, {}
    for setting in ("all", "16"):
        config.clips_per_pass = setting
        compiled = jax.jit(make_chain(config)).lower(x, jax.random.key(3)).compile()
        views[setting] = np.asarray(compiled(x, jax.random.key(3)))
        rows[setting] = fft_rows(compiled)
    np.testing.assert_allclose(views["16"], views["all"], atol=1e-5)
    assert not np.allclose(views["16"], np.asarray(x)[:, : views["16"].shape[1]], atol=1e-3)  # the ops ran
    assert rows == {"all": 32, "16": 16}
