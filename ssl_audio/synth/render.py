"""MIDI -> audio with the General MIDI soundfont shipped inside the pretty_midi wheel.

midirenderer (a Rust SoundFont synthesizer) renders to 48 kHz stereo; we
downmix, resample with soxr and set the loudness from the clip's arousal, so
that "louder" is part of the mood signal rather than an accident of voicing.
"""

from __future__ import annotations

import functools
import io
import os

import midirenderer
import numpy as np
import pretty_midi
import soundfile as sf
import soxr

from ssl_audio.errors import MissingInputError


def soundfont_path() -> str:
    path = os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")
    if not os.path.exists(path):
        raise MissingInputError(
            f"{path}: the soundfont that ships with pretty_midi is missing; "
            "reinstall pretty_midi (pip install --force-reinstall pretty_midi)"
        )
    return path


@functools.lru_cache(maxsize=1)
def _soundfont_bytes() -> bytes:
    with open(soundfont_path(), "rb") as f:
        return f.read()


def render(midi: pretty_midi.PrettyMIDI, seconds: float, sample_rate: int, arousal: float) -> np.ndarray:
    """Exactly `seconds` of mono float32 audio at `sample_rate`."""
    buf = io.BytesIO()
    midi.write(buf)
    wav = midirenderer.render_wave_from(_soundfont_bytes(), buf.getvalue())
    stereo, native_rate = sf.read(io.BytesIO(wav), dtype="float32", always_2d=True)
    mono = stereo.mean(axis=1)
    if native_rate != sample_rate:
        mono = soxr.resample(mono, native_rate, sample_rate, quality="HQ")
    n = int(round(seconds * sample_rate))
    mono = np.pad(mono[:n], (0, max(0, n - mono.shape[0])))
    # Arousal -> loudness: RMS from -26 dBFS (calm) to -16 dBFS (excited), with the peak kept below full scale.
    rms = float(np.sqrt(np.mean(mono**2))) or 1e-9
    target = 10 ** ((-26 + 10 * (arousal + 1) / 2) / 20)
    mono = mono * (target / rms)
    peak = float(np.abs(mono).max())
    if peak > 0.98:
        mono *= 0.98 / peak
    return mono.astype(np.float32)
