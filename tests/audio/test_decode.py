import numpy as np
import pytest
import soundfile as sf

from ssl_audio.audio.decode import DecodeError, DecodeOptions, load_audio


@pytest.mark.parametrize(
    "fmt,ext,subtype",
    [("WAV", "wav", "PCM_16"), ("FLAC", "flac", "PCM_16"), ("OGG", "ogg", "VORBIS"), ("MP3", "mp3", "MPEG_LAYER_III")],
)
def test_every_format_decodes_to_mono_float32_at_target_rate(tmp_path, tone, fmt, ext, subtype):
    path = tone(tmp_path / f"a.{ext}", seconds=2.0, rate=44_100, channels=2, fmt=fmt, subtype=subtype)
    audio = load_audio(path, DecodeOptions(sample_rate=16_000))
    assert audio.dtype == np.float32 and audio.ndim == 1
    # Lossy codecs pad a little; the duration must still be 2 s within 60 ms.
    assert abs(audio.shape[0] / 16_000 - 2.0) < 0.06
    assert np.abs(audio).max() <= 1.0
    # The 440 Hz tone survives resampling: the spectrum peaks there.
    spectrum = np.abs(np.fft.rfft(audio[:16_000]))
    assert abs(np.argmax(spectrum) * 16_000 / 16_000 - 440) <= 2


def test_downmix_averages_channels(tmp_path):
    rate = 16_000
    left = np.full(rate * 2, 0.5, np.float32)
    right = np.full(rate * 2, -0.1, np.float32)
    sf.write(tmp_path / "s.wav", np.stack([left, right], 1), rate, subtype="FLOAT")
    audio = load_audio(tmp_path / "s.wav")
    np.testing.assert_allclose(audio, 0.2, atol=1e-6)


def test_float_file_above_full_scale_is_scaled_not_clipped(tmp_path, tone):
    path = tone(tmp_path / "loud.wav", amplitude=3.0, subtype="FLOAT")
    audio = load_audio(path)
    assert np.isclose(np.abs(audio).max(), 1.0, atol=1e-4)


def _reason(path, **opts):
    with pytest.raises(DecodeError) as info:
        load_audio(path, DecodeOptions(**opts))
    message = str(info.value)
    assert str(path) in message and "\n" not in message  # one line naming the file
    return message


def test_missing_file(tmp_path):
    assert "does not exist" in _reason(tmp_path / "nope.wav")


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    assert "empty file" in _reason(tmp_path / "empty.wav")


def test_corrupt_file(tmp_path):
    (tmp_path / "bad.wav").write_bytes(b"RIFF" + bytes(range(256)) * 8)
    assert "corrupt or unsupported" in _reason(tmp_path / "bad.wav")


def test_truncated_header_only_file(tmp_path, tone):
    path = tone(tmp_path / "t.wav")
    path.write_bytes(path.read_bytes()[:44])  # the header promises data that is not there
    message = _reason(path)
    assert "no audio frames" in message or "corrupt" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples(tmp_path, bad):
    x = np.full(16_000 * 2, 0.1, np.float32)
    x[100] = bad
    sf.write(tmp_path / "nan.wav", x, 16_000, subtype="FLOAT")
    assert "NaN or inf" in _reason(tmp_path / "nan.wav")


def test_too_short(tmp_path, tone):
    path = tone(tmp_path / "short.wav", seconds=0.4)
    assert "too short (0.40 s" in _reason(path, min_seconds=1.0)
    assert load_audio(path, DecodeOptions(min_seconds=0.2)).shape[0] == 6400


def test_silent(tmp_path):
    sf.write(tmp_path / "quiet.wav", np.zeros(32_000, np.float32), 16_000)
    assert "silent" in _reason(tmp_path / "quiet.wav")


def test_directory_is_not_audio(tmp_path):
    (tmp_path / "d.wav").mkdir()
    assert "directory" in _reason(tmp_path / "d.wav")


def test_bad_sample_rate_option_is_rejected():
    with pytest.raises(ValueError, match="--sample-rate"):
        DecodeOptions(sample_rate=0)
