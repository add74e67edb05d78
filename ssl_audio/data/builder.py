"""TFDS builder for "a folder of audio, optionally with labels": decoded once, stored as array_record.

The folder is decoded, resampled and validated once (bad files skipped and
listed), and stored as 16-bit PCM at the dataset's sample rate, which halves
the size of float32 and keeps every reader free of codecs. The labels become
TFDS features (ClassLabel, Sequence(ClassLabel), Scalar, Text) whose names live
in the dataset's own metadata, so `tfds.builder_from_directory(path)` reads it
back without this package.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ssl_audio.audio.decode import DecodeError, DecodeOptions, load_audio
from ssl_audio.audio.paths import printable
from ssl_audio.data.labels import SPLITS, Record, class_names
from ssl_audio.parallel import parallel_map

from ssl_audio.data.location import BUILDER_NAME, DATASET_VERSION  # noqa: F401  (the builder's name is its folder)


@dataclasses.dataclass(eq=False)
class AudioFolderConfig(tfds.core.BuilderConfig):
    records: list[Record] = dataclasses.field(default_factory=list)
    columns: list[str] = dataclasses.field(default_factory=list)
    kinds: dict[str, str] = dataclasses.field(default_factory=dict)   # column -> kind (Catalog.kinds)
    decode: DecodeOptions = DecodeOptions()
    workers: int | None = None


def _decode_pcm16(job: tuple[str, DecodeOptions]) -> tuple[np.ndarray | None, str]:
    path, options = job
    try:
        audio = load_audio(path, options)
    except DecodeError as err:
        return None, err.detail
    return np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16), ""


class SslAudioFolder(tfds.core.GeneratorBasedBuilder):
    """A folder of audio (with optional labels.csv, GTZAN or MagnaTagATune layout) as a TFDS dataset."""

    VERSION = tfds.core.Version(DATASET_VERSION)
    RELEASE_NOTES = {DATASET_VERSION: "Decoded 16-bit PCM, labels as features, group-aware splits."}

    def __init__(self, *, config: AudioFolderConfig, **kwargs):
        super().__init__(config=config, **kwargs)
        self.bad_files: list[dict] = []
        self.samples_written = 0

    def _info(self) -> tfds.core.DatasetInfo:
        cfg: AudioFolderConfig = self.builder_config
        features = {
            "audio": tfds.features.Audio(shape=(None,), dtype=np.int16, sample_rate=cfg.decode.sample_rate),
            "key": tfds.features.Text(doc="path of the source file, relative to the input folder"),
        }
        for column in cfg.columns:
            kind = cfg.kinds[column]
            if kind == "class":
                features[column] = tfds.features.ClassLabel(names=class_names(cfg.records, column))
            elif kind == "multilabel":
                features[column] = tfds.features.Sequence(tfds.features.ClassLabel(names=class_names(cfg.records, column)))
            elif kind == "value":
                features[column] = tfds.features.Scalar(dtype=np.float32)
            elif kind == "group":
                features[column] = tfds.features.Text()
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features),
            description=cfg.description,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # everything is local
        cfg: AudioFolderConfig = self.builder_config
        return {split: self._generate_examples([r for r in cfg.records if r.split == split])
                for split in SPLITS if any(r.split == split for r in cfg.records)}

    def _generate_examples(self, records: list[Record]):
        cfg: AudioFolderConfig = self.builder_config
        jobs = [(r.path, cfg.decode) for r in records]
        # TFDS shows its own per-split progress bar, so ours stays quiet here.
        for record, (pcm, reason) in zip(records, parallel_map(_decode_pcm16, jobs, workers=cfg.workers,
                                                               progress=False)):
            if pcm is None:
                self.bad_files.append({"path": printable(record.path), "reason": reason})
                continue
            self.samples_written += pcm.shape[0]
            example = {"audio": pcm, "key": record.key}
            for column in cfg.columns:
                value = record.labels[column] if column in record.labels else ""
                example[column] = list(value) if isinstance(value, tuple) else value
            yield record.key, example
