"""Per-clip features for the probes, cached on disk.

- `encoder_features`: a clip is cut into the encoder's windows (`hop_seconds` apart, the last one ending
  at the clip's end), the windows of many clips are batched together, and each clip's window embeddings
  are pooled (mean by default, or max).
- `mfcc_features`: the classical baseline: 20 MFCCs and their deltas, chroma and spectral contrast
  (librosa), each summarised by its mean and standard deviation over time.

Features are cached under CACHE/DATASET-FINGERPRINT/FEATURE-ID/SPLIT.npz, keyed by the dataset's
fingerprint (written by `ssl-audio prepare`) and by the feature extractor (the encoder's weights
checksum, window, hop and pooling), so a second probe of the same checkpoint reads them in seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ssl_audio.audio.descriptors import DESCRIPTORS_VERSION
from ssl_audio.audio.windows import window_batches
from ssl_audio.data.pipeline import DatasetHandle, encode_labels, eval_clips
from ssl_audio.embed.model import EmbeddingModel
from ssl_audio.embed.pooling import POOLINGS, Pooler
from ssl_audio.errors import BadValueError
from ssl_audio.pretrained import Encoder


@dataclasses.dataclass
class ClipFeatures:
    x: np.ndarray  # [n_clips, D] float32
    labels: dict[str, np.ndarray]  # class -> int32 [n]; multilabel -> float32 [n, C]; value -> float32 [n]
    groups: dict[str, np.ndarray]  # group columns (artist, album) -> str [n]
    keys: np.ndarray  # str [n]: the clip's path in the dataset

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {
            "x": self.x,
            "keys": self.keys,
            **{f"label:{k}": v for k, v in self.labels.items()},
            **{f"group:{k}": v for k, v in self.groups.items()},
        }
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(path)  # a killed run never leaves a half-written cache entry

    @classmethod
    def load(cls, path: Path) -> ClipFeatures:
        with np.load(path) as z:
            return cls(
                x=z["x"],
                keys=z["keys"],
                labels={k[6:]: z[k] for k in z.files if k.startswith("label:")},
                groups={k[6:]: z[k] for k in z.files if k.startswith("group:")},
            )


def dataset_fingerprint(handle: DatasetHandle) -> str:
    sidecar = handle.path / "ssl_audio_prepare.json"
    if sidecar.exists():
        return json.loads(sidecar.read_text())["fingerprint"][:16]
    return hashlib.sha256((handle.path / "dataset_info.json").read_bytes()).hexdigest()[:16]


def cached(
    cache_dir: Path, handle: DatasetHandle, feature_id: str, split: str, compute: Callable[[], ClipFeatures]
) -> tuple[ClipFeatures, bool]:
    """(features, whether they came from the cache)."""
    path = Path(cache_dir) / f"{handle.name}-{dataset_fingerprint(handle)}" / feature_id / f"{split}.npz"
    if path.exists():
        return merge_segments(ClipFeatures.load(path)), True
    features = compute()
    features.save(path)
    return merge_segments(features), False


def merge_segments(features: ClipFeatures) -> ClipFeatures:
    """One row per file. `prepare` stores a file longer than --segment-seconds as segments that share its
    key; the probe scores files, so a file's segment rows are averaged (its segments are equally long, so
    for encoder features this is the mean over its windows to within a window per segment; for MFCC the mean
    of the segments' statistics) and the paired bootstrap resamples files, not parts of one. Rows stay in
    the order each file first appears, the same for every feature kind; unique keys return it unchanged."""
    unique, first, inverse = np.unique(features.keys, return_index=True, return_inverse=True)
    if len(unique) == len(features.keys):
        return features
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    row = rank[inverse]  # each segment's file, numbered by first appearance
    x = np.zeros((len(first), features.x.shape[1]), np.float64)
    np.add.at(x, row, features.x)
    x /= np.bincount(row, minlength=len(first))[:, None]
    keep = np.sort(first)  # a file's labels and groups: its first segment's (all its segments carry the same)
    return ClipFeatures(
        x=x.astype(np.float32),
        labels={k: v[keep] for k, v in features.labels.items()},
        groups={k: v[keep] for k, v in features.groups.items()},
        keys=features.keys[keep],
    )


def _labels_and_groups(handle: DatasetHandle, encoded: list[dict]) -> tuple[dict, dict]:
    labels, groups = {}, {}
    for column, kind in handle.columns.items():
        values = [e[column] for e in encoded]
        if kind == "group":
            groups[column] = np.array(values, dtype=str)
        else:
            labels[column] = np.stack(values) if kind == "multilabel" else np.array(values)
    return labels, groups


def encoder_feature_id(encoder: Encoder, hop_seconds: float | None, pooling: str) -> str:
    hop = hop_seconds or encoder.window_seconds
    # The checksum names the weights; the read-out is part of the features too (the embedding's ids are
    # what they were before read-outs existed, so old caches stay valid).
    readout = "" if encoder.readout == "embedding" else f"-{encoder.readout}"
    return f"encoder-{encoder.checksum}{readout}-w{encoder.window_seconds:g}-h{hop:g}-{pooling}"


def pool_windows(
    fn: Callable[[np.ndarray], np.ndarray],
    handle: DatasetHandle,
    split: str,
    *,
    window_seconds: float,
    hop_seconds: float | None = None,
    pooling: str = "mean",
    batch_size: int = 64,
    progress: bool = True,
    desc: str = "",
) -> tuple[np.ndarray, list[dict], list[str]]:
    """fn over every window of every clip of a split, windows of many clips batched together, pooled per
    clip (ssl_audio/embed/pooling.py). Returns (pooled [n_clips, D'], each clip's encoded labels, keys)."""
    if pooling not in POOLINGS:
        raise BadValueError(f"--pooling: one of {', '.join(POOLINGS)}, got {pooling!r}")
    n = handle.splits[split]
    encoded: list[dict] = [None] * n
    keys: list[str] = [""] * n

    def clips():
        for clip in eval_clips(handle, split, window_seconds=window_seconds, hop_seconds=hop_seconds):
            encoded[clip["index"]], keys[clip["index"]] = clip["labels"], clip["key"]
            yield clip

    pooler = None
    bar = _bar(n, desc or split, progress)
    for batch in window_batches(clips(), batch_size):
        out = np.asarray(fn(batch["audio"]), np.float32)
        if pooler is None:
            pooler = Pooler(n, out.shape[1], pooling)
        for row, clip in enumerate(batch["clip"]):
            if clip < 0:
                continue
            if pooler.count[clip] == 0:
                bar.update(1)
            pooler.add(clip, out[row])
    bar.close()
    return pooler.result(), encoded, keys


def encoder_features(
    encoder: Encoder,
    handle: DatasetHandle,
    split: str,
    *,
    hop_seconds: float | None = None,
    pooling: str = "mean",
    batch_size: int = 64,
    progress: bool = True,
) -> ClipFeatures:
    # EmbeddingModel shards each batch over every local device, as `ssl-audio embed` does.
    embed = EmbeddingModel(encoder, batch_size=batch_size).embed_windows
    pooled, encoded, keys = pool_windows(
        embed,
        handle,
        split,
        window_seconds=encoder.window_seconds,
        hop_seconds=hop_seconds,
        pooling=pooling,
        batch_size=batch_size,
        progress=progress,
        desc=f"embed {split}",
    )
    labels, groups = _labels_and_groups(handle, encoded)
    return ClipFeatures(x=pooled, labels=labels, groups=groups, keys=np.array(keys, dtype=str))


def mfcc_feature_id() -> str:
    return f"mfcc-v{DESCRIPTORS_VERSION}"


def mfcc_features(
    handle: DatasetHandle, split: str, *, workers: int | None = None, progress: bool = True
) -> ClipFeatures:
    from ssl_audio.parallel import parallel_map
    from ssl_audio_linear_probe.mfcc_worker import mfcc_of_index, open_split

    n = len(handle.source(split))  # checks the split
    x, records = [], []
    for features, record in parallel_map(
        mfcc_of_index,
        [(i, handle.sample_rate) for i in range(n)],
        workers=workers,
        desc=f"mfcc {split}",
        unit="clip",
        initializer=open_split,
        initargs=(str(handle.path), split),
        progress=progress,
    ):
        x.append(features)
        records.append(record)
    encoded = [encode_labels(handle, r) for r in records]
    labels, groups = _labels_and_groups(handle, encoded)
    keys = [r["key"].decode() if isinstance(r["key"], bytes) else str(r["key"]) for r in records]
    return ClipFeatures(x=np.stack(x), labels=labels, groups=groups, keys=np.array(keys, dtype=str))


def musicnn_features(handle: DatasetHandle, split: str, *, progress: bool = True) -> ClipFeatures:
    """The supervised peer's features (musicnn_peer.py), one record at a time in this process (its TF graph
    runs its own threads): memory is a clip's."""
    from ssl_audio.data.location import as_float
    from ssl_audio_linear_probe.musicnn_peer import clip_feature

    source = handle.source(split)
    x, encoded, keys = [], [], []
    bar = _bar(len(source), f"musicnn {split}", progress)
    for i in range(len(source)):
        record = dict(source[i])
        audio = record.pop("audio")
        x.append(clip_feature(as_float(audio), handle.sample_rate))
        encoded.append(encode_labels(handle, record))
        keys.append(record["key"].decode() if isinstance(record["key"], bytes) else str(record["key"]))
        bar.update(1)
    bar.close()
    labels, groups = _labels_and_groups(handle, encoded)
    return ClipFeatures(x=np.stack(x), labels=labels, groups=groups, keys=np.array(keys, dtype=str))


def _bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="clip", disable=not enabled, dynamic_ncols=True)
