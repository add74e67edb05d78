"""Long files in blocks: the same samples as a whole-file decode, the same windows, the same bad-file checks,
and segments that read only their own frames."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ssl_audio.audio import stream as stream_lib
from ssl_audio.audio.decode import DecodeError, DecodeOptions, decode_file
from ssl_audio.audio.stream import open_stream, read_segment, segment_bounds
from ssl_audio.audio.windows import StreamWindows, cut_windows


def music(seconds: float, rate: int, seed: int = 0, channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = sum(0.1 * np.sin(2 * np.pi * rng.uniform(100, 3000) * t) for _ in range(4)).astype(np.float32)
    return np.stack([x, 0.5 * x], axis=1) if channels == 2 else x


@pytest.mark.parametrize("rate", [16_000, 44_100])
def test_blocks_are_the_whole_file_decode_exactly(tmp_path, rate):
    path = tmp_path / "a.flac"
    sf.write(path, music(7.3, rate), rate)
    options = DecodeOptions()
    whole, _ = decode_file(path, options)
    streamed = np.concatenate(list(open_stream(path, options).blocks(block_seconds=0.7)))
    np.testing.assert_array_equal(streamed, whole)


@pytest.mark.parametrize(("n", "window", "hop"), [(5, 160, 160), (160, 160, 80), (161, 160, 160), (12_345, 160, 33)])
def test_stream_windows_are_cut_windows(n, window, hop):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    cut = StreamWindows((x[i : i + 77] for i in range(0, n, 77)), window, hop)
    got = list(cut)
    expected, starts = cut_windows(x, window, hop)
    assert [s for s, _ in got] == list(starts) and cut.samples == n
    np.testing.assert_array_equal(np.stack([w for _, w in got]), expected)


def test_a_long_file_bad_part_way_or_silent_is_a_decode_error(tmp_path):
    x = music(4.0, 16_000, channels=1)
    x[50_000] = np.nan
    sf.write(tmp_path / "nan.wav", x, 16_000, subtype="FLOAT")
    blocks = open_stream(tmp_path / "nan.wav", DecodeOptions()).blocks(block_seconds=1.0)
    assert next(blocks).shape == (16_000,)  # the first blocks go out before the damage is reached
    with pytest.raises(DecodeError, match=r"NaN or inf samples \(from 3 s\)"):
        list(blocks)
    sf.write(tmp_path / "silent.wav", np.zeros(48_000, np.float32), 16_000)
    with pytest.raises(DecodeError, match="silent"):
        list(open_stream(tmp_path / "silent.wav", DecodeOptions()).blocks(block_seconds=1.0))


def test_a_float_file_over_full_scale_is_scaled_by_its_peak(tmp_path):
    x = 3.0 * music(2.0, 16_000, channels=1)
    sf.write(tmp_path / "loud.wav", x, 16_000, subtype="FLOAT")
    streamed = np.concatenate(list(open_stream(tmp_path / "loud.wav", DecodeOptions()).blocks(block_seconds=0.5)))
    assert np.abs(streamed).max() == pytest.approx(1.0, abs=1e-6)


def test_segments_cover_the_file_and_read_what_the_whole_decode_holds(tmp_path):
    assert segment_bounds(50.0, 60.0) == [(0.0, 50.0)]
    bounds = segment_bounds(150.0, 60.0)
    assert len(bounds) == 3 and bounds[0] == (0.0, 50.0) and bounds[-1][1] == 150.0
    path = tmp_path / "a.flac"
    sf.write(path, music(6.0, 16_000), 16_000)
    whole, _ = decode_file(path, DecodeOptions())
    parts = [read_segment(path, a, b, DecodeOptions()) for a, b in segment_bounds(6.0, 2.5)]
    assert [len(p) for p in parts] == [32_000, 32_000, 32_000]
    np.testing.assert_allclose(np.concatenate(parts), whole, atol=1e-6)  # same rate: the same samples
    sf.write(tmp_path / "b.wav", music(6.0, 44_100), 44_100)
    whole, _ = decode_file(tmp_path / "b.wav", DecodeOptions())
    second = read_segment(tmp_path / "b.wav", 2.0, 4.0, DecodeOptions())
    np.testing.assert_allclose(second, whole[32_000:64_000], atol=2e-3)  # resampled alone, with a margin


def test_only_files_longer_than_the_threshold_are_streamed(tmp_path, monkeypatch):
    sf.write(tmp_path / "a.wav", music(3.0, 16_000, channels=1), 16_000)
    assert not stream_lib.is_long(tmp_path / "a.wav")
    monkeypatch.setattr(stream_lib, "LONG_SECONDS", 2.0)
    assert stream_lib.is_long(tmp_path / "a.wav") and not stream_lib.is_long(tmp_path / "missing.wav")


def test_bench_memory_reads_a_processs_own_peak(tmp_path):
    import sys

    from ssl_audio.bench.memory import peak_mb, write_music

    grown = peak_mb([sys.executable, "-c", "import numpy as np; x = np.ones(200 * 2**20 // 8); print(x.sum())"])
    small = peak_mb([sys.executable, "-c", "import numpy"])
    assert grown - small > 150  # 200 MB of ones, counted by the kernel for that process alone
    path = write_music(tmp_path / "m.flac", minutes=0.05)
    assert sf.info(str(path)).duration == pytest.approx(3.0) and sf.info(str(path)).channels == 2
