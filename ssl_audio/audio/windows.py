"""Where a clip is cut into the encoder's fixed-length windows.

One convention everywhere (probe features, the embed job, the Python and HEAR APIs): windows start every
`hop` samples from 0, and one more window ends exactly at the clip's end when the hops leave a remainder,
so every sample is covered and no window reads past the audio. A clip shorter than a window is one window,
zero-padded at its end.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Starts of fixed windows covering the whole clip; the last one ends at the clip's end."""
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive, got window={window} hop={hop}")
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return starts


def cut_windows(audio: np.ndarray, window: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """(windows [n, window] float32, starts [n] int64) of a mono clip; short clips are zero-padded."""
    x = np.asarray(audio, np.float32)
    if x.ndim != 1:
        raise ValueError(f"expected mono audio [samples], got shape {x.shape}")
    starts = np.asarray(window_starts(x.shape[0], window, hop), np.int64)
    if x.shape[0] < window:
        x = np.pad(x, (0, window - x.shape[0]))
    # Views into the clip, not copies: a one-hour file cut with a small hop would not fit in memory otherwise.
    frames = np.lib.stride_tricks.sliding_window_view(x, window)
    return frames[starts], starts


def timed_windows(
    audio: np.ndarray, window: int, hop: int, sample_rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(windows [T, W] (views), starts [T] s, ends [T] s) of a mono clip: `cut_windows` with the times each
    window covers, its end clipped to the clip's end."""
    windows, starts = cut_windows(audio, window, hop)
    ends = np.minimum(starts + window, np.asarray(audio).shape[0])
    return windows, starts / sample_rate, ends / sample_rate


class StreamWindows:
    """The windows of a clip that arrives in blocks (`ssl_audio.audio.stream`), by the same convention as
    `window_starts`, holding at most a block and a window: iterate for (start sample, window [W] copy);
    `samples` is the clip's length once the iteration has ended."""

    def __init__(self, blocks: Iterable[np.ndarray], window: int, hop: int):
        if window <= 0 or hop <= 0:
            raise ValueError(f"window and hop must be positive, got window={window} hop={hop}")
        self.blocks, self.window, self.hop = blocks, window, hop
        self.samples = 0

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        window, hop = self.window, self.hop
        buf, offset, start, last = np.zeros(0, np.float32), 0, 0, None
        for block in self.blocks:
            buf = np.concatenate([buf, np.asarray(block, np.float32)])
            self.samples += len(block)
            while start + window <= self.samples:
                yield start, buf[start - offset : start - offset + window].copy()
                last, start = start, start + hop
            keep_from = max(offset, min(start, self.samples - window))  # the next window, or the final one
            buf, offset = buf[keep_from - offset :], keep_from
        if last is None:  # shorter than a window: one window, zero-padded
            yield 0, np.pad(buf, (0, window - len(buf)))
        elif last + window < self.samples:  # one more window ends at the clip's end
            yield self.samples - window, buf[len(buf) - window :].copy()


def window_batches(clips: Iterable[dict], batch_size: int) -> Iterator[dict]:
    """Packs windows of consecutive clips into fixed-size batches, so the device always sees one shape.

    `clips` yield {'index': int, 'windows': [n, W]}. Yields {'audio': [B, W], 'clip': [B] int32 (the clip's
    'index', -1 for padding), 'valid': [B] bool}; a clip's windows arrive in order, possibly over batches.
    """
    buf_audio, buf_clip = [], []
    for clip in clips:
        for w in clip["windows"]:
            buf_audio.append(w)
            buf_clip.append(clip["index"])
            if len(buf_audio) == batch_size:
                yield _pack(buf_audio, buf_clip, batch_size)
                buf_audio, buf_clip = [], []
    if buf_audio:
        yield _pack(buf_audio, buf_clip, batch_size)


def _pack(audio: list[np.ndarray], clip: list[int], batch_size: int) -> dict:
    n = len(audio)
    out = np.zeros((batch_size, audio[0].shape[0]), np.float32)
    out[:n] = np.stack(audio)
    ids = np.full(batch_size, -1, np.int32)
    ids[:n] = clip
    return {"audio": out, "clip": ids, "valid": ids >= 0}
