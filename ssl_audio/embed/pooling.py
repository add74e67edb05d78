"""Where a clip's window embeddings become one vector: the one definition of pooling, for every job.

`pool(windows, how)` for a clip whose windows are all at hand (embed, the Python API, HEAR); `Pooler`
for a job that streams windows of many clips in mixed batches (the probe's features), which keeps only
running sums, so its memory is bounded by clips x D, not by windows. Both compute the same thing: `pool`
is `Pooler` on one clip.

- mean: the average window (the default).
- max: the largest value of each dimension over the windows.
- mean+std: the average and the spread over time, concatenated [2D] (the MFCC baseline keeps mean and
  std of its frames; the issue's read-out lever).
- mean+max: concatenated [2D] (BYOL-A pools mean + max over time).
"""

from __future__ import annotations

import numpy as np

POOLINGS = ("mean", "max", "mean+std", "mean+max")


def pooled_size(how: str, size: int) -> int:
    return 2 * size if "+" in how else size


class Pooler:
    """Running statistics of the windows of n clips: add(clip, rows) in any order, then result()."""

    def __init__(self, n_clips: int, size: int, how: str):
        if how not in POOLINGS:
            raise ValueError(f"pooling: one of {', '.join(POOLINGS)}, got {how!r}")
        self.how = how
        self.count = np.zeros(n_clips, np.int64)
        self.sum = np.zeros((n_clips, size), np.float64)
        self.sum_sq = np.zeros((n_clips, size), np.float64) if how == "mean+std" else None
        self.max = np.full((n_clips, size), -np.inf, np.float64) if "max" in how else None

    def add(self, clip: int, rows: np.ndarray) -> None:
        rows = np.asarray(rows, np.float64).reshape(-1, self.sum.shape[1])
        self.count[clip] += len(rows)
        self.sum[clip] += rows.sum(axis=0)
        if self.sum_sq is not None:
            self.sum_sq[clip] += (rows**2).sum(axis=0)
        if self.max is not None:
            self.max[clip] = np.maximum(self.max[clip], rows.max(axis=0))

    def result(self) -> np.ndarray:
        """[n_clips, pooled_size] float32."""
        mean = self.sum / np.maximum(self.count, 1)[:, None]
        if self.how == "mean":
            out = mean
        elif self.how == "max":
            out = self.max
        elif self.how == "mean+max":
            out = np.concatenate([mean, self.max], axis=1)
        else:
            variance = np.maximum(self.sum_sq / np.maximum(self.count, 1)[:, None] - mean**2, 0.0)
            out = np.concatenate([mean, np.sqrt(variance)], axis=1)
        return out.astype(np.float32)


def pool(windows: np.ndarray, how: str) -> np.ndarray:
    """One clip's window embeddings [T, D] -> its pooled embedding [pooled_size]."""
    pooler = Pooler(1, np.shape(windows)[-1], how)
    pooler.add(0, windows)
    return pooler.result()[0]
