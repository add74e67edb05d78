"""Where a long file is decoded: in blocks, so that memory does not grow with the file's length.

A file longer than `LONG_SECONDS` is never held whole. `open_stream` checks it as `decode.read_native`
does (a regular file, not empty, readable), and `AudioStream.blocks()` yields it as mono float32 at the
target rate, `BLOCK_SECONDS` at a time, with the checks of `decode.conform_checked` made as it goes: NaN or
inf samples raise DecodeError at the block that holds them, silence at the end (when the peak is known).
soxr resamples the blocks as one stream, so the samples equal a whole-file resampling exactly.

One difference from the whole-file path: a float file whose peak exceeds full scale is scaled by its native
peak (found in a first pass over the file, float formats only), not by the resampled one.
`segment_bounds` cuts a long file into records of bounded length for `prepare`; `read_segment` decodes one.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ssl_audio.audio.decode import DecodeError, DecodeOptions, check_audible, file_size, truncation_note

BLOCK_SECONDS = 30.0  # decoded at a time: about 2 MB of mono float32 at 16 kHz, 10 MB of stereo at 44.1 kHz
# Files longer than this are streamed; shorter ones are decoded whole, as they always were.
LONG_SECONDS = 600.0
# Subtypes whose samples can exceed full scale: these get a first pass for their peak.
FLOAT_SUBTYPES = frozenset({"FLOAT", "DOUBLE", "VORBIS", "OPUS", "MPEG_LAYER_III", "MPEG_LAYER_II", "MPEG_LAYER_I"})


def native_info(path: str | os.PathLike) -> sf._SoundFileInfo | None:
    """The file's header (rate, channels, frames), or None where it cannot be read (decoding says why)."""
    try:
        file_size(path)
        with open(path, "rb") as f:
            return sf.info(f)
    except (DecodeError, sf.LibsndfileError, RuntimeError, ValueError, OSError):
        return None


def native_seconds(path: str | os.PathLike, info=None) -> float:
    """The file's length by its header (reads no audio; `info`: its header, if already read); 0 if unreadable."""
    info = info if info is not None else native_info(path)
    return info.frames / info.samplerate if info is not None and info.samplerate > 0 else 0.0


def is_long(path: str | os.PathLike, info=None) -> bool:
    """Whether the file is longer than LONG_SECONDS by its header (reads no audio)."""
    return native_seconds(path, info) > LONG_SECONDS


@dataclasses.dataclass
class AudioStream:
    """A long file, decoded block by block. `seconds`: its length by the header (at the target rate)."""

    path: Path
    options: DecodeOptions
    native_rate: int
    channels: int
    frames: int
    subtype: str
    note: str = ""  # set once the stream has been read: truncated, as decode.truncation_note says

    @property
    def seconds(self) -> float:
        return self.frames / self.native_rate

    def _native_blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        try:
            with open(self.path, "rb") as f, sf.SoundFile(f) as sound:
                while True:
                    block = sound.read(block_frames, dtype="float32", always_2d=True)
                    if block.shape[0] == 0:
                        break
                    yield block
                self.note = truncation_note(sound.extra_info, sound.tell() / self.native_rate)
        except sf.LibsndfileError as err:
            detail = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise DecodeError(self.path, f"truncated or corrupt ({detail})", "re-copy it, or delete it") from err

    def _scale(self, block_frames: int) -> float:
        if self.subtype not in FLOAT_SUBTYPES:
            return 1.0
        peak = max((float(np.abs(b.mean(axis=1)).max()) for b in self._native_blocks(block_frames)), default=0.0)
        return 1.0 / peak if peak > 1.0 else 1.0

    def blocks(self, block_seconds: float | None = None) -> Iterator[np.ndarray]:
        """Mono float32 blocks at the target rate (BLOCK_SECONDS unless given); DecodeError for NaN/inf
        (where found) or silence (at the end). Memory: one block, whatever the file's length."""
        block_seconds = block_seconds or BLOCK_SECONDS
        target = self.options.sample_rate
        block_frames = max(1, int(block_seconds * self.native_rate))
        scale = self._scale(block_frames)
        resampler = (
            soxr.ResampleStream(self.native_rate, target, 1, dtype="float32", quality="HQ")
            if self.native_rate != target
            else None
        )
        peak, done = 0.0, 0
        for block in self._native_blocks(block_frames):
            if not np.isfinite(block).all():
                at = done / self.native_rate
                raise DecodeError(
                    self.path, f"contains NaN or inf samples (from {at:.0f} s)", "re-export the file; it is damaged"
                )
            done += block.shape[0]
            mono = block.mean(axis=1).astype(np.float32)
            if scale != 1.0:
                mono *= scale
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=False)
            peak = max(peak, float(np.abs(mono).max(initial=0.0)))
            if mono.shape[0]:
                yield mono
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            peak = max(peak, float(np.abs(tail).max(initial=0.0)))
            if tail.shape[0]:
                yield tail
        check_audible(peak, self.options, self.path)


def open_stream(path: str | os.PathLike, options: DecodeOptions) -> AudioStream:
    """A long file as a stream of blocks (checked as `read_native` checks a file), or DecodeError."""
    path = Path(path)
    if file_size(path) == 0:
        raise DecodeError(path, "empty file (0 bytes)", "re-copy or delete it")
    info = native_info(path)
    if info is None or info.frames <= 0:
        from ssl_audio.audio.decode import read_native

        read_native(path)  # raises the whole-file path's DecodeError, with its reason
        raise DecodeError(path, "no audio frames", "re-copy or delete it")
    return AudioStream(path, options, int(info.samplerate), int(info.channels), int(info.frames), info.subtype)


# ---------------------------------------------------------------------------------------------- segments

# Decoded either side of a segment and cut off after resampling, so that the resampler's filter has its
# history and a segment's samples equal the whole file's (soxr's HQ filter is far shorter than this).
SEGMENT_MARGIN_SECONDS = 0.25


def segment_bounds(seconds: float, segment_seconds: float) -> list[tuple[float, float]]:
    """[start, end) seconds of equal segments no longer than `segment_seconds` covering a file of `seconds`:
    one segment when it fits. Equal lengths, so no segment is a sliver."""
    if seconds <= segment_seconds:
        return [(0.0, seconds)]
    n = math.ceil(seconds / segment_seconds)
    return [(seconds * i / n, seconds * (i + 1) / n) for i in range(n)]


def read_segment(path: str | os.PathLike, start: float, end: float, options: DecodeOptions) -> np.ndarray:
    """Mono float32 at the target rate of [start, end) seconds of a file, reading only those frames (plus
    a margin for the resampler). Checks: NaN or inf samples; silence is the whole file's business."""
    target = options.sample_rate
    with open(path, "rb") as f, sf.SoundFile(f) as sound:
        rate = sound.samplerate
        first = max(0, int(round(start * rate)) - int(SEGMENT_MARGIN_SECONDS * rate))
        last = min(sound.frames, int(round(end * rate)) + int(SEGMENT_MARGIN_SECONDS * rate))
        sound.seek(first)
        block = sound.read(last - first, dtype="float32", always_2d=True)
    if not np.isfinite(block).all():
        raise DecodeError(path, f"contains NaN or inf samples (in {start:.0f}-{end:.0f} s)", "re-export the file")
    mono = block.mean(axis=1).astype(np.float32)
    if rate != target:
        mono = soxr.resample(mono, rate, target, quality="HQ").astype(np.float32)
    offset = int(round((int(round(start * rate)) - first) * target / rate))
    length = int(round(end * target)) - int(round(start * target))
    return np.clip(mono[offset : offset + length], -1.0, 1.0)
