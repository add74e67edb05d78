"""How close two float32 computations of the same function must be, whatever CPU runs them.

Two evaluations of one network that differ only in the order of their sums (another batch shape, device
count, compiler, or a CPU whose kernels block the sums differently) do not agree bit for bit, and how far
they drift depends on the machine: a tolerance tuned on one CPU fails on another. The bound here is a
property of the computation instead: a float32 sum of `terms` products rounds to about sqrt(terms) * eps of
its scale (rounding errors add as a random walk), `depth` layers in a row add up, and `margin` covers the
tail of that distribution. A real difference (a wrong window, weight, pooling or normalisation) is off by
1e-2 of the scale or more, far above it.

The tiny logmel_cnn of the tests: its largest sum is the 512-point FFT of the front end (the mel matmul
has 257 terms, the 3x3 convolutions 144) and about 10 layers follow one another.
"""

from __future__ import annotations

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)
TINY_CNN = {"terms": 512, "depth": 10}


def float32_tolerance(reference, *, terms: int, depth: int, margin: float = 8.0) -> float:
    """Absolute tolerance for arrays of `reference`'s scale (its largest magnitude)."""
    scale = float(np.max(np.abs(np.asarray(reference))))
    return margin * EPS32 * np.sqrt(terms) * depth * max(scale, 1e-30)


def assert_float32_close(
    actual, expected, *, terms: int = TINY_CNN["terms"], depth: int = TINY_CNN["depth"], err_msg: str = ""
) -> None:
    """actual == expected up to the reordering of float32 sums (module docstring)."""
    atol = float32_tolerance(expected, terms=terms, depth=depth)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol, err_msg=err_msg)
