"""BEST-RQ masked prediction (`configs/bestrq_conformer.py`): the quantizer, the masks, the loss, a run end to
end, its resume, and what the checkpoint feeds (embed, probe, HEAR, the SavedModel, a layer's read-out)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_audio.objectives import best_rq
from ssl_audio.objectives import quantizer as Q
from ssl_audio_pretrain.config import load_config
from tests.pretrain import helpers

TINY = str(helpers.REPO / "configs" / "bestrq_conformer.py") + ":tiny"


def test_the_quantizer_is_frozen_by_the_seed_and_its_codes_are_deterministic():
    config = load_config(TINY, [])
    a = best_rq.BestRQ().extra_state(config, {})["quantizer"]
    b = best_rq.BestRQ().extra_state(config, {})["quantizer"]
    other = best_rq.BestRQ().extra_state(load_config(TINY, ["--config.seed=1"]), {})["quantizer"]
    assert set(a) == {"logmel", "chroma"}
    for name in a:
        np.testing.assert_array_equal(a[name]["projection"], b[name]["projection"])
        np.testing.assert_array_equal(a[name]["codebook"], b[name]["codebook"])
        assert not np.allclose(a[name]["projection"], other[name]["projection"])
        np.testing.assert_allclose(np.linalg.norm(a[name]["codebook"], axis=1), 1.0, rtol=1e-5)
    frames = jax.random.normal(jax.random.key(3), (2, 40, 32))
    codes = Q.codes(a["logmel"], frames, 4)
    assert codes.shape == (2, 10) and codes.dtype == jnp.int32
    np.testing.assert_array_equal(codes, Q.codes(b["logmel"], frames, 4))
    assert int(codes.max()) < config.best_rq.codebook_size


def test_codes_use_many_entries_once_normalised_and_few_without():
    """MusicFM's warning: features far from zero mean and unit variance all land on a few codes."""
    q = Q.make_quantizer(jax.random.key(0), 8, 4, 16, 256)
    raw = 5.0 + 0.1 * jax.random.normal(jax.random.key(1), (4, 400, 8))  # a log spectrum: offset, small spread
    collapsed = Q.code_perplexity(Q.codes(q, raw, 4), 256)
    mean, std = raw.reshape(-1, 8).mean(0), raw.reshape(-1, 8).std(0)
    normalised = Q.code_perplexity(Q.codes({**q, "mean": mean, "std": std}, raw, 4), 256)
    assert float(collapsed) < 3 and float(normalised) > 30


@pytest.mark.parametrize("rate, span", [(0.5, 10), (0.3, 4), (0.65, 1)])
def test_masks_have_the_configured_rate_in_spans(rate, span):
    mask = np.asarray(best_rq.span_mask(jax.random.key(0), (512, 1000), rate, span))
    assert mask.mean() == pytest.approx(rate, abs=0.02)
    edge = np.asarray(best_rq.span_mask(jax.random.key(1), (8192, 2 * span), rate, span))
    assert edge[:, :span].mean() == pytest.approx(rate, abs=0.02)  # the first frames too, as often
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, mask[0].astype(int), 0])))[::2]  # lengths of masked runs
    assert runs.min() >= span


def test_the_loss_is_near_zero_when_the_masked_frames_predict_their_codes_and_ignores_the_rest():
    rng = np.random.default_rng(0)
    targets = {"logmel": jnp.asarray(rng.integers(0, 32, (2, 50))), "chroma": jnp.asarray(rng.integers(0, 32, (2, 50)))}
    mask = jnp.asarray(rng.uniform(size=(2, 50)) < 0.5)
    right = {k: 50.0 * jax.nn.one_hot(t, 32) for k, t in targets.items()}
    loss, metrics = best_rq.masked_prediction_loss(right, targets, mask, 32)
    assert float(loss) < 1e-6 and float(metrics["masked_accuracy_logmel"]) == 1.0
    # Wrong predictions at the unmasked frames only: the loss does not move.
    wrong_unmasked = {
        k: jnp.where(mask[..., None], v, 50.0 * jax.nn.one_hot((targets[k] + 1) % 32, 32)) for k, v in right.items()
    }
    assert float(best_rq.masked_prediction_loss(wrong_unmasked, targets, mask, 32)[0]) < 1e-6
    uniform = {k: jnp.zeros((2, 50, 32)) for k in targets}
    assert float(best_rq.masked_prediction_loss(uniform, targets, mask, 32)[0]) == pytest.approx(np.log(32), rel=1e-5)


def test_a_layer_read_out_is_that_layers_activations_pooled_over_time():
    from flax import nnx

    from ssl_audio.objectives import build_model

    config = load_config(TINY, [])
    encoder = build_model(config).encoder
    audio = jax.random.normal(jax.random.key(0), (2, 16_000)) * 0.1
    last, layers = encoder.frames(audio)
    assert len(layers) == config.model.depth and encoder.layer_names == ("block1", "block2")
    for i, name in enumerate(encoder.layer_names):
        encoder.readout = name
        np.testing.assert_allclose(encoder.embed(audio), layers[i].mean(axis=1), rtol=1e-6)
    encoder.readout = "blocks"
    np.testing.assert_allclose(encoder.embed(audio), jnp.concatenate([y.mean(1) for y in layers], -1), rtol=1e-6)
    encoder.readout = "block2:max"
    np.testing.assert_allclose(encoder.embed(audio), layers[1].max(axis=1), rtol=1e-6)
    encoder.readout = "block2:mean+max"
    both = jnp.concatenate([layers[1].mean(axis=1), layers[1].max(axis=1)], -1)
    np.testing.assert_allclose(encoder.embed(audio), both, rtol=1e-6)
    with pytest.raises(ValueError, match=r"block1, block2\) with an optional :POOLING \(mean, max, mean\+max\)"):
        build_model(load_config(TINY, ["--config.model.readout=block2:median"]))
    del nnx


