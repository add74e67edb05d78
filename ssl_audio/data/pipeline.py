"""Reading prepared datasets: pretraining pairs and evaluation windows.

Why grain (over TFDS's ArrayRecord data sources) rather than tf.data: grain
gives random access with a deterministic, checkpointable iterator state
(`get_state`/`set_state`, saved next to the model by Orbax), shards by JAX
process, runs Python transforms in worker processes, and keeps the TensorFlow
runtime out of the training process. tf.data would need TF in the loop and
its iterator checkpoints only work through TF's own checkpointing.

Views:
- pretraining: two independent random crops of the same clip (the positive
  pair); augmentation happens later, on the device.
- evaluation: fixed windows that cover the whole clip, in order, with the
  clip's labels encoded for the heads (class index, multi-hot, float value).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import grain
import numpy as np
import tensorflow_datasets as tfds

from ssl_audio.audio.windows import cut_windows
from ssl_audio.data.labels import COLUMN_KINDS
from ssl_audio.data.location import PCM_SCALE, SIDECAR, as_float, dataset_path
from ssl_audio.errors import BadValueError, UsageError
from ssl_audio.text import plural


class DatasetNotFoundError(UsageError, FileNotFoundError):
    """No prepared dataset of that name under the data dir."""


@dataclasses.dataclass
class DatasetHandle:
    """A prepared dataset, opened: its splits as random-access sources plus what its labels mean."""

    name: str
    path: Path
    builder: Any
    sample_rate: int
    columns: dict[str, str]  # label column -> kind (class, multilabel, value, group)
    class_names: dict[str, list[str]]  # for class and multilabel columns

    @property
    def splits(self) -> dict[str, int]:
        return {name: info.num_examples for name, info in self.builder.info.splits.items()}

    def source(self, split: str):
        if split not in self.builder.info.splits:
            raise BadValueError(f"dataset {self.name!r} has no split {split!r}; it has {', '.join(self.splits)}")
        return self.builder.as_data_source(split)


def open_dataset(
    name: str, data_dir: str | os.PathLike, *, sample_rate: int | None = None, data_dir_flag: str = "--data-dir"
) -> DatasetHandle:
    """Opens a dataset built by `ssl-audio prepare`; checks its sample rate against the caller's.
    `data_dir_flag`: how the calling command is told another data dir (pretrain: --config.data_dir)."""
    path = dataset_path(name, data_dir)
    if not (path / "dataset_info.json").exists():
        raise DatasetNotFoundError(
            f"dataset {name!r} not found under {data_dir} (looked in {path}); point {data_dir_flag} at the "
            f"folder it was prepared into, or build it with `ssl-audio prepare --input DIR --name {name} "
            f"--data-dir {data_dir}`"
        )
    if not (path / SIDECAR).exists():
        raise DatasetNotFoundError(
            f"dataset {name!r} in {path} is unfinished (no {SIDECAR}: its prepare did not "
            f"complete); run `ssl-audio prepare` for it again with --overwrite"
        )
    builder = tfds.builder_from_directory(str(path))
    features = builder.info.features
    rate = _stored_rate(features["audio"], path)
    if sample_rate is not None and rate != sample_rate:
        raise BadValueError(
            f"dataset {name!r} is stored at {rate} Hz but {sample_rate} Hz was asked for; set the "
            f"sample rate to {rate}, or rebuild it with `ssl-audio prepare --sample-rate {sample_rate}`"
        )
    columns, names = {}, {}
    for column in _label_columns(features):
        feature = features[column]
        if isinstance(feature, tfds.features.ClassLabel):
            columns[column], names[column] = "class", list(feature.names)
        elif isinstance(feature, tfds.features.Sequence):
            columns[column], names[column] = "multilabel", list(feature.feature.names)
        elif isinstance(feature, tfds.features.Text):
            columns[column] = "group"
        else:
            columns[column] = "value"
    return DatasetHandle(name=name, path=path, builder=builder, sample_rate=rate, columns=columns, class_names=names)


def _stored_rate(audio_feature, path: Path) -> int:
    """The sample rate the audio is stored at: the sidecar's (datasets stored as raw bytes), or the TFDS Audio
    feature's (datasets built before, which read correctly, only slower; `prepare --overwrite` rebuilds)."""
    rate = getattr(audio_feature, "sample_rate", None)
    return int(rate) if rate else int(json.loads((path / SIDECAR).read_text())["sample_rate"])


