"""The one definition of pooling: whole clips (embed, API, HEAR) and streamed windows (probe) agree."""

import numpy as np
import pytest

from ssl_audio.embed.pooling import POOLINGS, Pooler, pool, pooled_size


@pytest.mark.parametrize("how", POOLINGS)
def test_streamed_windows_in_any_order_pool_like_whole_clips(how):
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(t, 6)).astype(np.float32) for t in (1, 3, 7)]
    pooler = Pooler(len(clips), 6, how)
    rows = [(c, w) for c, clip in enumerate(clips) for w in clip]
    for i in rng.permutation(len(rows)):  # windows of several clips, mixed, one at a time
        pooler.add(*rows[i])
    streamed = pooler.result()
    assert streamed.shape == (3, pooled_size(how, 6))
    for c, clip in enumerate(clips):
        np.testing.assert_allclose(streamed[c], pool(clip, how), rtol=1e-6, atol=1e-6)


def test_what_each_pooling_is():
    x = np.array([[0.0, 2.0], [2.0, 6.0]], np.float32)
    np.testing.assert_allclose(pool(x, "mean"), [1.0, 4.0])
    np.testing.assert_allclose(pool(x, "max"), [2.0, 6.0])
    np.testing.assert_allclose(pool(x, "mean+std"), [1.0, 4.0, 1.0, 2.0])
    np.testing.assert_allclose(pool(x, "mean+max"), [1.0, 4.0, 2.0, 6.0])
    np.testing.assert_allclose(pool(x[:1], "mean+std"), [0.0, 2.0, 0.0, 0.0])  # one window: no spread
