"""A supervised peer for the probe: musicnn (Pons & Serra 2019), trained on the Million Song Dataset's tags,
whose weights ship inside its PyPI package (`pip install --no-deps musicnn tf-keras`; `make setup` does it).
Nothing is downloaded at run time.

A clip is cut into 3-s patches of musicnn's own log-mel (librosa: 16 kHz, 512-point FFT, hop 256, 96 bands,
log10(1 + 10000 x)), the patches go through the graph (`models.define_model`, restored with a Saver from the
package folder, in a tf.compat.v1 graph of its own: eager mode elsewhere is untouched), and the clip's feature
is the mean over its patches of the pooled layer (`max_pool`, 753 numbers). A clip shorter than a patch is
zero-padded to one, as musicnn itself does.
"""

from __future__ import annotations

import functools
import os
import warnings

import numpy as np

from ssl_audio.errors import UsageError

MODEL = "MSD_musicnn"
PATCH_SECONDS = 3.0
LAYER = "max_pool"
INSTALL = "pip install --no-deps musicnn==0.1.0 tf-keras (or `make setup`)"


class MusicnnMissingError(UsageError):
    """The peer was asked for but its package is not installed."""


def check_installed() -> None:
    """MusicnnMissingError (one line, how to install) unless musicnn and Keras 2 can be imported."""
    import importlib.util

    missing = [m for m in ("musicnn", "tf_keras") if importlib.util.find_spec(m) is None]
    if missing:
        raise MusicnnMissingError(f"--features musicnn: {' and '.join(missing)} not installed; {INSTALL}")


def feature_id() -> str:
    return f"musicnn-{MODEL}-{LAYER}-{PATCH_SECONDS:g}s"


@functools.lru_cache(maxsize=1)
def _graph():
    """(session, input placeholder, training flag, pooled-layer tensor, frames a patch), built once."""
    # musicnn's graph is made of tf.compat.v1.layers, which TensorFlow 2.16+ serves only from Keras 2 (tf-keras)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    try:
        import librosa
        import tensorflow as tf
        import tf_keras  # noqa: F401  (the check that Keras 2 is there)
        from musicnn import configuration, models
    except ImportError as err:
        raise MusicnnMissingError(f"--features musicnn: the musicnn peer is not installed ({err}); {INSTALL}") from None
    frames = (
        librosa.time_to_frames(
            PATCH_SECONDS, sr=configuration.SR, n_fft=configuration.FFT_SIZE, hop_length=configuration.FFT_HOP
        )
        + 1
    )
    graph = tf.Graph()
    with graph.as_default(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.compat.v1.layers' deprecation warnings, one per layer
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, frames, configuration.N_MELS])
            training = tf.compat.v1.placeholder(tf.bool)
            outputs = models.define_model(x, training, MODEL, len(configuration.MSD_LABELS))
        session = tf.compat.v1.Session(graph=graph)
        session.run(tf.compat.v1.global_variables_initializer())
        folder = os.path.join(os.path.dirname(models.__file__), MODEL)
        tf.compat.v1.train.Saver().restore(session, folder + "/")
    names = ("y", "timbral", "temporal", "cnn1", "cnn2", "cnn3", "mean_pool", "max_pool", "penultimate")
    pooled = outputs[names.index(LAYER)]
    return session, x, training, pooled, frames, configuration


def patches(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """[n_patches, frames, 96]: musicnn's log-mel of `audio`, cut into non-overlapping 3-s patches."""
    import librosa

    _, _, _, _, frames, c = _graph()
    if sample_rate != c.SR:
        audio = librosa.resample(np.asarray(audio, np.float32), orig_sr=sample_rate, target_sr=c.SR)
    mel = librosa.feature.melspectrogram(
        y=np.asarray(audio, np.float32), sr=c.SR, hop_length=c.FFT_HOP, n_fft=c.FFT_SIZE, n_mels=c.N_MELS
    ).T
    mel = np.log10(10000 * mel + 1).astype(np.float32)
    if len(mel) < frames:
        mel = np.pad(mel, ((0, frames - len(mel)), (0, 0)))
    starts = range(0, len(mel) - frames + 1, frames)
    return np.stack([mel[s : s + frames] for s in starts])


def clip_feature(audio: np.ndarray, sample_rate: int, batch: int = 32) -> np.ndarray:
    """The mean over the clip's patches of musicnn's pooled layer: [753] float32."""
    session, x, training, pooled, _, _ = _graph()
    p = patches(audio, sample_rate)
    out = [session.run(pooled, feed_dict={x: p[i : i + batch], training: False}) for i in range(0, len(p), batch)]
    return np.concatenate(out).mean(axis=0).astype(np.float32)
