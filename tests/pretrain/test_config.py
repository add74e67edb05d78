"""Configs: every file and variant loads; overrides are typed; bad keys and values are named."""

from __future__ import annotations

import json

import pytest

from ssl_audio.saved_config import upgrade
from ssl_audio_pretrain.config import REQUIRED_KEYS, ConfigError, differences, load_config, to_json
from ssl_audio_pretrain.optimizer import learning_rate_schedule, make_optimizer, peak_learning_rate

CONFIGS = ["configs/simclr_logmel_cnn.py", "configs/simclr_samplecnn.py", "configs/simclr_transformer.py"]


@pytest.mark.parametrize("variant", ["", ":demo", ":tiny"])
@pytest.mark.parametrize("path", CONFIGS)
def test_every_config_and_variant_loads_with_the_required_keys(path, variant):
    config = load_config(path + variant)
    assert all(key in config for key in REQUIRED_KEYS)


def test_the_music_variant_is_the_demo_recipe_with_its_real_music_choices_and_only_for_logmel_cnn():
    demo, music = load_config(CONFIGS[0] + ":demo"), load_config(CONFIGS[0] + ":music")
    assert music.model.to_dict() == demo.model.to_dict() and music.batch_size == demo.batch_size
    assert music.augment.pitch_stretch == "waveform" and demo.augment.pitch_stretch == "bands"
    with pytest.raises(ConfigError, match="config variant 'music' unknown"):
        load_config(CONFIGS[1] + ":music")


def test_overrides_are_typed_and_reach_nested_keys():
    config = load_config(
        CONFIGS[0] + ":tiny",
        ["--config.batch_size=16", "--config.optimizer.lr=0.01", "--config.dataset=mine", "--config.augment.noise.p=0"],
    )
    assert (config.batch_size, config.optimizer.lr, config.dataset, config.augment.noise.p) == (16, 0.01, "mine", 0)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--config.batchsize=3"], "config.batchsize: unknown key (did you mean config.batch_size?)"),
        (["--config.optimizer.lrr=1"], "config.optimizer.lrr: unknown key (did you mean config.optimizer.lr?)"),
        (["--config.batch_size=abc"], "--config.batch_size=abc"),
        (["--config.optimizer.name=sgd"], "config.optimizer.name: must be one of"),
        (["--config.objective=simsiam"], "config.objective: must be one of ('nt_xent', 'dcl', 'byol', 'best_rq')"),
        (["--config.augment.eq.p=2"], "config.augment.eq.p: must be in [0, 1]"),
        (["--config.total_steps=10"], "config.optimizer.warmup_steps: must be below total_steps (10)"),
        (["--batch=3"], "--batch=3: not a config override"),
        (["--config.model.scale=cqt"], "config.model.scale: 'mel' or 'log', got 'cqt'"),
        (
            ["--config.model.n_fft=2048", "--config.model.f_min=65.4", "--config.model.n_mels=128"],
            "reach 100341 Hz, above the Nyquist frequency 8000 Hz: lower config.model.n_mels or config.model.f_min",
        ),
    ],
)
def test_bad_overrides_are_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config(CONFIGS[0], overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_unknown_variant_are_named():
    with pytest.raises(ConfigError, match="no such file configs/nope.py"):
        load_config("configs/nope.py")
    with pytest.raises(ConfigError, match="config variant 'huge' unknown"):
        load_config(CONFIGS[0] + ":huge")


def test_run_control_keys_may_change_on_resume_but_nothing_else():
    a = to_json(load_config(CONFIGS[0] + ":tiny"))
    b = to_json(
        load_config(
            CONFIGS[0] + ":tiny",
            [
                "--config.log_every_steps=1",
                "--config.data_dir=/elsewhere",
                "--config.augment.vocoder_phase=cumulative",
                "--config.augment.clips_per_pass=all",
            ],
        )
    )
    c = to_json(load_config(CONFIGS[0] + ":tiny", ["--config.model.embedding_size=64"]))
    assert differences(a, b) == []
    assert differences(a, c) == [("model.embedding_size", 32, 64)]


def test_a_run_saved_before_keys_were_added_upgrades_to_the_old_behaviour_and_resumes_while_they_keep_it():
    current = to_json(load_config(CONFIGS[0] + ":tiny"))
    saved = json.loads(json.dumps(current))
    for op in ("compression", "clipping", "lowpass", "bit_crush"):
        del saved["augment"][op]
    saved["model"].pop("readout", None)
    for key in ("scale", "f_min", "bins_per_octave"):
        del saved["model"][key]
    del saved["objective"]
    del saved["augment"]["pitch_shift"]["whole_semitones"]
    del saved["augment"]["mixup"]
    saved = upgrade(saved)  # what every reader of a saved config.json does first
    assert differences(saved, current) == []
    whole = to_json(load_config(CONFIGS[0] + ":tiny", ["--config.augment.pitch_shift.whole_semitones=True"]))
    assert [d[0] for d in differences(saved, whole)] == ["augment.pitch_shift.whole_semitones"]
    turned_on = to_json(load_config(CONFIGS[0] + ":tiny", ["--config.augment.compression.p=0.5"]))
    assert [d[0] for d in differences(saved, turned_on)] == ["augment.compression.p"]
    other_loss = to_json(load_config(CONFIGS[0] + ":tiny", ["--config.objective=dcl"]))
    assert [d[0] for d in differences(saved, other_loss)] == ["objective"]
    log_bands = to_json(load_config(CONFIGS[0] + ":tiny", ["--config.model.scale=log", "--config.model.f_min=65.4"]))
    assert [d[0] for d in differences(saved, log_bands)] == ["model.f_min", "model.scale"]


def test_schedule_warms_up_then_decays_to_zero_and_scales_with_batch():
    config = load_config(CONFIGS[0] + ":tiny")
    schedule = learning_rate_schedule(config)
    peak = peak_learning_rate(config)
    assert peak == pytest.approx(config.optimizer.lr * config.batch_size / 256)
    assert float(schedule(0)) == 0.0
    assert float(schedule(config.optimizer.warmup_steps)) == pytest.approx(peak)
    assert float(schedule(config.total_steps)) == pytest.approx(0.0, abs=1e-12)
    assert 0 < float(schedule((config.optimizer.warmup_steps + config.total_steps) // 2)) < peak


@pytest.mark.parametrize("name", ["adamw", "lars"])
def test_optimizers_exempt_biases_and_norms_from_weight_decay(name):
    import jax.numpy as jnp
    import optax

    config = load_config(
        CONFIGS[0] + ":tiny",
        [f"--config.optimizer.name={name}", "--config.optimizer.weight_decay=0.5", "--config.optimizer.warmup_steps=0"],
    )
    tx = make_optimizer(config)
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones((2,))}
    zero = {"kernel": jnp.zeros((2, 2)), "bias": jnp.zeros((2,))}
    state = tx.init(params)
    state = tx.update(zero, state, params)[1]  # step 0 has lr 0; look at step 1
    updates, _ = tx.update(zero, state, params)
    assert float(jnp.abs(updates["kernel"]).max()) > 0  # decayed with a zero gradient
    assert float(jnp.abs(updates["bias"]).max()) == 0.0  # not decayed
    assert isinstance(tx, optax.GradientTransformation)
