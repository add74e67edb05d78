"""Losses and metrics against values computed by hand on tiny examples."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest

from ssl_audio_linear_probe import metrics
from ssl_audio_linear_probe.fit import loss_fn


def test_binary_cross_entropy_matches_the_formula():
    logits = np.array([[2.0, -1.0], [0.0, 3.0]], np.float32)
    y = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    by_hand = -(math.log(sig(2)) + math.log(1 - sig(-1)) + math.log(1 - sig(0)) + math.log(sig(3))) / 4
    assert float(loss_fn("multilabel", jnp.asarray(logits), jnp.asarray(y))) == pytest.approx(by_hand, rel=1e-6)


def test_cross_entropy_matches_the_formula():
    logits = np.array([[1.0, 0.0, 0.0]], np.float32)
    by_hand = -math.log(math.e / (math.e + 2))
    assert float(loss_fn("class", jnp.asarray(logits), jnp.asarray([0]))) == pytest.approx(by_hand, rel=1e-6)


def test_tagging_metrics_by_hand():
    # Tag a: scores rank the two positives first -> ROC-AUC 1, AP 1.
    # Tag b: positives at ranks 1 and 3 of 4 -> AP = (1/1 + 2/3) / 2 = 0.8333; ROC-AUC = 3 of 4 pairs = 0.75.
    # Tag c: never present -> cannot be scored, listed, left out of the macro means.
    y = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]], np.float32)
    s = np.array([[0.9, 0.9, 0.1], [0.8, 0.7, 0.2], [0.2, 0.6, 0.3], [0.1, 0.1, 0.4]], np.float32)
    m = metrics.tagging(y, s, ["a", "b", "c"])
    assert m["per_class"]["a"]["pr_auc"] == pytest.approx(1.0)
    assert m["per_class"]["b"]["pr_auc"] == pytest.approx(5 / 6)
    assert m["per_class"]["b"]["roc_auc"] == pytest.approx(0.75)
    assert m["pr_auc_macro"] == pytest.approx((1 + 5 / 6) / 2)
    assert m["roc_auc_macro"] == pytest.approx((1 + 0.75) / 2)
    assert m["unscored_classes"] == ["c"]


def test_classification_metrics_by_hand():
    y = np.array([0, 0, 0, 1])
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    m = metrics.classification(y, scores, ["x", "y"])
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["confusion"] == [[2, 1], [0, 1]]
    assert m["per_class"]["y"]["precision"] == pytest.approx(0.5)


@pytest.mark.parametrize("kind", ["class", "multilabel", "value"])
def test_the_main_value_the_search_reads_is_the_reported_metric(kind):
    """fit_head chooses and stops on metrics.main_value (vectorised); the report gives metrics.score
    (scikit-learn). They must agree, ties and a tag without positives included."""
    rng = np.random.default_rng(5)
    n = 80
    if kind == "class":
        y, scores, names = rng.integers(0, 4, n), rng.uniform(size=(n, 4)), list("abcd")
    elif kind == "multilabel":
        y = (rng.uniform(size=(n, 5)) < 0.3).astype(np.float32)
        y[:, 4] = 0.0  # unscorable: no positive
        scores, names = np.round(rng.uniform(size=(n, 5)), 1), list("abcde")
    else:
        y, names = rng.normal(size=n), None
        scores = (y + rng.normal(size=n))[:, None]
    reported = metrics.score(kind, y, scores, names)[metrics.MAIN_METRIC[kind]]
    assert metrics.main_value(kind, y, scores) == pytest.approx(reported, abs=1e-9)
