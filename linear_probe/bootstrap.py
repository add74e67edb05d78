"""Is feature kind A better than B on this test split? A paired bootstrap over test clips says how sure.

One test split of a few hundred clips moves a metric by several points from one pretraining seed to the
next, so a bare "0.78 vs 0.74" carries no claim. Here the test clips are resampled with replacement
(`resamples` times, the same resample for A and B: the comparison is paired, so what both find hard
cancels out); the metric difference A - B on each resample gives a percentile 95% interval. The verdict:
"better" when the whole interval is above 0, "worse" when it is below, otherwise "not distinguishable".

What is resampled are the test *files* (the probe scores one row per file: a file's segments are merged
before any head is scored), and no verdict is given from fewer than MIN_ITEMS of them: a percentile interval
resampled from two files is the two files' own difference, zero-width, and says nothing about other files
("too few items"). A head that failed (an R² below 0 on the test split: worse than predicting the mean) gives
no verdict either ("head failed"): the difference is then the size of the failure, not of what was learnt.

It answers "would these two heads rank the same on other clips like these?", not "would another
pretraining run rank the same?": across seeds, repeat pretraining (docs/quality.md).
"""

from __future__ import annotations

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 1000
# Below this many independent test items (files) a 95% percentile bootstrap interval is mostly the sample's
# own spread (it covers far less than 95%), so no verdict is printed; 20 is where it starts to hold.
MIN_ITEMS = 20
TOO_FEW, HEAD_FAILED = "too few items", "head failed"


def verdict(low: float, high: float, items: int, min_items: int = MIN_ITEMS) -> str:
    """better / worse / not distinguishable, or 'too few items' when fewer than min_items were resampled."""
    if items < min_items:
        return TOO_FEW
    return "better" if low > 0 else "worse" if high < 0 else "not distinguishable"


def metric_value(kind: str, metric: str, y: np.ndarray, outputs: np.ndarray) -> float:
    """The task's main metric on the test split itself (every clip counted once)."""
    return float(weighted_metric(kind, metric, y, outputs, np.ones((1, len(y))))[0])


