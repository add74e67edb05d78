"""`ssl-audio augment-preview`: hear and see what the model is trained on.

Writes the original crop and N augmented views of one file as WAV, plus one PNG
of their log spectrograms side by side, each titled with the parameters drawn.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from ssl_audio.audio.decode import DecodeOptions, load_audio
from ssl_audio.errors import OutputExistsError


def preview(
    input_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    views: int = 4,
    seconds: float = 4.0,
    seed: int = 0,
    config=None,
    overwrite: bool = False,
    decode: DecodeOptions | None = None,
) -> list[Path]:
    """Writes the crop and `views` augmented views of it (config: an augment block; default the default chain)."""
    import jax

    from ssl_audio.augment.chain import input_samples, make_chain, sample_parameters
    from ssl_audio.augment.config import default_config

    config = config or default_config()
    sr = int(config.sample_rate)
    out_dir = Path(out_dir)
    names = ["original.wav"] + [f"view_{i}.wav" for i in range(views)] + ["views.png"]
    clashes = [n for n in names if (out_dir / n).exists()]
    if clashes and not overwrite:
        raise OutputExistsError(f"{out_dir / clashes[0]}: exists; pass --overwrite or choose another --out")
    audio = load_audio(
        input_path, dataclasses.replace(decode, sample_rate=sr) if decode else DecodeOptions(sample_rate=sr)
    )
    n = int(seconds * sr)
    m = input_samples(config, n)  # as in pretraining: a view sped up still reads audio to its end
    start = max(0, (len(audio) - m) // 2)  # the middle of the file: intros are often quiet
    long_clip = np.pad(audio[start : start + m], (0, max(0, m - len(audio[start : start + m]))))
    clip = long_clip[:n]

    key = jax.random.key(seed)
    batch = np.stack([long_clip] * views)
    augmented = np.asarray(jax.jit(make_chain(config, n))(batch, key))
    params = sample_parameters(config, key, views, 0)  # the same draws the chain made from this key

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "original.wav"]
    sf.write(written[0], clip, sr)
    for i in range(views):
        path = out_dir / f"view_{i}.wav"
        # Gain and EQ can push a view past full scale; scale it for listening only.
        sf.write(path, augmented[i] / max(1.0, float(np.abs(augmented[i]).max())), sr)
        written.append(path)
    written.append(_plot(clip, augmented, params, config, out_dir / "views.png"))
    return written


def _describe(params: dict, i: int, config) -> str:
    parts = []
    if float(params["time_shift"][i]) != 0:
        parts.append(f"shift {float(params['time_shift'][i]) * 100:+.0f}%")
    if float(params["semitones"][i]) != 0:
        parts.append(f"pitch {float(params['semitones'][i]):+.1f} st")
    if float(params["rate"][i]) != 1:
        parts.append(f"rate {float(params['rate'][i]):.2f}")
    if bool(params["eq_on"][i]):
        parts.append("EQ")
    if bool(params["reverb_on"][i]):
        parts.append(f"reverb RT60 {float(params['rt60'][i]):.2f} s")
    if bool(params["compression_on"][i]):
        parts.append(
            f"compressed {float(params['ratio'][i]):.1f}:1 from {float(params['threshold_below_peak_db'][i]):.0f} dB"
        )
    if float(params["gain_db"][i]) != 0:
        parts.append(f"gain {float(params['gain_db'][i]):+.1f} dB")
    if bool(params["invert"][i]):
        parts.append("inverted")
    if bool(params["clipping_on"][i]):
        kind = "saturated" if bool(params["clip_soft"][i]) else "clipped"
        parts.append(f"{kind} {float(params['clip_percent'][i]):.0f}%")
    if bool(params["lowpass_on"][i]):
        parts.append(f"low-pass {float(params['cutoff_hz'][i]):.0f} Hz")
    if bool(params["crush_on"][i]):
        parts.append(f"{int(params['bits'][i])} bits")
    if bool(params["noise_on"][i]):
        parts.append(f"noise {float(params['snr_db'][i]):.0f} dB SNR")
    return ", ".join(parts) or "no op drawn"


def _plot(clip: np.ndarray, augmented: np.ndarray, params: dict, config, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sr = config.sample_rate
    rows = [("original", clip)] + [(f"view {i}: {_describe(params, i, config)}", v) for i, v in enumerate(augmented)]
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 1.9 * len(rows)), squeeze=False)
    for ax, (title, signal) in zip(axes[:, 0], rows):
        with np.errstate(divide="ignore"):  # digital silence (zero-padded ends) has no log level
            ax.specgram(signal, NFFT=1024, Fs=sr, noverlap=768, cmap="magma", vmin=-120)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("Hz")
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
