"""The embedding model downstream code calls: audio in, numpy embeddings out.

    import ssl_audio
    model = ssl_audio.load_model("runs/demo/pretrain")          # a pretraining workdir or one checkpoint
    e = model.embed(audio, sample_rate)                          # any length, any rate, mono or multichannel
    e.scene                                                      # [D]: the windows pooled (mean by default)
    e.windows, e.timestamps                                      # [T, D] and [T] window centres in seconds

Audio is cut into the encoder's windows (`ssl_audio.audio.windows`), the windows go to the devices in
fixed-size batches sharded over every local device, and each clip's window embeddings are pooled.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ssl_audio.audio.decode import DecodeOptions, as_float_audio, conform, load_audio
from ssl_audio.audio.windows import timed_windows
from ssl_audio.distributed import batch_sharding, make_mesh, replicated
from ssl_audio.embed import pooling as pooling_lib
from ssl_audio.errors import BadValueError
from ssl_audio.models.registry import accepts_any_length
from ssl_audio.pretrained import Encoder, load_encoder

# What embed, the Python API and HEAR hand out: one vector of the encoder's size per clip (or none). The
# 2D read-outs of pooling.py (mean+std, mean+max) are measured by the probe first (docs/quality.md).
POOLINGS = ("mean", "max", "none")
DEFAULT_BATCH_SIZE = 64
# Below this a window holds a handful of spectrogram frames: no music encoder here means anything by it.
MIN_WINDOW_SECONDS = 0.1


@dataclasses.dataclass
class Embeddings:
    """One clip's embeddings. Times are in seconds from the clip's start."""

    scene: np.ndarray | None  # [D] float32, the windows pooled; None with pooling="none"
    windows: np.ndarray  # [T, D] float32, one per window
    starts: np.ndarray  # [T] float64
    ends: np.ndarray  # [T] float64, clipped to the clip's end (a short clip's window is zero-padded)
    duration: float

    @property
    def timestamps(self) -> np.ndarray:
        """[T] the centre of the audio each window covers."""
        return (self.starts + self.ends) / 2

    @classmethod
    def of_windows(
        cls, windows: np.ndarray, starts: np.ndarray, ends: np.ndarray, duration: float, pooling: str
    ) -> Embeddings:
        """A clip's window embeddings with their times, and the scene embedding pooled from them."""
        return cls(scene=pool(windows, pooling), windows=windows, starts=starts, ends=ends, duration=duration)


def pool(windows: np.ndarray, pooling: str) -> np.ndarray | None:
    """The scene embedding (ssl_audio/embed/pooling.py, the one definition); None with pooling 'none'."""
    return None if pooling == "none" else pooling_lib.pool(windows, pooling)


