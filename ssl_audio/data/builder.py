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
import hashlib
import itertools
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf
import tensorflow_datasets as tfds

from ssl_audio.audio.decode import DecodeError, DecodeOptions, check_audible, load_audio
from ssl_audio.audio.paths import from_wire, printable, to_wire
from ssl_audio.audio.stream import read_segment
from ssl_audio.data.labels import SPLITS, Record, class_names, example_key
from ssl_audio.data.location import BUILDER_NAME, DATASET_VERSION  # noqa: F401  (the builder's name is its folder)
from ssl_audio.data.spool import RecordSpool
from ssl_audio.parallel import parallel_map


@dataclasses.dataclass(eq=False)
class AudioFolderConfig(tfds.core.BuilderConfig):
    # Held (labelled catalogues), or a spool on disk (an unlabelled folder streamed by prepare).
    records: list[Record] | RecordSpool = dataclasses.field(default_factory=list)
    columns: list[str] = dataclasses.field(default_factory=list)
    kinds: dict[str, str] = dataclasses.field(default_factory=dict)  # column -> kind (Catalog.kinds)
    decode: DecodeOptions = DecodeOptions()
    workers: int | None = None
    # Set by `prepare --runner`: the splits are built by Beam (TFDS's own path), and the workers write their
    # bad files and sample counts as JSON lines here for `collect_beam_side` to read once the build is done.
    beam_side: str | None = None
    progress: bool = True  # our bar per split (files, rate, ETA) in place of TFDS's, which has no total


def _decode_pcm16(job: tuple) -> tuple[np.ndarray | None, str]:
    """(path, options) or (path, options, (index, start, end)) -> 16-bit PCM, or None and the reason. A
    segment reads only its own frames (ssl_audio/audio/stream.py), so a two-hour file costs a segment."""
    path, options, segment = (*job, None)[:3]
    try:
        if segment is None:
            audio = load_audio(path, options)
        else:
            audio = read_segment(path, segment[1], segment[2], options)
            try:
                check_audible(float(np.abs(audio).max(initial=0.0)), options, path)
            except DecodeError as err:  # a silent stretch of a long file is one bad segment, not a bad file
                return None, f"segment {segment[1]:.1f}-{segment[2]:.1f} s is {err.detail}"
    except DecodeError as err:
        return None, err.detail
    except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as err:  # a segment past a cut-short end
        return None, f"segment {segment[1]:.1f}-{segment[2]:.1f} s could not be read ({type(err).__name__}: {err})"
    return np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16), ""


def _job(record: Record, options: DecodeOptions) -> tuple:
    return (record.path, options) if record.segment is None else (record.path, options, record.segment)


def audio_feature(sample_rate: int) -> tfds.features.Tensor:
    """How a clip is stored: a Tensor of raw bytes, not tfds.features.Audio. Audio ignores its encoding for
    arrays (they reach the serialiser as TFDS's default int64 list), and reading it imports TensorFlow (10 s
    on 2 cores) in every job that opens a dataset. As bytes a 10-s clip reads back with one frombuffer
    (1 ms) instead of a list of 160,000 ints (24 ms), which was most of every pretraining step's input
    time. The sample rate is in the sidecar (`pipeline.open_dataset` reads it)."""
    return tfds.features.Tensor(
        shape=(None,),
        dtype=np.int16,
        encoding=tfds.features.Encoding.BYTES,
        doc=f"mono 16-bit PCM at {sample_rate} Hz",
    )


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
            "audio": audio_feature(cfg.decode.sample_rate),
            "key": tfds.features.Text(doc="path of the source file, relative to the input folder"),
        }
        for column in cfg.columns:
            kind = cfg.kinds[column]
            if kind == "class":
                features[column] = tfds.features.ClassLabel(names=class_names(cfg.records, column))
            elif kind == "multilabel":
                features[column] = tfds.features.Sequence(
                    tfds.features.ClassLabel(names=class_names(cfg.records, column))
                )
            elif kind == "value":
                features[column] = tfds.features.Scalar(dtype=np.float32)
            elif kind == "group":
                features[column] = tfds.features.Text()
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features),
            description=cfg.description,
        )

    # TFDS prints "Downloading and preparing dataset Unknown size ..." and a closing line about downloads;
    # nothing is downloaded here, and prepare prints what it built.
    def _log_download_bytes(self) -> None:
        pass

    def _log_download_done(self) -> None:
        pass

    def _split_generators(self, dl_manager):
        del dl_manager  # everything is local
        cfg: AudioFolderConfig = self.builder_config
        if isinstance(cfg.records, RecordSpool):
            return {
                split: self._generate_examples(cfg.records.split(split), split, cfg.records.counts[split])
                for split in SPLITS
                if cfg.records.counts.get(split)
            }
        held = {split: [r for r in cfg.records if r.split == split] for split in SPLITS}
        return {split: self._generate_examples(rs, split, len(rs)) for split, rs in held.items() if rs}

    def _generate_examples(self, records: Iterable[Record], split: str, count: int | None = None):
        cfg: AudioFolderConfig = self.builder_config
        if cfg.beam_side is not None:
            return _BeamSplit(records, split, cfg)
        return self._examples_here(records, split, count)

    def _examples_here(self, records: Iterable[Record], split: str = "", count: int | None = None):
        cfg: AudioFolderConfig = self.builder_config
        # A stream stays a stream: parallel_map reads the jobs only a window ahead, and tee holds that window.
        decoding, pairing = itertools.tee(records)
        jobs = (_job(r, cfg.decode) for r in decoding)
        decoded = parallel_map(
            _decode_pcm16, jobs, workers=cfg.workers, progress=cfg.progress, total=count, desc=f"prepare {split}",
            unit="file", chunksize=1,  # a result is a clip's audio: in flight stays 4 a worker, whatever the count
        )  # fmt: skip
        for pcm, reason in decoded:  # driven by `decoded`, so that it runs to its end and closes its bar
            record = next(pairing)
            if pcm is None:
                self.bad_files.append({"path": printable(record.path), "reason": reason})
                continue
            self.samples_written += pcm.shape[0]
            yield record.example_key, _example(record.key, record.labels, pcm, cfg.columns)

    def collect_beam_side(self) -> None:
        """After a Beam build: bad files (in the in-process order: split, then input order) and the samples
        written, from what the workers left in `beam_side`. A retried bundle's line counts once."""
        side = Path(self.builder_config.beam_side)
        bad: dict[tuple[int, int], dict] = {}
        for order, split in enumerate(SPLITS):
            samples: dict[str, int] = {}
            for file in sorted(side.glob(f"{split}-side-*.json")):
                written = json.loads(file.read_text(encoding="utf-8"))
                samples.update(written["samples"])
                for index, row in written["bad"].items():
                    bad[(order, int(index))] = row
            self.samples_written += sum(samples.values())
        self.bad_files += [bad[k] for k in sorted(bad)]


