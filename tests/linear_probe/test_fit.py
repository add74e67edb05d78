"""Heads on synthetic features whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from ssl_audio_linear_probe.fit import fit_head


def blobs(rng, n, classes=4, dim=16, spread=4.0):
    centres = np.random.default_rng(123).standard_normal((classes, dim)) * spread
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.standard_normal((n, dim))).astype(np.float32), y.astype(np.int32)


@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_separable_classes_are_learned_almost_perfectly(head):
    rng = np.random.default_rng(0)
    (tx, ty), (vx, vy), (sx, sy) = blobs(rng, 300), blobs(rng, 100), blobs(rng, 200)
    fitted = fit_head("class", 4, tx, ty, vx, vy, head=head)
    assert fitted.validation >= 0.98
    assert np.mean(fitted.scores(sx).argmax(axis=1) == sy) >= 0.98
    assert np.allclose(fitted.scores(sx).sum(axis=1), 1.0, atol=1e-5)  # softmax probabilities


def test_tags_that_are_linear_in_the_features_are_learned():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((12, 3))

    def make(n):
        x = rng.standard_normal((n, 12)).astype(np.float32)
        return x, (x @ w > 0).astype(np.float32)

    (tx, ty), (vx, vy), (sx, sy) = make(400), make(100), make(200)
    fitted = fit_head("multilabel", 3, tx, ty, vx, vy)
    assert fitted.validation >= 0.95  # macro PR-AUC
    scores = fitted.scores(sx)
    assert np.mean((scores > 0.5) == sy) >= 0.9  # independent sigmoids, not a softmax
    assert scores.shape == (200, 3) and 0 <= scores.min() and scores.max() <= 1


def test_a_linear_value_is_regressed():
    rng = np.random.default_rng(2)
    w = rng.standard_normal(8)

    def make(n):
        x = rng.standard_normal((n, 8)).astype(np.float32)
        return x, (x @ w + 0.05 * rng.standard_normal(n)).astype(np.float32)

    (tx, ty), (vx, vy) = make(300), make(100)
    fitted = fit_head("value", 1, tx, ty, vx, vy)
    assert fitted.validation >= 0.95  # R²


def test_a_constant_training_feature_does_not_explode_on_test():
    rng = np.random.default_rng(3)
    (tx, ty), (vx, vy) = blobs(rng, 200), blobs(rng, 50)
    tx[:, 0] = 0.0  # dead unit on train
    vx[:, 0] = 5.0  # alive elsewhere
    fitted = fit_head("class", 4, tx, ty, vx, vy)
    assert np.all(np.isfinite(fitted.outputs(vx))) and fitted.validation >= 0.95


def test_search_reports_every_setting_tried_and_keeps_the_best():
    rng = np.random.default_rng(4)
    (tx, ty), (vx, vy) = blobs(rng, 200, spread=0.7), blobs(rng, 100, spread=0.7)
    fitted = fit_head("class", 4, tx, ty, vx, vy, learning_rates=(1e-4, 1e-2), weight_decays=(0.0,))
    assert [s["learning_rate"] for s in fitted.search] == [1e-4, 1e-2]
    assert fitted.validation == max(s["validation"] for s in fitted.search)


def test_a_value_far_from_zero_is_regressed_in_its_own_units():
    """A dB column (about -15, spread 3) or BPM: targets are standardised on train, predictions come back
    in the column's units (unscaled targets gave R² -46 on a real folder's dB column)."""
    rng = np.random.default_rng(4)
    w = rng.standard_normal(8)

    def make(n):
        x = rng.standard_normal((n, 8)).astype(np.float32)
        return x, (-15.0 + 3.0 * (x @ w) / np.linalg.norm(w) + 0.1 * rng.standard_normal(n)).astype(np.float32)

    (tx, ty), (vx, vy) = make(300), make(100)
    fitted = fit_head("value", 1, tx, ty, vx, vy)
    assert fitted.validation >= 0.9  # R² on validation, in dB
    predicted = fitted.scores(vx)[:, 0]
    assert abs(predicted.mean() - vy.mean()) < 0.5 and np.corrcoef(predicted, vy)[0, 1] > 0.95
