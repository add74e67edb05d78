"""`ssl-audio bench decode`: what one core decodes, per format, in the path every job uses.

Files of --input are rewritten at 44.1 kHz stereo (what real catalogues hold) as WAV, FLAC, MP3 and OGG
Vorbis in a temporary folder, then decoded by `ssl_audio.audio.decode.decode_file` (decode, mix-down,
resample to 16 kHz, the bad-file checks) in this one process. Figures are × real time on one core and the
ratio to WAV: what sizes a cluster that decodes a catalogue (docs/scaling.md).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

FORMATS = (("WAV", "wav"), ("FLAC", "flac"), ("MP3", "mp3"), ("OGG", "ogg"))


def run(input_dir: str, files: int, rate: int = 16_000) -> list[str]:
    import soundfile as sf
    import soxr

    from ssl_audio.audio.decode import DecodeOptions, decode_file
    from ssl_audio.embed.inputs import list_inputs
    from ssl_audio.errors import BadValueError

    sources = [p for _, p in list_inputs(input_dir)][:files]
    if not sources:
        raise BadValueError(f"--input {input_dir}: no audio files to benchmark")
    options = DecodeOptions(sample_rate=rate)
    rates, lines = {}, []
    with tempfile.TemporaryDirectory(prefix="bench-decode-") as tmp:
        for i, path in enumerate(sources):
            x, r = sf.read(path, dtype="float32", always_2d=True)
            y = soxr.resample(x.mean(axis=1), r, 44_100)
            y = 0.9 * y / max(float(np.abs(y).max()), 1e-9)
            for fmt, ext in FORMATS:
                sf.write(f"{tmp}/{i:05d}.{ext}", np.stack([y, y], axis=1), 44_100, format=fmt)
        for fmt, ext in FORMATS:
            paths = sorted(Path(tmp).glob(f"*.{ext}"))
            decode_file(paths[0], options)  # first-call costs (codec tables) outside the clock
            start, seconds = time.perf_counter(), 0.0
            for p in paths:
                audio, _ = decode_file(p, options)
                seconds += audio.shape[0] / rate
            rates[ext] = seconds / (time.perf_counter() - start)
            lines.append(f"decode {fmt} 44.1 kHz stereo -> {rate} Hz mono: {len(paths)} files, {seconds:.0f} s of "
                         f"audio, {rates[ext]:.0f}x real time on one core")  # fmt: skip
    speeds = " ".join(f"{ext}_x_realtime={rates[ext]:.0f}" for _, ext in FORMATS)
    ratios = " ".join(f"{ext}_vs_wav={rates[ext] / rates['wav']:.2f}" for _, ext in FORMATS[1:])
    lines.append(f"decode {speeds} {ratios}")
    return lines


HELP = "what one core decodes per second, WAV, FLAC, MP3 and OGG, in the decode path every job uses"
DESCRIPTION = (
    "Rewrites --input's first --files files at 44.1 kHz stereo as WAV, FLAC, MP3 and OGG Vorbis and decodes "
    "them to 16 kHz mono on one core with the jobs' decode path; prints, last, `decode wav_x_realtime=... "
    "flac_x_realtime=... mp3_x_realtime=... ogg_x_realtime=... flac_vs_wav=...`."
)


def add_arguments(p) -> None:
    p.add_argument("--input", default="data/demo/audio", help="folder of audio (default data/demo/audio)")
    p.add_argument("--files", type=int, default=40, help="number of files from --input (default 40)")


def main(args) -> int:
    for line in run(args.input, args.files):
        print(line, flush=True)
    return 0