def _label_columns(features) -> list[str]:
    """Label features in a stable order: ours in their usual order, then the dataset's own, by name."""
    present = [c for c in features.keys() if c not in ("audio", "key")]
    ours = [c for c in COLUMN_KINDS if c in present]
    return ours + sorted(c for c in present if c not in ours)


def label_values(handle: DatasetHandle, split: str, columns: list[str]) -> dict[str, list]:
    """Label columns of a split, each record read once and no audio decoded (group values as str)."""
    out = {column: [] for column in columns}
    if not columns:
        return out
    source = handle.builder.as_data_source(split, decoders={"audio": tfds.decode.SkipDecoding()})
    for i in range(len(source)):
        record = source[i]
        for column in columns:
            value = record[column]
            out[column].append(value.decode() if isinstance(value, bytes) else value)
    return out


def split_counts(handle: DatasetHandle, splits=None) -> dict[str, dict[str, int]]:
    """{split: {'files', 'segments'}}: a file longer than prepare's --segment-seconds is several records
    (segments) sharing its key, so a split's record count is not its number of files."""
    counts = {}
    for split in splits or handle.splits:
        keys = label_values(handle, split, ["key"])["key"]
        counts[split] = {"files": len(set(keys)), "segments": len(keys)}
    return counts


def _ensure_absl_flags_parsed() -> None:
    # grain reads its options from absl flags; outside absl.app (our CLI, notebooks, tests) they are
    # never parsed and grain's worker processes fail on first access, so take the defaults.
    from absl import flags

    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


def _process_shard(shard_index: int | None, shard_count: int | None) -> tuple[int, int]:
    if shard_index is None or shard_count is None:
        import jax  # only here: the data layer must not need an accelerator runtime otherwise

        return jax.process_index(), jax.process_count()
    return shard_index, shard_count


# ---------------------------------------------------------------------------------------------- pretraining


