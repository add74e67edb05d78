"""BYOL (`--config.objective=byol`): its loss, the target's EMA schedule and update, and a run end to end."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssl_audio.augment.views import crop_samples
from ssl_audio.distributed import make_mesh
from ssl_audio.losses import byol, ema_decay
from ssl_audio_pretrain.config import load_config
from ssl_audio_pretrain.optimizer import make_optimizer
from ssl_audio_pretrain.state import create_state, model_graphdef
from ssl_audio_pretrain.step import make_train_step
from tests.pretrain import helpers


def test_loss_is_twice_two_minus_cosine_and_ignores_scale():
    rng = np.random.default_rng(0)
    p_a, p_b, t_a, t_b = (rng.standard_normal((5, 8)).astype(np.float32) for _ in range(4))

    def cos(x, y):
        return np.sum(x * y, -1) / np.linalg.norm(x, axis=-1) / np.linalg.norm(y, axis=-1)

    expected = np.mean(2 - 2 * cos(p_a, t_b)) + np.mean(2 - 2 * cos(p_b, t_a))
    assert float(byol(p_a, p_b, t_a, t_b)[0]) == pytest.approx(expected, rel=1e-5)
    assert float(byol(3 * p_a, p_b, t_a, 0.1 * t_b)[0]) == pytest.approx(expected, rel=1e-5)
    loss, metrics = byol(t_b, t_a, t_a, t_b)  # predictions equal to the other view's targets
    assert float(loss) == pytest.approx(0.0, abs=1e-5) and float(metrics["pos_top1"]) == 1.0
    assert float(byol(-t_b, -t_a, t_a, t_b)[0]) == pytest.approx(8.0, rel=1e-5)  # opposite: 4 per direction


def test_targets_get_no_gradient():
    rng = np.random.default_rng(1)
    p_a, p_b, t_a, t_b = (jnp.asarray(rng.standard_normal((4, 6)), jnp.float32) for _ in range(4))
    g_t = jax.grad(lambda t: byol(p_a, p_b, t, t_b)[0])(t_a)
    g_p = jax.grad(lambda p: byol(p, p_b, t_a, t_b)[0])(p_a)
    assert float(jnp.abs(g_t).max()) == 0.0 and float(jnp.abs(g_p).max()) > 0.0


def test_decay_rises_from_its_base_to_one_on_a_cosine():
    taus = [float(ema_decay(jnp.asarray(k), 100, 0.99)) for k in (0, 25, 50, 100, 150)]
    assert taus[0] == pytest.approx(0.99) and taus[2] == pytest.approx(0.995)
    assert taus[3] == pytest.approx(1.0) and taus[4] == pytest.approx(1.0)
    assert taus[0] < taus[1] < taus[2] < taus[3]


def test_one_step_moves_the_target_by_exactly_the_ema_of_the_new_weights():
    config = load_config(helpers.TINY, ["--config.objective=byol", "--config.byol_tau=0.9", "--config.batch_size=4"])
    mesh = make_mesh(jax.devices()[:1])
    tx = make_optimizer(config)
    state, _ = create_state(config, tx, mesh)
    assert "predictor" in state["params"] and "target_params" in state
    step = jax.jit(make_train_step(config, model_graphdef(config), tx, mesh))
    rng = np.random.default_rng(2)
    batch = {v: (0.1 * rng.standard_normal((4, crop_samples(config)))).astype(np.float32) for v in ("view_a", "view_b")}
    state, _ = step(state, batch)  # step 0 has learning rate 0 (warm-up): the second step is the one to check
    target1 = jax.tree.map(np.asarray, state["target_params"])
    params1 = jax.tree.map(np.asarray, state["params"])
    new, metrics = step(state, batch)
    assert np.isfinite(float(metrics["loss"]))
    tau = float(ema_decay(jnp.asarray(1), config.total_steps, 0.9))
    expected = jax.tree.map(lambda t, p: tau * t + (1 - tau) * np.asarray(p), target1, new["params"])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), b, rtol=1e-6, atol=1e-7),
                 new["target_params"], expected)  # fmt: skip
    moved = jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - b).max()), new["params"], params1)
    assert max(jax.tree.leaves(moved)) > 0  # the online weights moved, so the check is not trivially met
    assert max(jax.tree.leaves(jax.tree.map(lambda a, b: float(np.abs(np.asarray(a) - b).max()),
                                            new["target_params"], target1))) > 0  # fmt: skip


@pytest.mark.slow
def test_a_byol_run_embeds_and_a_changed_rerun_is_refused(prepared, tmp_path):
    import ssl_audio

    steps = ["--config.objective=byol", "--config.optimizer.warmup_steps=1"]
    first = helpers.run(tmp_path / "run", prepared, "--config.total_steps=2", *steps)
    assert first.returncode == 0, first.stderr[-3000:]
    again = helpers.run(tmp_path / "run", prepared, "--config.total_steps=3", *steps)
    assert again.returncode != 0 and "total_steps" in again.stderr  # a changed run is refused, as for nt_xent
    model = ssl_audio.load_model(tmp_path / "run")
    e = model.embed(np.random.default_rng(3).standard_normal(16_000 * 2).astype(np.float32) * 0.1, 16_000)
    assert e.scene.shape == (model.embedding_size,) and np.all(np.isfinite(e.scene))
