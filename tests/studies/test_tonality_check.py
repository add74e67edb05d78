"""The tonality diagnostic's pieces (lever 6): equivariance by construction, the pretext's two terms, and
that the supervised head can learn mode where mode is plainly in the chroma."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from studies import tonality_check as tc


def test_rolling_the_chroma_rolls_the_key_distribution():
    rng = np.random.default_rng(0)
    params = {"profiles": jnp.asarray(rng.normal(size=(2, 12))), "scale": jnp.array(3.0)}
    c = jnp.asarray(rng.random((4, 12)))
    p = tc.key_probabilities(params, c)
    rolled = tc.key_probabilities(params, jnp.roll(c, 5, axis=-1))
    np.testing.assert_allclose(rolled, jnp.roll(p, 5, axis=-1), atol=1e-6)
    np.testing.assert_allclose(p.sum((1, 2)), 1.0, atol=1e-6)


def test_equivariance_loss_is_zero_only_for_one_hot_keys_moved_by_the_shift():
    a = np.zeros((1, 2, 12), np.float32)
    a[0, 0, 2] = 1.0
    b = np.roll(a, 3, axis=-1)
    assert abs(float(tc.equivariance_loss(a, b, jnp.array([3]))[0])) < 1e-6
    assert float(tc.equivariance_loss(a, b, jnp.array([2]))[0]) > 0.1  # the wrong shift
    uniform = np.full((1, 2, 12), 1 / 24, np.float32)  # the collapse: equivariant but unsure
    assert float(tc.equivariance_loss(uniform, uniform, jnp.array([0]))[0]) > 0.99


def test_mode_information_rewards_agreeing_crops_that_use_both_modes():
    agree = jnp.asarray(np.array([[1.0, 0.0], [0.0, 1.0]] * 8))
    assert abs(float(tc.mode_information(agree, agree)) - np.log(2)) < 1e-6
    one_mode = jnp.asarray(np.array([[1.0, 0.0]] * 16))
    assert abs(float(tc.mode_information(one_mode, one_mode))) < 1e-6
    independent = jnp.asarray(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]] * 4))
    assert abs(float(tc.mode_information(agree, independent))) < 1e-6  # each mode of a meets both of b


def test_supervised_head_learns_mode_where_the_chroma_shows_it():
    """Chroma frames drawn around the Krumhansl-Kessler profiles at random tonics: the head must read mode
    (a head that cannot is not evidence that the demo's audio lacks it)."""
    rng = np.random.default_rng(0)
    n = 200
    major = rng.random(n) < 0.5
    tonic = rng.integers(0, 12, n)
    profile = np.where(major[:, None], tc.KK_MAJOR, tc.KK_MINOR)
    mean = np.stack([np.roll(p, t) for p, t in zip(profile, tonic)])
    frames = (mean[:, None, :] + rng.normal(0, 1.0, (n, 130, 12))).clip(0.01).astype(np.float32)
    params = tc.train_head(frames[:150], major[:150], seed=0, steps=300)
    assert tc.mode_accuracy(params, frames[:150], major[:150], frames[150:], major[150:]) > 0.9


def test_a_missing_dataset_is_one_line_naming_the_folder(tmp_path, capsys):
    folder = tmp_path / "no such folder"
    with pytest.raises(SystemExit) as exit_:
        tc.main(["--data-dir", str(folder)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(folder) in err and "ssl-audio prepare" in err
