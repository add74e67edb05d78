"""Where a clip is decoded: any audio file -> mono float32 in [-1, 1] at the target rate.

Every way a real folder can hurt a long job (corrupt, empty, unreadable, NaN or
inf samples, too short, silent) raises `DecodeError`, whose message is one line
naming the file, the reason and what to do. Callers that walk many files catch
it, count it and move on (see `ssl_audio.audio.scan`); nothing here prints.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ssl_audio.errors import SslAudioError

# What libsndfile (bundled with the soundfile wheel, >= 1.1) reads, MP3 included.
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff"})

DEFAULT_SAMPLE_RATE = 16_000


class DecodeError(SslAudioError):
    """A file that cannot be used as audio. `str(err)` is the one-line report."""

    def __init__(self, path: str | os.PathLike, reason: str, hint: str = ""):
        self.path = str(path)
        self.reason = reason
        self.hint = hint
        super().__init__(f"{self.path}: {self.detail}")

    @property
    def detail(self) -> str:
        """The reason and what to do, without the path: for reports that list the path beside it."""
        return self.reason + (f" ({self.hint})" if self.hint else "")


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """What counts as usable audio. Shared by scan, prepare and every reader."""

    sample_rate: int = DEFAULT_SAMPLE_RATE
    min_seconds: float = 1.0
    # Peak below this is "silent": a digital-silence file teaches a contrastive
    # model nothing and makes every crop of it a trivial positive pair.
    silence_dbfs: float = -60.0

    def __post_init__(self):
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.min_seconds < 0:
            raise ValueError(f"min_seconds must be >= 0, got {self.min_seconds}")


def is_audio_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def read_native(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Reads a file as float32 [frames, channels] at its own rate, or raises DecodeError."""
    path = Path(path)
    if not path.exists():
        raise DecodeError(path, "file does not exist", "fix the path or remove it from the list")
    if path.is_dir():
        raise DecodeError(path, "is a directory, not an audio file")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise DecodeError(path, f"unreadable ({err.strerror})", "check its permissions") from err
    if size == 0:
        raise DecodeError(path, "empty file (0 bytes)", "re-copy or delete it")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except PermissionError as err:
        raise DecodeError(path, "unreadable (permission denied)", "check its permissions") from err
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DecodeError(path, f"corrupt or unsupported audio ({detail})",
                          "re-encode it as WAV or FLAC, or delete it") from err
    if data.shape[0] == 0:
        raise DecodeError(path, "no audio frames", "re-copy or delete it")
    return data, int(rate)


def load_audio(path: str | os.PathLike, options: DecodeOptions = DecodeOptions()) -> np.ndarray:
    """Decodes, downmixes to mono, resamples (soxr) and validates one file.

    Returns float32 samples in [-1, 1] at `options.sample_rate`.
    """
    data, rate = read_native(path)
    return conform(data, rate, options, source=path)


def conform(data: np.ndarray, rate: int, options: DecodeOptions, source: str | os.PathLike = "<array>") -> np.ndarray:
    """Mono, target rate, finite, long enough, audible: the checks every clip passes."""
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise DecodeError(source, f"contains {bad} NaN or inf samples", "re-export the file; it is damaged")
    mono = data.mean(axis=1) if data.ndim == 2 else data
    mono = np.asarray(mono, dtype=np.float32)
    if rate != options.sample_rate:
        # soxr's HQ preset: the quality music resampling needs, at several hundred x real time.
        mono = soxr.resample(mono, rate, options.sample_rate, quality="HQ").astype(np.float32)
    seconds = mono.shape[0] / options.sample_rate
    if seconds < options.min_seconds:
        raise DecodeError(source, f"too short ({seconds:.2f} s < minimum {options.min_seconds:g} s)",
                          "lower --min-seconds or drop the file")
    peak = float(np.abs(mono).max())
    peak_dbfs = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_dbfs < options.silence_dbfs:
        raise DecodeError(source, f"silent (peak {peak_dbfs:.1f} dBFS < {options.silence_dbfs:g} dBFS)",
                          "drop the file or lower --silence-dbfs")
    if peak > 1.0:
        # Float files may exceed full scale; scale down rather than clip so the waveform keeps its shape.
        mono = mono / peak
    return mono
