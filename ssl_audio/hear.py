"""The HEAR API (hearbenchmark.com), so HEAR's evaluation kit and its users can run our encoders as they are.

    from ssl_audio import hear
    model = hear.load_model("runs/demo/pretrain")            # a pretraining workdir or one checkpoint
    scene = hear.get_scene_embeddings(audio, model)          # [n_sounds, D]
    emb, ts = hear.get_timestamp_embeddings(audio, model)    # [n_sounds, T, D], [n_sounds, T] in ms

`audio` is [n_sounds, n_samples] at `model.sample_rate`, as NumPy, TensorFlow or PyTorch; results come back
as the same kind, float32. Timestamp embeddings are centred on timestamps 0, hop, 2*hop, ... up to the
sound's end (hop 50 ms by default, which HEAR asks for), each from one encoder window zero-padded past the
sound's edges; the times are computed from the timestamp index, so they never drift. Scene embeddings are
the mean of the encoder's windows over the sound (`ssl_audio.embed.model`).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from ssl_audio.audio.decode import as_float_audio
from ssl_audio.embed.model import EmbeddingModel
from ssl_audio.embed.model import load_model as _load_embedding_model
from ssl_audio.errors import BadValueError

TIMESTAMP_HOP_MS = 50.0
_WINDOWS_PER_CALL = 1024  # bounds memory for long sounds: windows are cut from views this many at a time


class HearModel(tf.Module):
    """What HEAR's `load_model` returns. A tf.Module because the HEAR validator accepts only TensorFlow or
    PyTorch modules; the computation itself is our JAX encoder."""

    def __init__(self, model: EmbeddingModel, timestamp_hop_ms: float = TIMESTAMP_HOP_MS):
        super().__init__(name="ssl_audio_hear")
        if not timestamp_hop_ms > 0:
            raise BadValueError(f"timestamp_hop_ms must be positive, got {timestamp_hop_ms}")
        self.embedding_model = model
        self.sample_rate = int(model.sample_rate)
        self.scene_embedding_size = int(model.embedding_size)
        self.timestamp_embedding_size = int(model.embedding_size)
        self.timestamp_hop_ms = float(timestamp_hop_ms)


def load_model(
    model_file_path: str = "",
    *,
    timestamp_hop_ms: float = TIMESTAMP_HOP_MS,
    batch_size: int = 64,
    layer: str | None = None,
) -> HearModel:
    """HEAR's entry point; `layer` reads out one block ("block3"), every block ("blocks") or the embedding."""
    if not model_file_path:
        raise BadValueError(
            "ssl_audio.hear.load_model needs a path: a pretraining workdir such as runs/demo/pretrain, "
            "or WORKDIR/checkpoints/STEP (no weights ship with the package)"
        )
    return HearModel(_load_embedding_model(model_file_path, batch_size=batch_size, layer=layer), timestamp_hop_ms)


def _to_numpy(audio) -> np.ndarray:
    if type(audio).__module__.startswith("torch"):
        audio = audio.detach().cpu().numpy()
    elif isinstance(audio, (tf.Tensor, tf.Variable)):
        audio = audio.numpy()
    x = as_float_audio(audio, "HEAR audio")
    if x.ndim != 2:
        raise BadValueError(f"HEAR audio is [n_sounds, n_samples]; got shape {x.shape}")
    return x


def _like(audio, array: np.ndarray):
    """The result as the caller's kind of tensor."""
    if type(audio).__module__.startswith("torch"):
        import torch

        return torch.from_numpy(np.ascontiguousarray(array)).to(audio.device)
    if isinstance(audio, (tf.Tensor, tf.Variable)):
        return tf.convert_to_tensor(array)
    return array


def timestamps_ms(n_samples: int, sample_rate: int, hop_ms: float) -> np.ndarray:
    """0, hop, 2*hop, ... while within the sound: index times hop, so no rounding accumulates."""
    duration_ms = 1000.0 * n_samples / sample_rate
    count = int(math.floor(duration_ms / hop_ms + 1e-9)) + 1
    return np.arange(count, dtype=np.float64) * hop_ms


def get_timestamp_embeddings(audio, model: HearModel):
    """([n_sounds, T, D] float32, [n_sounds, T] float32 ms), each embedding centred on its timestamp."""
    x = _to_numpy(audio)
    em = model.embedding_model
    window = em.window_samples
    times = timestamps_ms(x.shape[1], em.sample_rate, model.timestamp_hop_ms)
    # Centre of timestamp t in samples; with W/2 of zeros in front, a window starting there is centred on t.
    centres = np.round(times * em.sample_rate / 1000.0).astype(np.int64)
    left = window // 2
    out = np.zeros((x.shape[0], len(times), em.embedding_size), np.float32)
    for i, sound in enumerate(x):
        padded = np.pad(sound, (left, window - left))
        views = np.lib.stride_tricks.sliding_window_view(padded, window)
        for j in range(0, len(centres), _WINDOWS_PER_CALL):
            out[i, j : j + _WINDOWS_PER_CALL] = em.embed_windows(views[centres[j : j + _WINDOWS_PER_CALL]])
    stamps = np.broadcast_to(times.astype(np.float32), (x.shape[0], len(times))).copy()
    return _like(audio, out), _like(audio, stamps)


def get_scene_embeddings(audio, model: HearModel):
    """[n_sounds, D] float32: the mean of the encoder's windows over each sound."""
    x = _to_numpy(audio)
    em = model.embedding_model
    out = np.stack([em.embed_windows(em.windows_of(sound)[0]).mean(axis=0) for sound in x]).astype(np.float32)
    return _like(audio, out)