def crop_of(audio: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """A random window of `length` samples, in the stored format: a view of the record, not a copy.

    A clip shorter than that is looped to fill it, from a random offset into the loop: two crops of a short
    clip are then different circular shifts of it. (Always starting at 0 made both views of every clip
    shorter than crop_seconds identical, a positive pair any model matches without learning anything.)
    """
    n = audio.shape[0]
    if n < length:
        audio = np.tile(audio, int(np.ceil(length / max(n, 1))) + 1)
        start = int(rng.integers(0, max(n, 1)))
    else:
        start = int(rng.integers(0, n - length + 1))
    return audio[start : start + length]


def random_crop(audio: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """`crop_of` as float32, as the model reads it."""
    return as_float(crop_of(audio, length, rng))


class TwoCrops(grain.transforms.RandomMap):
    """The positive pair: two independent random crops of the same clip, in the stored format (int16 views
    of the record: nothing is copied until the batch is made as float32), or as float32 at once for a CPU
    augmentation that runs on each pair."""

    def __init__(self, crop_samples: int, floats: bool = False):
        self.crop_samples, self.crop = crop_samples, random_crop if floats else crop_of

    def random_map(self, element: dict, rng: np.random.Generator) -> dict:
        audio = element["audio"]
        return {
            "view_a": self.crop(audio, self.crop_samples, rng),
            "view_b": self.crop(audio, self.crop_samples, rng),
        }


class AsFloat(grain.transforms.Map):
    """A batch's views as float32 (grain's own Batch stacked them as stored: with worker processes, whose
    batches travel in shared memory)."""

    def map(self, batch: dict) -> dict:
        return {key: as_float(value) for key, value in batch.items()}


def stack_as_float(elements) -> dict:
    """Batching in one array: each crop is scaled straight into its row of a float32 batch, one pass over
    the samples (stacking and then converting made three). The numbers are `as_float`'s: an int16 sample
    becomes float32 exactly and is multiplied by the float32 scale, either way."""
    out = {}
    for key in elements[0]:
        first = elements[0][key]
        batch = np.empty((len(elements), *first.shape), np.float32)
        scale = np.float32(PCM_SCALE if first.dtype == np.int16 else 1.0)
        for row, element in zip(batch, elements):
            np.multiply(element[key], scale, out=row, casting="unsafe")
        out[key] = batch
    return out


class LabelledCrop(grain.transforms.RandomMap):
    """One random crop of a clip with one of its labels, encoded (fine-tuning)."""

    def __init__(self, handle: DatasetHandle, column: str, crop_samples: int):
        self.handle, self.column, self.crop_samples = handle, column, crop_samples

    def random_map(self, element: dict, rng: np.random.Generator) -> dict:
        return {
            "audio": random_crop(element["audio"], self.crop_samples, rng),
            "label": encode_labels(self.handle, element)[self.column],
        }


def crop_loader(
    handle: DatasetHandle,
    crops: grain.transforms.RandomMap,
    *,
    split: str,
    global_batch_size: int,
    seed: int,
    worker_count: int = 0,
    num_epochs: int | None = None,
    shard_index: int | None = None,
    shard_count: int | None = None,
    extra: tuple = (),
    after: tuple = (),
    batch_fn=None,
) -> grain.DataLoader:
    """Shuffled batches of `crops` of this process's shard (endless by default), `extra` transforms after
    the crops, `after` transforms of each batch.

    Each JAX process reads its own shard and yields global_batch_size / process_count clips. Iterate with
    `it = iter(loader)`; `it.get_state()` / `it.set_state(state)` make resume exact.
    """
    index, count = _process_shard(shard_index, shard_count)
    source, per_process = _source_and_batch(handle, split, global_batch_size, count)
    sampler = _shuffled_shard(len(source), index, count, seed, num_epochs=num_epochs)
    _ensure_absl_flags_parsed()
    return grain.DataLoader(
        data_source=source,
        sampler=sampler,
        worker_count=worker_count,
        operations=[
            crops,
            *extra,
            grain.transforms.Batch(batch_size=per_process, drop_remainder=True, batch_fn=batch_fn),
            *after,
        ],
        read_options=read_options(per_process),
    )


def loader_workers(setting, backend: str, cores: int | None = None) -> int:
    """Worker processes for config.data_workers: a number as given; "auto" is none on a CPU backend (the
    step's own threads need the cores) and half the host's cores, at most 16, beside an accelerator."""
    if str(setting) != "auto":
        return int(setting)
    if backend == "cpu":
        return 0
    return max(1, min(16, (cores or os.cpu_count() or 2) // 2))


def read_options(per_process_batch: int) -> grain.ReadOptions:
    """Records read ahead: two batches' worth. grain's default, 500 records, held 1.2 GB of 60-s segments
    (the memory then grew with the records' length, not the batch); the order read does not depend on it."""
    ahead = max(2 * per_process_batch, 16)
    return grain.ReadOptions(num_threads=min(16, ahead), prefetch_buffer_size=ahead)


def pretrain_loader(
    handle: DatasetHandle,
    *,
    split: str = "train",
    global_batch_size: int,
    crop_seconds: float,
    seed: int,
    worker_count: int = 0,
    num_epochs: int | None = None,
    shard_index: int | None = None,
    shard_count: int | None = None,
    augment: grain.transforms.RandomMap | None = None,
    crop_samples: int | None = None,
) -> grain.DataLoader:
    """Batches of {'view_a', 'view_b'}: [per_process_batch, crop_samples] float32.

    `crop_samples` (default: crop_seconds of audio) is longer than the views when the augmentation chain
    can speed a view up (augment.views.crop_samples). `augment`, when given, runs on each pair in the
    loader (the CPU augmentation path); the default JAX path augments on the device, inside the step.
    """
    crop = crop_samples or int(round(crop_seconds * handle.sample_rate))
    return crop_loader(
        handle,
        TwoCrops(crop, floats=augment is not None),
        split=split,
        global_batch_size=global_batch_size,
        seed=seed,
        worker_count=worker_count,
        num_epochs=num_epochs,
        shard_index=shard_index,
        shard_count=shard_count,
        extra=(augment,) if augment is not None else (),
        # The crops are int16 views of the records until the batch: made in one float32 array in this
        # process; with workers, stacked into grain's shared memory and converted there. The CPU
        # augmentation path augments float crops.
        after=(AsFloat(),) if augment is None and worker_count > 0 else (),
        batch_fn=stack_as_float if augment is None and worker_count == 0 else None,
    )


def labelled_loader(
    handle: DatasetHandle,
    column: str,
    *,
    split: str = "train",
    global_batch_size: int,
    crop_seconds: float,
    seed: int,
    worker_count: int = 0,
) -> grain.DataLoader:
    """Endless shuffled batches of {'audio': [per_process_batch, crop], 'label': encoded `column`}."""
    crop = int(round(crop_seconds * handle.sample_rate))
    return crop_loader(
        handle,
        LabelledCrop(handle, column, crop),
        split=split,
        global_batch_size=global_batch_size,
        seed=seed,
        worker_count=worker_count,
    )


def _source_and_batch(handle: DatasetHandle, split: str, global_batch_size: int, count: int):
    """The split's source and each process's share of the global batch, or an error saying what to change."""
    if global_batch_size % count:
        raise BadValueError(
            f"config.batch_size {global_batch_size} is not divisible by the {count} processes; "
            f"use a multiple of {count}"
        )
    source = handle.source(split)
    per_process = global_batch_size // count
    if len(source) // count < per_process:
        raise BadValueError(
            f"config.batch_size: split {split!r} of {handle.name!r} has {plural(len(source), 'clip')}, "
            f"fewer than one batch of {per_process} per process; lower it (e.g. "
            f"--config.batch_size={max(2, len(source) // count)}) or add data"
        )
    return source, per_process


def _shuffled_shard(num_records: int, index: int, count: int, seed: int, num_epochs: int | None):
    """This process's shard of the records, reshuffled every epoch; its position is the loader's state."""
    return grain.samplers.IndexSampler(
        num_records=num_records,
        shard_options=grain.sharding.ShardOptions(shard_index=index, shard_count=count, drop_remainder=True),
        shuffle=True,
        num_epochs=num_epochs,
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------- evaluation


def eval_windows(audio: np.ndarray, window: int, hop: int) -> np.ndarray:
    """[n_windows, window] float32; a clip shorter than one window is zero-padded."""
    return np.ascontiguousarray(cut_windows(as_float(audio), window, hop)[0])


def encode_labels(handle: DatasetHandle, example: dict) -> dict[str, np.ndarray]:
    """Labels as the heads want them: class -> int32 index, multilabel -> multi-hot float32, value -> float32."""
    out = {}
    for column, kind in handle.columns.items():
        value = example[column]
        if kind == "class":
            out[column] = np.int32(value)
        elif kind == "multilabel":
            hot = np.zeros(len(handle.class_names[column]), np.float32)
            hot[np.asarray(value, dtype=np.int64)] = 1.0
            out[column] = hot
        elif kind == "value":
            out[column] = np.float32(value)
        elif kind == "group":
            out[column] = value.decode() if isinstance(value, bytes) else str(value)
    return out


class ToWindows(grain.transforms.MapWithIndex):
    def __init__(self, handle: DatasetHandle, window: int, hop: int):
        self.handle, self.window, self.hop = handle, window, hop

    def map_with_index(self, index: int, element: dict) -> dict:
        key = element["key"]
        return {
            "index": index,
            "key": key.decode() if isinstance(key, bytes) else key,
            "windows": eval_windows(element["audio"], self.window, self.hop),
            "labels": encode_labels(self.handle, element),
        }


def eval_clips(
    handle: DatasetHandle,
    split: str,
    *,
    window_seconds: float,
    hop_seconds: float | None = None,
    shard_index: int | None = None,
    shard_count: int | None = None,
) -> Iterable[dict]:
    """Each clip of this process's shard, in order: {'index', 'key', 'windows' [n, W], 'labels'}."""
    index, count = _process_shard(shard_index, shard_count)
    window = int(round(window_seconds * handle.sample_rate))
    hop = int(round((hop_seconds or window_seconds) * handle.sample_rate))
    if hop <= 0:
        raise BadValueError(f"hop_seconds must be positive, got {hop_seconds}")
    # `index` in the output is the clip's position within this shard.
    return (
        grain.MapDataset.source(handle.source(split))
        .slice(slice(index, None, count))
        .map_with_index(ToWindows(handle, window, hop))
    )
