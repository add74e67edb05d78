"""NT-Xent and DCL against plain numpy implementations of their formulas."""

from __future__ import annotations

import numpy as np
import pytest

from ssl_audio.losses import CONTRASTIVE_LOSSES, dcl, nt_xent


def reference_nt_xent(z_a, z_b, temperature, decoupled=False):
    z = np.concatenate([z_a, z_b]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        partner = (i + n2 // 2) % n2
        others = [j for j in range(n2) if j != i and not (decoupled and j == partner)]
        logits = np.array([z[i] @ z[j] / temperature for j in others])
        total += -(z[i] @ z[partner] / temperature - np.log(np.sum(np.exp(logits))))
    return total / n2


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_matches_the_formula(temperature):
    rng = np.random.default_rng(0)
    z_a, z_b = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    loss, _ = nt_xent(z_a.astype(np.float32), z_b.astype(np.float32), temperature)
    assert float(loss) == pytest.approx(reference_nt_xent(z_a, z_b, temperature), rel=1e-5)


def test_matching_views_score_high_and_shuffled_views_low():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((16, 32)).astype(np.float32)
    noisy = z + 0.05 * rng.standard_normal(z.shape).astype(np.float32)
    loss_aligned, metrics = nt_xent(z, noisy, 0.1)
    loss_shuffled, metrics_shuffled = nt_xent(z, noisy[rng.permutation(16)], 0.1)
    assert float(metrics["pos_top1"]) == 1.0
    assert float(loss_aligned) < 0.1 < float(loss_shuffled)
    assert float(metrics_shuffled["pos_top1"]) < 0.5


def test_scale_of_the_projections_does_not_matter():
    rng = np.random.default_rng(2)
    z_a, z_b = rng.standard_normal((4, 8)).astype(np.float32), rng.standard_normal((4, 8)).astype(np.float32)
    assert float(nt_xent(z_a, z_b, 0.2)[0]) == pytest.approx(float(nt_xent(10 * z_a, 0.1 * z_b, 0.2)[0]), rel=1e-5)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_dcl_matches_its_formula_and_is_below_nt_xent(temperature):
    rng = np.random.default_rng(3)
    z_a, z_b = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    loss, _ = dcl(z_a.astype(np.float32), z_b.astype(np.float32), temperature)
    assert float(loss) == pytest.approx(reference_nt_xent(z_a, z_b, temperature, decoupled=True), rel=1e-5)
    # Taking the positive out of the denominator can only lower each anchor's log-sum-exp.
    assert float(loss) < float(nt_xent(z_a.astype(np.float32), z_b.astype(np.float32), temperature)[0])


def test_dcl_keeps_pushing_easy_pairs_where_nt_xent_stops():
    """Views already matched far better than any negative: NT-Xent's gradient has almost vanished
    (p(partner) ~ 1), DCL's does not (its positive term's gradient does not depend on p)."""
    import jax

    rng = np.random.default_rng(4)
    z = rng.standard_normal((8, 16)).astype(np.float32)
    near = z + 0.01 * rng.standard_normal(z.shape).astype(np.float32)
    grad = {name: jax.grad(lambda a, f=CONTRASTIVE_LOSSES[name]: f(a, near, 0.1)[0])(z) for name in ("nt_xent", "dcl")}
    assert np.linalg.norm(grad["dcl"]) > 10 * np.linalg.norm(grad["nt_xent"])
