"""NT-Xent against a plain numpy implementation of SimCLR's formula."""

from __future__ import annotations

import numpy as np
import pytest

from ssl_audio.losses import nt_xent


def reference_nt_xent(z_a, z_b, temperature):
    z = np.concatenate([z_a, z_b]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        partner = (i + n2 // 2) % n2
        others = [j for j in range(n2) if j != i]
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
