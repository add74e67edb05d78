"""Where a clip is decoded: any audio file -> mono float32 in [-1, 1] at the target rate.

This module is the one definition of a bad file. Every way a real folder can hurt a long job (corrupt,
empty, unreadable, NaN or inf samples, too short, silent) raises `DecodeError`, whose message is one line
naming the file, the reason and what to do; the hints name only the flags that `add_decode_arguments`
gives every command that decodes files. Callers that walk many files catch it, list it and move on (see
`ssl_audio.audio.scan`); nothing here prints. `embed` alone keeps too-short files (a downstream team
wants a row per file), and `decode_file` then returns a note that the job lists per file.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import stat
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ssl_audio.audio.paths import printable
from ssl_audio.errors import BadValueError, UsageError

# What libsndfile (bundled with the soundfile wheel, >= 1.1) reads, MP3 included.
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff"})

DEFAULT_SAMPLE_RATE = 16_000


class DecodeError(UsageError):
    """A file that cannot be used as audio. `str(err)` is the one-line report."""

    def __init__(self, path: str | os.PathLike, reason: str, hint: str = ""):
        self.path = printable(path)
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
    # embed: a too-short file is kept (one zero-padded window) with a note, instead of being bad.
    keep_short: bool = False

    def __post_init__(self):
        if self.sample_rate <= 0:
            raise BadValueError(f"--sample-rate must be positive, got {self.sample_rate}")
        if self.min_seconds < 0:
            raise BadValueError(f"--min-seconds must be >= 0, got {self.min_seconds}")


def is_audio_file(path: str | os.PathLike) -> bool:
    # os.path, not Path: pathlib interns each name it parses, which grows with a listing of millions.
    return os.path.splitext(os.fspath(path))[1].lower() in AUDIO_EXTENSIONS


def file_size(path: str | os.PathLike) -> int:
    """The size of a regular file, or DecodeError saying in one line why the path is not one: missing, a broken
    or looping symbolic link, a folder, a FIFO, socket or device (never opened: opening a FIFO blocks)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            target = printable(os.readlink(path))
            reason = f"broken symbolic link (to {target}, which does not exist)"
            raise DecodeError(path, reason, "fix or delete the link") from None
        # Named in full: a list's relative line is looked for beside the list, which a user may not expect.
        looked = printable(os.path.abspath(path))
        raise DecodeError(
            path, f"file does not exist (looked for {looked})", "fix the path, or leave it out of the input"
        ) from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise DecodeError(path, "symbolic link loop", "fix or delete the link") from None
        raise DecodeError(path, f"unreadable ({err.strerror})", "check its permissions") from None
    if stat.S_ISDIR(st.st_mode):
        raise DecodeError(path, "is a directory, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device"
        raise DecodeError(path, f"not a regular file ({kind})", "copy the audio into a regular file, or delete it")
    return st.st_size


def file_stamp(path: str | os.PathLike) -> tuple[int, int]:
    """(size, mtime in ns) of what `path` points to, or (-1, -1) where it cannot be stat'ed (a broken link):
    what tells a changed file from the one a job saw before, without reading it."""
    try:
        st = os.stat(path)
    except OSError:
        return -1, -1
    return st.st_size, st.st_mtime_ns


def read_native(path: str | os.PathLike) -> tuple[np.ndarray, int, str]:
    """Reads a file as float32 [frames, channels] at its own rate, with a note ("" when none) when the file is
    cut short (what it holds is decoded); or raises DecodeError."""
    path = Path(path)
    if file_size(path) == 0:
        raise DecodeError(path, "empty file (0 bytes)", "re-copy or delete it")
    try:
        # Through a Python file object: soundfile encodes a str name as strict UTF-8 and fails on a
        # Latin-1 name (b"caf\xe9.wav"), which the operating system opens without trouble.
        with open(path, "rb") as f, sf.SoundFile(f) as sound:
            data = sound.read(dtype="float32", always_2d=True)
            rate, log = sound.samplerate, sound.extra_info
    except PermissionError as err:
        raise DecodeError(path, "unreadable (permission denied)", "check its permissions") from err
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as err:
        # soundfile names the file object it was given ("Error opening <_io.BufferedReader name=...>: "):
        # the report names the file already, so only libsndfile's reason stays.
        detail = re.sub(r"^Error opening <[^>]*>:\s*", "", str(err).splitlines()[0]) if str(err) else ""
        hint = "re-encode it as WAV or FLAC, or delete it"
        if "lost sync" in detail:
            raise DecodeError(path, f"truncated or corrupt ({detail.strip()})", "re-copy it, or delete it") from err
        raise DecodeError(path, f"corrupt or unsupported audio ({detail or type(err).__name__})", hint) from err
    if data.shape[0] == 0:
        raise DecodeError(path, "no audio frames", "re-copy or delete it")
    return data, int(rate), truncation_note(log, data.shape[0] / rate)


def truncation_note(log: str, seconds: float) -> str:
    """What libsndfile's log says of a file cut short (a copy that stopped early), as a note; "" if nothing.
    WAV/AIFF: a data chunk declared longer than the file ("data : 2560000 (should be 511964)"); Ogg: no
    end-of-stream mark on the last page."""
    declared = re.search(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", log, re.MULTILINE)
    if declared and int(declared.group(1)) > int(declared.group(2)) > 0:
        whole = seconds * int(declared.group(1)) / int(declared.group(2))
        return f"truncated: {seconds:.1f} s decoded of the {whole:.1f} s its header declares (re-copy it for the rest)"
    if "lacks an end-of-stream bit" in log:
        return f"truncated: {seconds:.1f} s decoded, the stream has no end mark (re-copy it for the rest)"
    return ""


def load_audio(path: str | os.PathLike, options: DecodeOptions = DecodeOptions()) -> np.ndarray:
    """Decodes, downmixes to mono, resamples (soxr) and validates one file.

    Returns float32 samples in [-1, 1] at `options.sample_rate`.
    """
    return decode_file(path, options)[0]


def decode_file(path: str | os.PathLike, options: DecodeOptions = DecodeOptions()) -> tuple[np.ndarray, str]:
    """`load_audio`, plus a note ("" when none): a file kept in spite of a check (options.keep_short), or one
    cut short (truncated) whose remaining audio is decoded."""
    data, rate, truncated = read_native(path)
    audio, note = conform_checked(data, rate, options, source=path)
    return audio, "; ".join(n for n in (truncated, note) if n)


# Integer PCM handed over as an array: the full scale of each type, so that a WAV read by scipy or
# soundfile(dtype='int16') gives the same embedding as its float read. (uint8 is offset binary, as in WAV.)
PCM_SCALES = {np.dtype(np.int8): (0, 128.0), np.dtype(np.int16): (0, 32768.0), np.dtype(np.int32): (0, 2.0**31)}
PCM_SCALES[np.dtype(np.uint8)] = (128, 128.0)


def as_float_audio(audio, what: str = "audio") -> np.ndarray:
    """An array of samples as float32 in [-1, 1]: floats as they are; int8/int16/int32/uint8 PCM divided by
    its type's full scale; any other dtype (int64, uint16, bool, objects) refused with one line."""
    x = np.asarray(audio)
    if x.dtype.kind == "f":
        return x.astype(np.float32, copy=False)
    if x.dtype in PCM_SCALES:
        offset, scale = PCM_SCALES[x.dtype]
        return ((x.astype(np.float32) - offset) / scale).astype(np.float32)
    raise BadValueError(
        f"{what} of dtype {x.dtype}: give float samples in [-1, 1], or int8/int16/int32/uint8 PCM (scaled by "
        "its full range); for other integers, divide by their full scale first"
    )


def check_audible(peak: float, options: DecodeOptions, source: str | os.PathLike = "<array>") -> None:
    """The one definition of silent: a peak below options.silence_dbfs is a DecodeError naming `source`."""
    peak_dbfs = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_dbfs < options.silence_dbfs:
        raise DecodeError(
            source,
            f"silent (peak {peak_dbfs:.1f} dBFS < {options.silence_dbfs:g} dBFS)",
            "drop the file or lower --silence-dbfs",
        )


def conform(data: np.ndarray, rate: int, options: DecodeOptions, source: str | os.PathLike = "<array>") -> np.ndarray:
    """Mono, target rate, finite, long enough, audible: the checks every clip passes."""
    return conform_checked(data, rate, options, source)[0]


# A downmix this far below the loudest channel cancelled the music (channels in antiphase, or nearly).
CANCELLED_DB = 20.0


def downmix(data: np.ndarray, options: DecodeOptions, source: str | os.PathLike = "<array>") -> tuple[np.ndarray, str]:
    """Mono float32, and a note when the downmix cancelled: silence is decided on the channels (a file is
    silent only if every channel is), and where the channels' mean is CANCELLED_DB below the loudest channel
    (antiphase stereo) the loudest channel is kept instead, with a note that says so."""
    if data.ndim != 2 or data.shape[1] == 1 or data.shape[0] == 0:
        return np.asarray(data.mean(axis=1) if data.ndim == 2 else data, np.float32), ""
    peaks = np.abs(data).max(axis=0)
    check_audible(float(peaks.max()), options, source)
    mono = np.asarray(data.mean(axis=1), np.float32)
    peak = float(np.abs(mono).max()) if mono.size else 0.0
    if peak * 10 ** (CANCELLED_DB / 20) >= peaks.max():
        return mono, ""
    loudest = int(peaks.argmax())
    return np.asarray(data[:, loudest], np.float32), (
        f"the channels cancel when downmixed (antiphase: the mean peaks {_dbfs(peak):.1f} dBFS, channel "
        f"{loudest + 1} {_dbfs(float(peaks.max())):.1f} dBFS); kept channel {loudest + 1} alone"
    )


def _dbfs(peak: float) -> float:
    return 20 * np.log10(peak) if peak > 0 else -np.inf


def conform_checked(
    data: np.ndarray, rate: int, options: DecodeOptions, source: str | os.PathLike = "<array>"
) -> tuple[np.ndarray, str]:
    """`conform`, returning (audio, note); the note says why a file that fails a check was kept anyway."""
    note = ""
    if not np.isfinite(data).all():
        bad = int((~np.isfinite(data)).sum())
        raise DecodeError(source, f"contains {bad} NaN or inf samples", "re-export the file; it is damaged")
    mono, note = downmix(data, options, source)
    if rate != options.sample_rate:
        # soxr's HQ preset: the quality music resampling needs, at several hundred x real time.
        mono = soxr.resample(mono, rate, options.sample_rate, quality="HQ").astype(np.float32)
    if mono.shape[0] == 0:  # e.g. one sample at 44.1 kHz: nothing is left at 16 kHz, not even to pad
        raise DecodeError(
            source,
            f"too short ({data.shape[0]} sample(s) at {rate} Hz, none at {options.sample_rate} Hz)",
            "drop the file",
        )
    seconds = mono.shape[0] / options.sample_rate
    if seconds < options.min_seconds:
        short = f"too short ({seconds:.2f} s < minimum {options.min_seconds:g} s)"
        if not options.keep_short:
            raise DecodeError(source, short, "lower --min-seconds or drop the file")
        note = "; ".join(filter(None, [note, f"{short}; embedded anyway, zero-padded to a whole window"]))
    peak = float(np.abs(mono).max())
    check_audible(peak, options, source)
    if peak > 1.0:
        # Float files may exceed full scale; scale down rather than clip so the waveform keeps its shape.
        mono = mono / peak
    return mono, note
