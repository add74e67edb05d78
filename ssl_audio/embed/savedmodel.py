"""`ssl-audio export-savedmodel`: the encoder as a TensorFlow SavedModel, for teams whose stack is not JAX.

    m = tf.saved_model.load("runs/demo/savedmodel")
    h = m.embed_windows(windows)              # float32 [batch, window_samples] -> [batch, D]
    out = m.embed_clip(audio)                 # mono float32 [samples] at m.sample_rate ->
                                              #   scene [D] (mean), windows [T, D], starts / ends [T] in seconds

The encoder goes through jax2tf with native serialization (StableHLO inside the SavedModel) for CPU and
CUDA, with the batch dimension left symbolic; the weights are TF variables, not graph constants. embed_clip
cuts windows in TF exactly as `ssl_audio.audio.windows` does. After writing, the export reloads itself and
checks it against the JAX encoder.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import jax
import numpy as np

from ssl_audio.audio.decode import PCM_SCALES
from ssl_audio.embed.model import EmbeddingModel
from ssl_audio.errors import BadValueError, OutputExistsError
from ssl_audio.pretrained import load_encoder

METADATA = "ssl_audio_export.json"
PLATFORMS = ("cpu", "cuda")


@dataclasses.dataclass
class SavedModelResult:
    out: Path
    window_samples: int
    hop_samples: int
    sample_rate: int
    embedding_size: int
    max_abs_diff: float  # reloaded SavedModel vs the JAX encoder, on test windows

    def lines(self) -> list[str]:
        return [
            f"export-savedmodel: {self.out} (tf.saved_model.load it; signatures embed_windows, embed_clip)",
            f"  input {self.window_samples} samples at {self.sample_rate} Hz per window, hop "
            f"{self.hop_samples}; embedding size {self.embedding_size}; platforms {', '.join(PLATFORMS)}",
            f"  reloaded and checked against JAX: max abs difference {self.max_abs_diff:.2e}",
        ]


def _check_out(out: Path, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise OutputExistsError(f"--out {out}: is a file; give a folder for the SavedModel")
    if not any(out.iterdir()):
        return
    if not (out / "saved_model.pb").exists():
        raise OutputExistsError(f"--out {out}: holds files that are not a SavedModel; choose a new folder")
    if not overwrite:
        raise OutputExistsError(f"--out {out}: a SavedModel is already there; add --overwrite to replace it")


def build_module(encoder, hop_samples: int):
    import tensorflow as tf

    pcm_scales = {tf.as_dtype(k): v for k, v in PCM_SCALES.items()}
    from jax.experimental import jax2tf

    window = encoder.window_samples
    leaves, treedef = jax.tree.flatten((encoder.params, encoder.batch_stats))

    def jax_embed(weights, audio):
        params, batch_stats = jax.tree.unflatten(treedef, weights)
        return encoder.forward(params, batch_stats, audio)

    tf_embed = jax2tf.convert(
        jax_embed, polymorphic_shapes=[None, "(b, _)"], with_gradient=False, native_serialization_platforms=PLATFORMS
    )
    module = tf.Module()
    module.weights = [tf.Variable(np.asarray(leaf), trainable=False) for leaf in leaves]
    module.sample_rate = tf.Variable(encoder.sample_rate, trainable=False, dtype=tf.int64)
    module.window_samples = tf.Variable(window, trainable=False, dtype=tf.int64)
    module.hop_samples = tf.Variable(hop_samples, trainable=False, dtype=tf.int64)

    @tf.function(input_signature=[tf.TensorSpec([None, window], tf.float32, name="audio")], autograph=False)
    def embed_windows(audio):
        return tf_embed(module.weights, audio)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="audio")])
    def embed_float_clip(audio):
        n = tf.shape(audio)[0]
        # As the Python API (`embed_audio`: "audio has no samples"): no window of nothing, not an embedding.
        tf.debugging.assert_positive(n, message="embed_clip: audio has no samples")
        padded = tf.pad(audio, [[0, tf.maximum(window - n, 0)]])  # a short clip is one zero-padded window
        m = tf.shape(padded)[0]
        starts = tf.range(0, m - window + 1, hop_samples)
        if starts[-1] + window < m:  # one more window ends at the clip's end
            starts = tf.concat([starts, [m - window]], axis=0)
        windows = tf.gather(padded, starts[:, None] + tf.range(window)[None, :])
        h = embed_windows(windows)
        rate = tf.cast(encoder.sample_rate, tf.float64)
        return {
            "scene": tf.reduce_mean(h, axis=0),
            "windows": h,
            "starts": tf.cast(starts, tf.float64) / rate,
            "ends": tf.cast(tf.minimum(starts + window, n), tf.float64) / rate,
        }

    @tf.function
    def embed_clip(audio):
        # One trace per dtype (below), chosen by the loaded model from the caller's dtype: integer PCM is scaled
        # by its full range as in the Python API, where a float32 signature alone would take 20000 as 20000.
        if audio.dtype in pcm_scales:
            offset, scale = pcm_scales[audio.dtype]
            audio = (tf.cast(audio, tf.float32) - offset) / scale
        return embed_float_clip(tf.cast(audio, tf.float32))

    for dtype in (tf.float32, tf.float64, *pcm_scales):
        embed_clip.get_concrete_function(tf.TensorSpec([None], dtype, name="audio"))
    module.embed_windows = embed_windows
    module.embed_clip = embed_clip
    module.embed_float_clip = embed_float_clip
    return module


def export_savedmodel(
    checkpoint,
    out,
    *,
    window_seconds: float | None = None,
    hop_seconds: float | None = None,
    overwrite: bool = False,
    check_windows: int = 4,
    layer: str | None = None,
) -> SavedModelResult:
    import tensorflow as tf

    out = Path(out).expanduser()
    _check_out(out, overwrite)
    encoder = load_encoder(checkpoint, readout=layer)
    if window_seconds is not None:
        # EmbeddingModel refuses what the encoder cannot take (a fixed-length transformer, a too-short window).
        EmbeddingModel(encoder, window_seconds=window_seconds)
        config = encoder.config.copy_and_resolve_references()
        config.crop_seconds = float(window_seconds)
        encoder = dataclasses.replace(encoder, config=config)
    hop = int(round((hop_seconds or encoder.window_seconds) * encoder.sample_rate))
    if hop <= 0:
        raise BadValueError(f"--hop-seconds must be positive, got {hop_seconds}")
    module = build_module(encoder, hop)

    # Written beside the target, then swapped in: a failed export never leaves half a model at --out.
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tf.saved_model.save(
        module,
        str(tmp),
        signatures={
            "serving_default": module.embed_windows,
            "embed_windows": module.embed_windows,
            "embed_clip": module.embed_float_clip,  # a serving signature has one dtype: float32
        },
    )
    (tmp / METADATA).write_text(
        json.dumps(
            {
                "checkpoint": {"source": encoder.source, "step": encoder.step, "checksum": encoder.checksum},
                "sample_rate": encoder.sample_rate,
                "window_samples": encoder.window_samples,
                "hop_samples": hop,
                "embedding_size": encoder.embedding_size,
                "readout": encoder.readout,
                "platforms": list(PLATFORMS),
                "config": encoder.config.to_dict(),
            },
            indent=2,
            default=str,
        )
        + "\n"
    )

    windows = np.random.default_rng(0).uniform(-1, 1, (check_windows, encoder.window_samples)).astype(np.float32)
    reloaded = tf.saved_model.load(str(tmp))
    expected = EmbeddingModel(encoder, batch_size=check_windows).embed_windows(windows)
    diff = float(np.abs(reloaded.embed_windows(tf.constant(windows)).numpy() - expected).max())
    if not diff <= 1e-3:
        raise RuntimeError(
            f"the SavedModel in {tmp} differs from the JAX encoder by {diff:.3g}; it was not "
            f"moved to {out}. Please report this with the checkpoint's config."
        )
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return SavedModelResult(
        out=out,
        window_samples=encoder.window_samples,
        hop_samples=hop,
        sample_rate=encoder.sample_rate,
        embedding_size=encoder.embedding_size,
        max_abs_diff=diff,
    )