class EmbeddingModel:
    """A pretrained encoder with a windowing policy, batched over the local devices."""

    def __init__(
        self,
        encoder: Encoder,
        *,
        window_seconds: float | None = None,
        hop_seconds: float | None = None,
        pooling: str = "mean",
        batch_size: int = DEFAULT_BATCH_SIZE,
        devices: list | None = None,
    ):
        if pooling not in POOLINGS:
            raise BadValueError(f"pooling: one of {', '.join(POOLINGS)}, got {pooling!r}")
        self.encoder = encoder
        self.pooling = pooling
        self.sample_rate = encoder.sample_rate
        # None means the default; 0 is a value, refused below (it used to mean the default silently)
        self.window_seconds = float(encoder.window_seconds if window_seconds is None else window_seconds)
        self.hop_seconds = float(self.window_seconds if hop_seconds is None else hop_seconds)
        if self.window_seconds < MIN_WINDOW_SECONDS or self.hop_seconds <= 0:
            raise BadValueError(
                f"--window-seconds must be at least {MIN_WINDOW_SECONDS:g} and --hop-seconds positive, "
                f"got {self.window_seconds:g} and {self.hop_seconds:g}"
            )
        self.window_samples = int(round(self.window_seconds * self.sample_rate))
        self.hop_samples = max(1, int(round(self.hop_seconds * self.sample_rate)))
        self.mesh = make_mesh(jax.local_devices() if devices is None else devices)
        per_device = max(1, math.ceil(batch_size / self.mesh.size))
        self.batch_size = per_device * self.mesh.size  # every device gets the same number of windows
        self._check_window()
        self._params = jax.device_put((encoder.params, encoder.batch_stats), replicated(self.mesh))
        self._forward = jax.jit(
            encoder.forward,
            in_shardings=(replicated(self.mesh), replicated(self.mesh), batch_sharding(self.mesh)),
            out_shardings=batch_sharding(self.mesh),
        )

    def _check_window(self) -> None:
        if self.window_samples == self.encoder.window_samples:
            return
        name = self.encoder.config.model.name
        fixed = f"the {name} encoder takes windows of exactly {self.encoder.window_seconds:g} s"
        if not accepts_any_length(name):
            raise BadValueError(f"--window-seconds {self.window_seconds:g}: {fixed}; leave --window-seconds out")
        try:
            jax.eval_shape(
                self.encoder.forward,
                self.encoder.params,
                self.encoder.batch_stats,
                jax.ShapeDtypeStruct((1, self.window_samples), jnp.float32),
            )
        except Exception as err:  # e.g. too short for the network's downsampling
            raise BadValueError(
                f"--window-seconds {self.window_seconds:g}: the {name} encoder cannot take it "
                f"({type(err).__name__}); try {self.encoder.window_seconds:g}"
            ) from None

    # ----------------------------------------------------------------------------------------- identity
    @property
    def embedding_size(self) -> int:
        return self.encoder.embedding_size

    @property
    def checksum(self) -> str:
        return self.encoder.checksum

    def settings(self) -> dict:
        """What determines the numbers in an output: a rerun with other settings must not mix with it."""
        return {
            "checkpoint_checksum": self.checksum,
            "sample_rate": self.sample_rate,
            "window_seconds": self.window_seconds,
            "hop_seconds": self.hop_seconds,
            "pooling": self.pooling,
            "embedding_size": self.embedding_size,
            # only when asked for: outputs made before --layer existed keep their settings
            **({"layer": self.encoder.layer} if self.encoder.layer else {}),
        }

    # ------------------------------------------------------------------------------------------ windows
    def embed_windows(self, windows: np.ndarray) -> np.ndarray:
        """[N, window_samples] -> [N, D] float32, in device batches of at most `batch_size`."""
        windows = as_float_audio(windows, "windows")
        if windows.ndim != 2 or windows.shape[1] != self.window_samples:
            raise BadValueError(f"expected windows [N, {self.window_samples}], got shape {windows.shape}")
        out = [self._run(windows[i : i + self.batch_size]) for i in range(0, windows.shape[0], self.batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.embedding_size), np.float32)

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        n = chunk.shape[0]
        size = self._bucket(n)
        if n < size:
            chunk = np.concatenate([chunk, np.zeros((size - n, chunk.shape[1]), np.float32)])
        return np.asarray(self._forward(*self._params, chunk))[:n]

    def _bucket(self, n: int) -> int:
        """Padded batch size for n windows: powers of two (times the device count) up to batch_size, so a
        short clip does not pay for a full batch and the job still compiles only a handful of shapes."""
        devices = self.mesh.size
        size = devices
        while size < n:
            size *= 2
        return min(size, self.batch_size)

    # ------------------------------------------------------------------------------------------- clips
    def windows_of(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(windows [T, W] (views), starts [T] s, ends [T] s) of mono audio at the model's rate."""
        return timed_windows(audio, self.window_samples, self.hop_samples, self.sample_rate)

    def embed(self, audio, sample_rate: int) -> Embeddings:
        """Embeddings of one clip: audio [samples], [samples, channels] or [channels, samples] (channels are
        averaged), at any sample rate (resampled with soxr). NumPy, or anything np.asarray takes: floats in
        [-1, 1], or int8/int16/int32/uint8 PCM (scaled by its type's full range)."""
        return self._embed_mono(self._conform(audio, sample_rate))

    def embed_file(self, path: str | os.PathLike) -> Embeddings:
        """Embeddings of an audio file (decoded and resampled; raises DecodeError naming the file)."""
        return self._embed_mono(load_audio(path, self.decode_options))

    def _embed_mono(self, mono: np.ndarray) -> Embeddings:
        windows, starts, ends = self.windows_of(mono)
        return Embeddings.of_windows(
            self.embed_windows(windows), starts, ends, mono.shape[0] / self.sample_rate, self.pooling
        )

    @functools.cached_property
    def decode_options(self) -> DecodeOptions:
        """Files: the one policy of what a bad file is (ssl_audio.audio.decode), except that a too-short file
        is kept (a downstream team wants a row per file) with a note."""
        return DecodeOptions(sample_rate=self.sample_rate, keep_short=True)

    @functools.cached_property
    def array_options(self) -> DecodeOptions:
        # Arrays handed over in Python are embedded as they are: short sounds and silence included.
        return DecodeOptions(sample_rate=self.sample_rate, min_seconds=0.0, silence_dbfs=-math.inf)

    def _conform(self, audio, sample_rate: int) -> np.ndarray:
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise BadValueError(f"sample_rate must be a positive int (Hz), got {sample_rate!r}")
        x = as_float_audio(audio)
        if x.ndim == 2:
            # soundfile gives [samples, channels]; librosa and torchaudio [channels, samples].
            if x.shape[0] <= 8 < x.shape[1]:
                x = x.T
            elif not x.shape[1] <= 8:
                raise BadValueError(
                    f"audio of shape {x.shape}: give [samples], [samples, channels] or "
                    f"[channels, samples] with at most 8 channels; for a batch, call embed per clip"
                )
        elif x.ndim != 1:
            raise BadValueError(f"audio of shape {x.shape}: give [samples], [samples, channels] or [channels, samples]")
        if x.shape[0] == 0:
            raise BadValueError("audio has no samples")
        return conform(x, int(sample_rate), self.array_options, source="<audio array>")


def load_model(
    path: str | os.PathLike,
    *,
    window_seconds: float | None = None,
    hop_seconds: float | None = None,
    pooling: str = "mean",
    batch_size: int = DEFAULT_BATCH_SIZE,
    devices: list | None = None,
    layer: str | None = None,
) -> EmbeddingModel:
    """A pretraining workdir (its latest checkpoint) or WORKDIR/checkpoints/STEP, ready to embed audio.

    hop_seconds: distance between window starts (default: the window, no overlap).
    pooling: how window embeddings become the clip's scene embedding: mean, max, or none.
    layer: what is read out in place of the run's own read-out: "embedding", "blocks" or a block's name.
    """
    return EmbeddingModel(
        load_encoder(Path(path), readout=layer),
        window_seconds=window_seconds,
        hop_seconds=hop_seconds,
        pooling=pooling,
        batch_size=batch_size,
        devices=devices,
    )