def _example(key: str, labels: dict, pcm: np.ndarray, columns: list[str]) -> dict:
    example = {"audio": pcm, "key": key}
    for column in columns:
        value = labels[column] if column in labels else ""
        example[column] = list(value) if isinstance(value, (tuple, list)) else value
    return example


# Records per listing shard: the unit a Create hands out. On Dask one shard is one partition, so one
# bundle of decoded audio in a worker; on Dataflow the list of shards is in the job graph (a few MB at most).
SHARD_RECORDS = 16


def _write_records(records: Iterable[Record], prefix: Path) -> list[str]:
    """One JSON line per record in shards PREFIX-NNNNNN.jsonl, streamed: Beam reads the split's files from
    there rather than from the pipeline graph (Dataflow caps a job's graph at a few MB, a catalogue's file
    list is more), and by a FlatMap over the shards rather than a Beam source (the DaskRunner runs none)."""
    shards, f = [], None
    try:
        for index, r in enumerate(records):  # to_wire: Beam's coders refuse undecodable file names (surrogates)
            if index % SHARD_RECORDS == 0:
                if f is not None:
                    f.close()
                shards.append(f"{prefix}-{index // SHARD_RECORDS:06d}.jsonl")
                f = open(shards[-1], "w", encoding="utf-8")
            labels = {k: list(v) if isinstance(v, tuple) else v for k, v in r.labels.items()}
            row = {"index": index, "path": to_wire(r.path), "key": r.key, "labels": labels, "segment": r.segment}
            f.write(json.dumps(row) + "\n")
    finally:
        if f is not None:
            f.close()
    return shards


def _shard_rows(path: str):
    with open(path, encoding="utf-8") as f:
        yield from (json.loads(line) for line in f if line.strip())


def _beam_split_class():
    import apache_beam as beam

    class BeamSplit(beam.PTransform):
        """One split on Beam: records -> reshuffle -> decode in the workers -> (key, example); bad files and
        sample counts go to side files, not to the dataset."""

        def __init__(self, records: Iterable[Record], split: str, cfg: AudioFolderConfig):
            super().__init__()
            self.records, self.split, self.cfg = records, split, cfg

        def expand(self, pipeline):
            side = Path(self.cfg.beam_side)
            shards = _write_records(self.records, side / f"{self.split}-records")
            return (
                pipeline
                | "ListShards" >> beam.Create(shards)
                | "ListFiles" >> beam.FlatMap(_shard_rows)
                | "Spread" >> beam.Reshuffle()
                | "Decode" >> beam.ParDo(_DecodeDoFn(self.cfg.decode, self.cfg.columns, str(side / self.split)))
            )

    class _DecodeDoFn(beam.DoFn):
        """Decodes a record into its example. Bad files and sample counts are not examples: each bundle
        writes them to a side file of its own (named by its records, written whole by a rename), which
        `collect_beam_side` reads by record index, so a retried bundle or a rerun task counts once."""

        def __init__(self, options: DecodeOptions, columns: list[str], prefix: str):
            self.options, self.columns, self.prefix = options, columns, prefix

        def start_bundle(self):
            self.side = {"bad": {}, "samples": {}}

        def process(self, row):
            path = from_wire(row["path"])
            pcm, reason = _decode_pcm16((path, self.options, row.get("segment")))
            if pcm is None:
                self.side["bad"][row["index"]] = {"path": printable(path), "reason": reason}
                return
            self.side["samples"][row["index"]] = int(pcm.shape[0])
            yield example_key(row["key"], row.get("segment")), _example(row["key"], row["labels"], pcm, self.columns)

        def finish_bundle(self):
            indices = sorted([*self.side["bad"], *self.side["samples"]])
            if indices:
                digest = hashlib.sha1(",".join(map(str, indices)).encode()).hexdigest()[:20]
                path = Path(f"{self.prefix}-side-{digest}.json")
                tmp = path.with_name(f".{path.name}.{os.getpid()}")
                tmp.write_text(json.dumps(self.side))
                os.replace(tmp, path)

    return BeamSplit


def _BeamSplit(records: Iterable[Record], split: str, cfg: AudioFolderConfig):  # noqa: N802  (a class, built lazily)
    return _beam_split_class()(records, split, cfg)