@pytest.mark.slow
def test_a_tiny_run_logs_its_metrics_saves_its_quantizer_and_feeds_every_read_out(prepared, tmp_path):
    import orbax.checkpoint as ocp
    import tensorflow as tf

    import ssl_audio
    from ssl_audio import hear

    workdir = tmp_path / "run"
    run = helpers.run(workdir, prepared, "--config.total_steps=10", config=TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "best_rq measured its statistics on the training data before step 0" in run.stdout
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    last = records[-1]
    for key in ("masked_accuracy_logmel", "masked_accuracy_chroma", "code_perplexity_logmel", "code_perplexity_chroma"):
        assert key in last
    assert 0.35 < last["masked_share"] < 0.65 and last["code_perplexity_logmel"] > 4  # not collapsed
    saved = ocp.StandardCheckpointer().restore((workdir / "checkpoints" / "10" / "state").absolute())
    frozen = best_rq.BestRQ().extra_state(load_config(TINY, []), {})["quantizer"]
    for name in ("logmel", "chroma"):
        # the seed's draws (made under jit in the run, eagerly here: equal to float32 rounding)
        np.testing.assert_allclose(saved["quantizer"][name]["projection"], frozen[name]["projection"], rtol=1e-6)
        assert not np.allclose(saved["quantizer"][name]["std"], 1.0)  # measured, not the placeholder

    audio = (0.3 * np.sin(2 * np.pi * 220 * np.arange(24_000) / 16_000)).astype(np.float32)
    model = ssl_audio.load_model(workdir)
    e = model.embed(audio, 16_000)
    assert e.scene.shape == (32,) and np.isfinite(e.scene).all()
    block1 = ssl_audio.load_model(workdir, layer="block1")
    assert block1.embed(audio, 16_000).scene.shape == (32,)
    assert not np.allclose(block1.embed(audio, 16_000).scene, e.scene)
    scene = hear.get_scene_embeddings(audio[None], hear.load_model(str(workdir), layer="block1"))
    np.testing.assert_allclose(scene[0], block1.embed_windows(block1.windows_of(audio)[0]).mean(0), rtol=1e-5)

    out = tmp_path / "sm"
    export = subprocess.run(
        [sys.executable, "-m", "ssl_audio.cli", "export-savedmodel", "--checkpoint", str(workdir), "--out", str(out)],
        capture_output=True, text=True, env=helpers.env(), timeout=600,
    )  # fmt: skip
    assert export.returncode == 0, export.stderr[-3000:]
    loaded = tf.saved_model.load(str(out))
    np.testing.assert_allclose(loaded.embed_clip(audio)["scene"].numpy(), e.scene, atol=1e-4)

    probe = subprocess.run(
        [sys.executable, "-m", "ssl_audio.cli", "probe", "--checkpoint", str(workdir), "--dataset", prepared[0],
         "--data-dir", prepared[1], "--out", str(tmp_path / "probe"), "--task", "genre", "--layer", "all",
         "--cache-dir", str(tmp_path / "cache"), "--quiet", "--workers", "1"],
        capture_output=True, text=True, env=helpers.env(), timeout=600,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-3000:]
    results = json.loads((tmp_path / "probe" / "results.json").read_text())
    assert results["layers"]["names"] == ["block1", "block2"]
    chosen = results["layers"]["chosen"]["genre"]
    scores = results["layers"]["validation"]["genre"]
    assert scores[chosen] == max(scores.values())  # the best on validation is the one tested
    assert f" layer={chosen} " in probe.stdout
    report = (tmp_path / "probe" / "report.md").read_text()
    assert "## Each layer on validation" in report and (tmp_path / "probe" / "layers.png").stat().st_size > 5_000


@pytest.mark.slow
def test_a_killed_best_rq_run_resumes_with_the_same_loss_at_every_later_step(prepared, tmp_path):
    every = ("--config.total_steps=20", "--config.log_every_steps=1", "--config.checkpoint_every_steps=5")
    reference = helpers.run(tmp_path / "reference", prepared, *every, config=TINY)
    assert reference.returncode == 0, reference.stderr[-3000:]
    workdir = tmp_path / "run"
    process = subprocess.Popen(
        helpers.command(workdir, prepared, *every, config=TINY),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=helpers.env(),
    )  # fmt: skip
    deadline = time.time() + 240
    while not (workdir / "checkpoints" / "5").exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    resumed = helpers.run(workdir, prepared, *every, config=TINY)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    start = int(resumed.stdout.split("resuming from the checkpoint at step ")[1].split()[0])
    assert "measured its statistics" not in resumed.stdout  # restored with the quantizer, not measured again
    expected, got = helpers.losses(tmp_path / "reference"), helpers.losses(workdir)
    assert sorted(got) == list(range(1, 21))
    for step in range(start + 1, 21):
        assert got[step] == pytest.approx(expected[step], abs=1e-6), step


def test_best_rq_needs_a_frame_encoder_and_valid_settings():
    from ssl_audio_pretrain.config import ConfigError

    with pytest.raises(ConfigError, match="outputs frames"):
        load_config(str(helpers.REPO / "configs" / "simclr_logmel_cnn.py") + ":tiny", ["--config.objective=best_rq"])
    with pytest.raises(Exception, match="config.best_rq.mask_rate: must be between 0 and 1"):
        load_config(TINY, ["--config.best_rq.mask_rate=1.5"])
    with pytest.raises(Exception, match="config.best_rq.codebooks"):
        load_config(TINY, ["--config.best_rq.codebooks=('logmel','mfcc')"])
