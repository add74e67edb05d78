"""Paired bootstrap intervals on toy cases whose answer is known."""

import numpy as np
import pytest

from ssl_audio_linear_probe.bootstrap import compare_all, paired_bootstrap


def one_hot_scores(predicted, n_classes):
    return np.eye(n_classes)[predicted]


def test_a_perfect_head_is_better_than_a_wrong_one_by_exactly_one():
    y = np.arange(50) % 5
    right, wrong = one_hot_scores(y, 5), one_hot_scores((y + 1) % 5, 5)
    r = paired_bootstrap("class", "accuracy", y, right, wrong, resamples=200)
    assert r["difference"] == 1.0 and r["low"] == r["high"] == 1.0 and r["verdict"] == "better"
    assert paired_bootstrap("class", "accuracy", y, wrong, right, resamples=200)["verdict"] == "worse"


def test_identical_heads_are_not_distinguishable():
    rng = np.random.default_rng(0)
    y, scores = rng.integers(0, 3, 80), rng.normal(size=(80, 3))
    r = paired_bootstrap("class", "accuracy", y, scores, scores, resamples=200)
    assert r["difference"] == 0.0 and r["low"] == r["high"] == 0.0 and r["verdict"] == "not distinguishable"


def test_the_interval_matches_the_binomial_width_of_a_known_difference():
    """A is right on 60% of 2,000 clips, B on 50%, on independent clips: difference 0.10, and the paired
    standard error is sqrt(p_a q_a + p_b q_b - 2 cov) / sqrt(n) with cov = 0.3 - 0.6*0.5 = 0 here."""
    n = 2000
    y = np.zeros(n, int)
    a_right = np.arange(n) % 10 < 6  # 60%
    b_right = (np.arange(n) // 10) % 2 == 0  # 50%, independent of A's pattern
    a = one_hot_scores(np.where(a_right, 0, 1), 2)
    b = one_hot_scores(np.where(b_right, 0, 1), 2)
    r = paired_bootstrap("class", "accuracy", y, a, b, resamples=1000, seed=1)
    assert r["difference"] == pytest.approx(0.10)
    se = np.sqrt((0.6 * 0.4 + 0.5 * 0.5) / n)
    assert (r["high"] - r["low"]) == pytest.approx(2 * 1.96 * se, rel=0.15)
    assert r["low"] < 0.10 < r["high"] and r["verdict"] == "better"


def test_tagging_and_values_and_every_pair():
    rng = np.random.default_rng(2)
    y = (rng.uniform(size=(120, 4)) < 0.3).astype(np.float32)
    good, noise = y + 0.3 * rng.normal(size=y.shape), rng.normal(size=y.shape)
    pairs = compare_all(
        "multilabel", "pr_auc_macro", y, {"pretrained": good, "mfcc": noise, "random": noise}, resamples=100
    )
    assert set(pairs) == {"pretrained-mfcc", "pretrained-random", "mfcc-random"}
    assert pairs["pretrained-mfcc"]["verdict"] == "better" and pairs["mfcc-random"]["difference"] == 0.0
    v = rng.normal(size=200)
    r = paired_bootstrap("value", "r2", v, (v + 0.1 * rng.normal(size=200))[:, None], np.zeros((200, 1)), resamples=200)
    assert r["difference"] > 0.9 and r["verdict"] == "better"


def test_the_vectorised_average_precision_is_sklearns_ties_included():
    from sklearn.metrics import average_precision_score

    from ssl_audio_linear_probe.bootstrap import weighted_metric

    rng = np.random.default_rng(3)
    y = (rng.uniform(size=(60, 3)) < 0.4).astype(np.float32)
    scores = np.round(rng.uniform(size=(60, 3)), 1)  # coarse: many tied scores
    counts = rng.multinomial(60, np.full(60, 1 / 60), size=5)
    ours = weighted_metric("multilabel", "pr_auc_macro", y, scores, counts)
    for r in range(5):
        idx = np.repeat(np.arange(60), counts[r])
        theirs = np.mean(
            [average_precision_score(y[idx, c], scores[idx, c]) for c in range(3) if 0 < y[idx, c].sum() < len(idx)]
        )
        assert ours[r] == pytest.approx(theirs, abs=1e-12)


def test_over_runs_one_run_is_the_paired_bootstrap_and_seed_spread_widens_the_interval():
    from ssl_audio_linear_probe.bootstrap import bootstrap_over_runs

    rng = np.random.default_rng(4)
    n = 300
    y = rng.integers(0, 4, n)
    b = one_hot_scores(rng.integers(0, 4, n), 4)  # a baseline at chance

    def head(accuracy, seed):  # right on the first `accuracy` share of a shuffled split
        right = np.random.default_rng(seed).permutation(n) < accuracy * n
        return one_hot_scores(np.where(right, y, (y + 1) % 4), 4)

    a = head(0.6, 0)
    one = bootstrap_over_runs("class", "accuracy", y, [a], [b], resamples=400, seed=3)
    assert one == paired_bootstrap("class", "accuracy", y, a, b, resamples=400, seed=3)

    # Three seeds at the same accuracy against three seeds that agree: difference as one run's, interval
    # no wider than a single run's (averaging over seeds can only narrow the clip-level spread).
    steady = bootstrap_over_runs("class", "accuracy", y, [head(0.6, s) for s in range(3)], [b] * 3, resamples=400)
    assert steady["runs"] == 3 and len(steady["per_run"]) == 3
    assert steady["difference"] == pytest.approx(one["difference"], abs=0.01)
    assert steady["high"] - steady["low"] <= (one["high"] - one["low"]) * 1.1

    # Seeds that disagree (0.35, 0.6, 0.85: mean 0.6): the same mean difference, a much wider interval.
    spread = bootstrap_over_runs(
        "class", "accuracy", y, [head(acc, s) for s, acc in enumerate((0.35, 0.6, 0.85))], [b] * 3, resamples=400
    )
    assert spread["difference"] == pytest.approx(steady["difference"], abs=0.01)
    assert spread["high"] - spread["low"] > 2 * (steady["high"] - steady["low"])
    assert spread["per_run"] == pytest.approx(sorted(spread["per_run"]))  # each run's own difference, in order

    with pytest.raises(ValueError, match="pair one to one"):
        bootstrap_over_runs("class", "accuracy", y, [a, a], [b], resamples=10)


def test_segments_of_one_file_are_one_row_for_every_feature_kind():
    import numpy as np

    from ssl_audio_linear_probe.features import ClipFeatures, merge_segments

    keys = np.array(["b.wav", "a.wav", "b.wav", "c.wav", "b.wav"])
    x = np.arange(10, dtype=np.float32).reshape(5, 2)
    f = ClipFeatures(
        x=x, labels={"genre": np.array([1, 0, 1, 2, 1])}, groups={"artist": np.array(list("pqpsp"))}, keys=keys
    )
    merged = merge_segments(f)
    assert list(merged.keys) == ["b.wav", "a.wav", "c.wav"]  # in the order files first appear
    np.testing.assert_allclose(merged.x, [x[[0, 2, 4]].mean(0), x[1], x[3]])
    assert list(merged.labels["genre"]) == [1, 0, 2] and list(merged.groups["artist"]) == ["p", "q", "s"]
    unique = ClipFeatures(x=x[:2], labels={}, groups={}, keys=keys[:2])
    assert merge_segments(unique) is unique
