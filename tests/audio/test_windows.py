"""Cutting a clip into windows: every sample covered, none read past the end, short clips padded."""

import numpy as np
import pytest

from ssl_audio.audio.windows import cut_windows, window_batches, window_starts
from ssl_audio.data.pipeline import eval_windows


@pytest.mark.parametrize(
    "n,window,hop,expected",
    [(100, 40, 40, [0, 40, 60]), (100, 40, 20, [0, 20, 40, 60]), (40, 40, 40, [0]), (10, 40, 40, [0])],
)
def test_window_starts_cover_the_clip(n, window, hop, expected):
    starts = window_starts(n, window, hop)
    assert starts == expected
    covered = np.zeros(n, bool)
    for s in starts:
        covered[s : s + window] = True
    assert covered.all()


def test_windows_are_the_clip_samples_at_their_starts():
    x = np.arange(100, dtype=np.float32)
    windows, starts = cut_windows(x, 40, 25)
    assert starts.tolist() == [0, 25, 50, 60]
    for w, s in zip(windows, starts):
        np.testing.assert_array_equal(w, x[s : s + 40])


def test_short_clip_is_zero_padded_to_one_window():
    w = eval_windows(np.ones(10, np.float32), 16, 16)
    assert w.shape == (1, 16) and w[0, :10].sum() == 10 and w[0, 10:].sum() == 0


def test_bad_hop_and_multichannel_input_are_refused():
    with pytest.raises(ValueError, match="hop must be positive"):
        window_starts(100, 10, 0)
    with pytest.raises(ValueError, match="mono"):
        cut_windows(np.zeros((2, 100)), 10, 10)


def test_window_batches_pack_in_order_with_padding():
    clips = [{"index": i, "windows": np.full((n, 4), i, np.float32)} for i, n in enumerate([3, 1, 2])]
    batches = list(window_batches(clips, 4))
    assert len(batches) == 2
    np.testing.assert_array_equal(batches[0]["clip"], [0, 0, 0, 1])
    np.testing.assert_array_equal(batches[1]["clip"], [2, 2, -1, -1])
    np.testing.assert_array_equal(batches[1]["valid"], [True, True, False, False])
    assert batches[1]["audio"][0, 0] == 2 and batches[1]["audio"][3].sum() == 0
