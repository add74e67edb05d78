"""Encoders by name, their shapes, and the log-mel front end against librosa."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import nnx

from ssl_audio.models import ENCODERS, build_encoder
from ssl_audio.models.frontend import log_mel
from ssl_audio.models.registry import UnknownModelError
from ssl_audio.objectives import build_model
from ssl_audio_pretrain.config import load_config


@pytest.mark.parametrize("name", ["logmel_cnn", "samplecnn", "transformer"])
def test_each_config_builds_its_encoder_and_embeds(name):
    config = load_config(f"configs/simclr_{name}.py:tiny")
    model = build_model(config)
    samples = int(round(config.crop_seconds * config.sample_rate))
    audio = jnp.asarray(np.random.default_rng(0).standard_normal((3, samples)) * 0.1, jnp.float32)
    h, z = model(audio)
    assert h.shape == (3, model.embedding_size) and z.shape == (3, config.model.projection.output_size)
    assert h.dtype == z.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(h))) and bool(jnp.all(jnp.isfinite(z)))
    assert float(jnp.std(h, axis=0).mean()) > 0  # different clips, different embeddings


def test_bfloat16_compute_keeps_float32_parameters_and_outputs():
    config = load_config("configs/simclr_logmel_cnn.py:tiny", ["--config.compute_dtype=bfloat16"])
    model = build_model(config)
    params = jax.tree.leaves(nnx.state(model, nnx.Param))
    assert all(p.dtype == jnp.float32 for p in params)
    h, z = model(jnp.zeros((2, 16_000)))
    assert h.dtype == jnp.float32


def test_every_registered_encoder_has_a_config():
    assert set(ENCODERS) == {"samplecnn", "logmel_cnn", "spectrogram_transformer", "conformer"}


def test_unknown_encoder_is_named_with_the_choices():
    model = ml_collections.ConfigDict({"name": "resnet9000"})
    with pytest.raises(
        UnknownModelError,
        match="config.model.name: unknown encoder 'resnet9000'; choose one of "
        "conformer, logmel_cnn, samplecnn, spectrogram_transformer",
    ):
        build_encoder(model, sample_rate=16_000, input_samples=16_000, rngs=nnx.Rngs(0))


def test_log_mel_matches_librosa():
    import librosa

    rng = np.random.default_rng(0)
    t = np.arange(16_000) / 16_000
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    ours = np.asarray(log_mel(jnp.asarray(audio[None]), sample_rate=16_000, n_fft=512, hop=256, n_mels=64))[0]
    theirs = librosa.feature.melspectrogram(
        y=audio, sr=16_000, n_fft=512, hop_length=256, n_mels=64, power=2.0, center=True, pad_mode="reflect"
    ).T
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, np.log(np.maximum(theirs, 1e-6)), atol=1e-3)


def _peak_band(freq_hz: float, **frontend) -> int:
    """The band of a 1-s tone's highest mean log power."""
    t = np.arange(16_000) / 16_000
    audio = jnp.asarray((0.3 * np.sin(2 * np.pi * freq_hz * t))[None].astype(np.float32))
    spec = np.asarray(log_mel(audio, sample_rate=16_000, hop=256, **frontend))[0]
    return int(np.argmax(spec.mean(axis=0)))


def test_log_bands_are_a_semitone_apart_where_mel_bands_merge_a_third():
    """A major and a minor third above A3 (277 Hz and 262 Hz, one semitone apart) fall in different log
    bands, one band apart, with A3 itself 12 bands below A4; a 64-band mel bank puts both thirds in one."""
    bank = dict(n_fft=2048, scale="log", n_mels=84, f_min=65.40639, bins_per_octave=12)  # C2 .. B8
    a3, minor, major, a4 = (_peak_band(f, **bank) for f in (220.0, 261.63, 277.18, 440.0))
    assert a4 - a3 == 12 and major - minor == 1 and minor - a3 == 3
    mel = dict(n_fft=512, n_mels=64)
    assert _peak_band(261.63, **mel) == _peak_band(277.18, **mel)


def test_log_bands_sum_to_one_and_a_band_plan_past_nyquist_is_an_error():
    from ssl_audio.models.frontend import log_filterbank

    bank = log_filterbank(16_000, 2048, 84, 65.40639, 12)
    np.testing.assert_allclose(bank.sum(axis=0), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="above the Nyquist frequency 8000 Hz: lower config.model.n_mels"):
        log_filterbank(16_000, 2048, 96, 65.40639, 12)
    with pytest.raises(ValueError, match="f_min > 0"):
        log_filterbank(16_000, 2048, 84, 0.0, 12)


def test_a_stem_sees_an_octave_at_full_resolution_and_a_bad_kernel_is_named():
    """With a stem, one output band depends on the 13 input bands around it (an octave of semitones),
    before any stride; a kernel that is not (time, frequency) is an error naming the key."""
    config = load_config(
        "configs/simclr_logmel_cnn.py:tiny", ["--config.model.stem_channels=4", "--config.model.stem_kernel=(3, 13)"]
    )
    model = build_model(config)
    encoder = model.encoder
    assert encoder.stem.kernel.value.shape == (3, 13, 1, 4)
    assert encoder.blocks[0].conv1.kernel.value.shape[2] == 4  # the first block reads the stem's channels
    spec = jnp.zeros((1, 9, 32, 1)).at[0, 4, 16, 0].set(1.0)
    touched = np.flatnonzero(np.abs(np.asarray(encoder.stem(spec))[0]).sum(axis=(0, 2)) > 0)
    assert touched.min() == 16 - 6 and touched.max() == 16 + 6
    h, _ = model(jnp.asarray(np.random.default_rng(0).standard_normal((2, 16_000)) * 0.1, jnp.float32))
    assert bool(jnp.all(jnp.isfinite(h)))
    with pytest.raises(ValueError, match="stem_kernel must be"):
        build_model(
            load_config(
                "configs/simclr_logmel_cnn.py:tiny",
                ["--config.model.stem_channels=4", "--config.model.stem_kernel=(13,)"],
            )
        )