def weighted_metric(kind: str, metric: str, y: np.ndarray, outputs: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The main metric (linear_probe.metrics.MAIN_METRIC) on R resamples at once: `counts` [R, n] says how often
    each test clip is drawn in each resample. Vectorised: 1,000 resamples cost about as much as one sklearn
    call per class, which is what makes a bootstrap of every pair of every task affordable in `probe`."""
    counts = counts.astype(np.float64)
    if kind == "class":
        return counts @ (outputs.argmax(axis=1) == y).astype(np.float64) / counts.sum(axis=1)
    if kind == "multilabel":
        if metric != "pr_auc_macro":
            raise ValueError(f"bootstrap of {metric} is not implemented; the main tagging metric is pr_auc_macro")
        return np.nanmean([_average_precision(y[:, c], outputs[:, c], counts) for c in range(y.shape[1])], axis=0)
    predicted = outputs[:, 0] if outputs.ndim == 2 else outputs
    total = counts.sum(axis=1)
    mean = counts @ y / total
    ss_tot = (counts * (y[None, :] - mean[:, None]) ** 2).sum(axis=1)
    ss_res = counts @ ((y - predicted) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)


def _average_precision(y: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """sklearn's average precision, sum over thresholds of (R_k - R_{k-1}) P_k, tied scores one threshold,
    for each row of clip counts [R, n]; NaN where a resample holds no positive or no negative."""
    order = np.argsort(-scores, kind="stable")
    s, positive = scores[order], y[order] > 0
    w = counts[:, order]
    group_end = np.r_[s[1:] != s[:-1], True]  # the last clip of each run of tied scores
    tp = np.cumsum(w * positive, axis=1)[:, group_end]
    seen = np.cumsum(w, axis=1)[:, group_end]
    n_pos, n_all = tp[:, -1], seen[:, -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(seen > 0, tp / seen, 0.0)
        recall_step = np.diff(tp, axis=1, prepend=0.0) / n_pos[:, None]
        ap = (recall_step * precision).sum(axis=1)
    return np.where((n_pos > 0) & (n_pos < n_all), ap, np.nan)


def paired_bootstrap(
    kind: str,
    metric: str,
    y: np.ndarray,
    outputs_a: np.ndarray,
    outputs_b: np.ndarray,
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    min_items: int = MIN_ITEMS,
) -> dict:
    """{'difference': A - B on the test split, 'low', 'high': the percentile interval, 'items', 'verdict'}."""
    return bootstrap_over_runs(
        kind,
        metric,
        y,
        [outputs_a],
        [outputs_b],
        resamples=resamples,
        confidence=confidence,
        seed=seed,
        min_items=min_items,
    )


def bootstrap_over_runs(
    kind: str,
    metric: str,
    y: np.ndarray,
    runs_a: list[np.ndarray],
    runs_b: list[np.ndarray],
    *,
    resamples: int = RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    min_items: int = MIN_ITEMS,
) -> dict:
    """A - B where each side is the mean metric over several runs (pretraining seeds), paired run by run
    (run i of A with run i of B: the same seed pretrained and random-initialised) and clip by clip.

    Two levels: each resample draws the runs with replacement and the test clips with replacement, so the
    interval holds the seed-to-seed spread as well as the test split's; with one run it is the paired
    bootstrap above. 'difference' is the mean over runs on the test split itself; 'per_run' each run's."""
    y = np.asarray(y)
    if len(runs_a) != len(runs_b) or not runs_a:
        raise ValueError(f"runs pair one to one: got {len(runs_a)} and {len(runs_b)}")
    n, k = len(y), len(runs_a)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)  # clips first: one run = paired_bootstrap
    picks = rng.multinomial(k, np.full(k, 1.0 / k), size=resamples) / k if k > 1 else np.ones((resamples, 1))
    per_run = np.stack(
        [
            weighted_metric(kind, metric, y, np.asarray(a), counts)
            - weighted_metric(kind, metric, y, np.asarray(b), counts)
            for a, b in zip(runs_a, runs_b)
        ],
        axis=1,
    )  # [resamples, runs]
    with np.errstate(invalid="ignore"):
        differences = (per_run * picks).sum(axis=1)
    differences = differences[np.isfinite(differences)]  # a resample with no spread in a value has no R²
    low, high = np.quantile(differences, [(1 - confidence) / 2, (1 + confidence) / 2])
    each = [
        metric_value(kind, metric, y, np.asarray(a)) - metric_value(kind, metric, y, np.asarray(b))
        for a, b in zip(runs_a, runs_b)
    ]
    result = {
        "difference": float(np.mean(each)),
        "low": float(low),
        "high": float(high),
        "confidence": confidence,
        "resamples": int(len(differences)),
        "items": n,
        "verdict": verdict(low, high, n, min_items),
    }
    if k > 1:
        result["runs"] = k
        result["per_run"] = [float(d) for d in each]
    return result


def compare_all(
    kind: str, metric: str, y: np.ndarray, outputs: dict[str, np.ndarray], failed=(), **kwargs
) -> dict[str, dict]:
    """Every ordered pair with the first kind (normally 'pretrained') against each other: 'a-b' -> result.
    A pair with a kind in `failed` (a head that failed on the test split) gets the verdict 'head failed'."""
    kinds = list(outputs)
    pairs = [(a, b) for i, a in enumerate(kinds) for b in kinds[i + 1 :]]
    results = {}
    for a, b in pairs:
        r = paired_bootstrap(kind, metric, y, outputs[a], outputs[b], **kwargs)
        broken = [k for k in (a, b) if k in failed]
        if broken:
            r["verdict"], r["failed"] = HEAD_FAILED, broken
        results[f"{a}-{b}"] = r
    return results
