"""`ssl-audio embed --runner …`: the embed job as an Apache Beam pipeline, with the in-process job's outputs.

    file list -> join with what OUT holds -> decode and cut windows -> RunInference (batches of windows,
    a JAX model handler) -> windows regrouped by file -> rows -> Parquet (or one NPZ per file)

The driver opens or resumes OUT with the in-process job's checks (the same manifest, errors.tsv and
notes.tsv) and streams the listing to a file; which files are left to do is a join in the pipeline, so the
driver holds neither the listing nor the set of done files. The pipeline writes its tables to a staging
folder inside OUT; only when it has succeeded does the driver move them in as new parts (the window table
first, the scene table last, as the in-process store does) and append the bad files to OUT/errors.tsv. So:

- a failed or killed run leaves nothing that counts as done; the rerun starts the staging over;
- a retried bundle cannot put a file in twice: Beam's file sinks keep only the successful attempt's
  files, and windows are regrouped by file with duplicates dropped, so each file becomes exactly one row;
- a rerun after new files were added embeds only those and appends them as new parts.

Rows come in the runner's order, not the input's; readers that need an order sort by `path`. The workers
must read the inputs and the checkpoint at the paths the driver sees (one filesystem, or a mount on every
worker), and the staging folder is on OUT's filesystem so that moving the parts in is a rename.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from ssl_audio.audio.decode import DecodeError, DecodeOptions, file_stamp
from ssl_audio.audio.paths import from_wire, to_wire
from ssl_audio.audio.stream import AudioStream
from ssl_audio.beam.runner import import_beam, pipeline_options
from ssl_audio.embed.export import decode_one
from ssl_audio.embed.inputs import iter_inputs
from ssl_audio.embed.model import EmbeddingModel, Embeddings, load_model
from ssl_audio.embed.output import (
    ERRORS,
    NOTES,
    ErrorsLog,
    ExportResult,
    find_changed,
    output_settings,
    output_tables,
    prepare_output,
    write_manifest,
    write_vanished,
)
from ssl_audio.embed.store import (
    JOURNAL_DIR,
    STAMP_COLUMNS,
    UNKNOWN_STAMP,
    NpzStore,
    open_store,
    record_batch,
    table_schema,
)

STAGING_PREFIX = ".beam-staging-"
COMMITTING = ".beam-committing"  # present while parts are being moved in; a rerun then repairs
ROWS_PER_WRITE = 256  # files per Arrow table handed to the Parquet sink (one row group each)


# ----------------------------------------------------------------------------------------- the workers


class DecodeAndCut:
    """Per input file: decode it (the one definition of a bad file, `ssl_audio.audio.decode`) and cut the
    model's windows. Outputs: main ((key, window index), window), 'clips' (key, clip facts), 'errors' and
    'notes' (key, reason). Built as a Beam DoFn by `dofn()`, so this module imports without Beam."""

    def __init__(self, options: DecodeOptions, window_samples: int, hop_samples: int, sample_rate: int):
        self.options = options
        self.window_samples, self.hop_samples, self.sample_rate = window_samples, hop_samples, sample_rate

    def windows(self, key: str, path: str, stamp=UNKNOWN_STAMP):
        from ssl_audio.audio.windows import timed_windows

        audio, error, note = decode_one(self.options, Path(from_wire(path)))
        if audio is None:
            yield "errors", (key, error)
            return
        if note:
            yield "notes", (key, note)
        if isinstance(audio, AudioStream):  # a long file: windows go out as its blocks are decoded
            yield from self._streamed(key, audio, stamp)
            return
        windows, starts, ends = timed_windows(audio, self.window_samples, self.hop_samples, self.sample_rate)
        clip = {
            "n": len(starts),
            "starts": starts,
            "ends": ends,
            "duration": audio.shape[0] / self.sample_rate,
            "stamp": tuple(stamp),
        }
        yield "clips", (key, clip)
        for i, window in enumerate(windows):
            yield None, ((key, i), np.array(window))  # a copy: the view would keep the whole clip alive

    def _streamed(self, key: str, stream: AudioStream, stamp):
        """A long file's windows, then its clip facts (known at the end). A file bad part-way yields an error
        and no clip facts, so `assemble` drops the windows it sent."""
        from ssl_audio.audio.windows import StreamWindows

        cut = StreamWindows(stream.blocks(), self.window_samples, self.hop_samples)
        starts = []
        try:
            for i, (start, window) in enumerate(cut):
                starts.append(start)
                yield None, ((key, i), window)
        except DecodeError as err:
            yield "errors", (key, err.detail)
            return
        if stream.note:
            yield "notes", (key, stream.note)
        starts = np.asarray(starts, np.int64)
        ends = np.minimum(starts + self.window_samples, cut.samples)
        clip = {
            "n": len(starts),
            "starts": starts / self.sample_rate,
            "ends": ends / self.sample_rate,
            "duration": cut.samples / self.sample_rate,
            "stamp": tuple(stamp),
        }
        yield "clips", (key, clip)

    def start_bundle(self) -> None:
        """Bundle boundaries, for decoders that keep per-bundle state (the retry test's fault injector)."""

    def finish_bundle(self) -> None:
        pass


def dofn(decoder: DecodeAndCut):
    beam = import_beam()

    class _Decode(beam.DoFn):
        def start_bundle(self):
            decoder.start_bundle()

        def process(self, item):
            for tag, value in decoder.windows(item["key"], item["path"], item.get("stamp", UNKNOWN_STAMP)):
                yield value if tag is None else beam.pvalue.TaggedOutput(tag, value)

        def finish_bundle(self):
            decoder.finish_bundle()

    return _Decode()


def model_handler(checkpoint: str, settings: dict, batch_size: int):
    """A RunInference ModelHandler: the encoder loaded once per worker process (RunInference shares it),
    each batch of windows embedded over the worker's local devices by `EmbeddingModel`."""
    import_beam()
    from apache_beam.ml.inference.base import ModelHandler

    class EncoderHandler(ModelHandler):
        def load_model(self):
            return load_model(
                checkpoint,
                window_seconds=settings["window_seconds"],
                hop_seconds=settings["hop_seconds"],
                pooling=settings["pooling"],
                batch_size=batch_size,
            )

        def run_inference(self, batch, model: EmbeddingModel, inference_args=None):
            return list(model.embed_windows(np.stack(batch)))

        def get_num_bytes(self, batch) -> int:
            return sum(w.nbytes for w in batch)  # the default pickles the batch to measure it

        def batch_elements_kwargs(self):
            return {"min_batch_size": batch_size, "max_batch_size": batch_size}

        def get_metrics_namespace(self) -> str:
            return "ssl_audio_embed"

    return EncoderHandler()


def assemble(item, pooling: str):
    """(key, {'clips': [...], 'windows': [(index, vector), ...]}) -> (key, Embeddings, stamp); a window seen
    twice (a retried bundle) counts once."""
    key, grouped = item
    if not grouped["clips"]:
        return []  # no clip facts: the file failed to decode, and has no windows either
    clip = grouped["clips"][0]
    vectors = dict(grouped["windows"])
    if len(vectors) != clip["n"]:
        raise RuntimeError(f"{key}: {len(vectors)} of {clip['n']} window embeddings arrived")
    windows = np.stack([vectors[i] for i in range(clip["n"])]).astype(np.float32)
    e = Embeddings.of_windows(windows, clip["starts"], clip["ends"], clip["duration"], pooling)
    return [(key, e, clip.get("stamp", UNKNOWN_STAMP))]


def _arrow_table(records, table: str, dim: int):
    import pyarrow as pa

    return pa.Table.from_batches([record_batch(table, dim, list(records))], schema=table_schema(table, dim))


class _WriteNpz:
    """Each file's NPZ written by the worker, to a temporary name then renamed: a retried bundle rewrites
    the same complete file."""

    def __init__(self, out: Path, dim: int, tables: tuple[str, ...]):
        self.store = NpzStore(out, dim, tables)

    def __call__(self, record):
        self.store.append([record])
        return record


# ---------------------------------------------------------------------------------------------- the job


@dataclasses.dataclass
class Job:
    """What the pipeline needs to know of the run; the file list itself is on disk (STAGING/inputs.jsonl)."""

    model: EmbeddingModel
    out: Path
    fmt: str
    tables: tuple[str, ...]
    settings: dict
    failed_before: list[str]  # keys in OUT/errors.tsv (bad files: few), skipped unless --retry-errors


def _triage(item, npz: NpzStore | None):
    """(key, {'listed': [(path, stamp)], 'done': [stamp], 'failed': [...]}) -> the file to do, or a count of
    what is skipped. Listed twice (a list file with a duplicate) is one file. A done file whose stamp changed
    is done again and reported as 'changed'; one no longer listed is reported as 'vanished'."""
    from apache_beam.pvalue import TaggedOutput  # per element: import_beam's logging guard is for start-up

    key, found = item
    done = list(found.get("done", ()))
    if npz is not None and npz.open([key]):
        done.append(npz.stamp(key))
    if not found["listed"]:
        if done:
            yield TaggedOutput("vanished", key)  # done before, no longer listed: rows kept
        return
    path, stamp = found["listed"][0]
    if done and find_changed({key: done[0]}, {key: tuple(stamp)}):
        yield TaggedOutput("changed", key)
    elif done:
        yield TaggedOutput("done_before", key)
        return
    elif found.get("failed"):
        yield TaggedOutput("failed_before", key)
        return
    yield {"key": key, "path": path, "stamp": tuple(stamp)}


def _listed(line: str):
    """A line of STAGING/inputs.jsonl -> (key, (path, stamp))."""
    key, path, *stamp = json.loads(line)
    return key, (path, tuple(stamp) if stamp else UNKNOWN_STAMP)


def build_pipeline(p, job: Job, staging: Path, checkpoint: str, batch_size: int, options: DecodeOptions, decoder=None):
    """The embed pipeline on `p`: the listing (STAGING/inputs.jsonl) joined with what OUT already holds,
    then decode, embed and write under STAGING: tables, bad files, notes, a done list and counts.
    `decoder` replaces DecodeAndCut (tests inject faults)."""
    beam = import_beam()
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

    model = job.model
    dim = model.embedding_size
    decoder = decoder or DecodeAndCut(options, model.window_samples, model.hop_samples, model.sample_rate)
    # Which listed files are left to do is worked out by a join in the workers, not in the driver: the
    # driver never holds the listing or the set of done files (both grow with the catalogue).
    sources = {
        "listed": p | "ListFiles" >> beam.io.ReadFromText(str(staging / "inputs.jsonl")) | "Parse" >> beam.Map(_listed)
    }
    primary = job.out / job.tables[0]
    if job.fmt == "parquet" and any(primary.glob("part-*.parquet")):
        sources["done"] = (
            p
            | "ReadDone" >> beam.io.ReadFromParquet(str(primary / "part-*.parquet"), columns=["path", *STAMP_COLUMNS])
            | "DoneKeys" >> beam.Map(lambda row: (row["path"], tuple(row[c] for c in STAMP_COLUMNS)))
        )
    if job.failed_before:
        sources["failed"] = p | "FailedBefore" >> beam.Create([(k, True) for k in job.failed_before])
    npz = NpzStore(job.out, dim, job.tables) if job.fmt == "npz" else None  # a file there is a file done
    todo = (
        sources
        | "JoinWithOutput" >> beam.CoGroupByKey()
        | "Triage"
        >> beam.FlatMap(_triage, npz).with_outputs("done_before", "failed_before", "changed", "vanished", main="todo")
    )
    cut = todo.todo | "DecodeAndCut" >> beam.ParDo(dofn(decoder)).with_outputs(
        "clips", "errors", "notes", main="windows"
    )
    handler = KeyedModelHandler(model_handler(checkpoint, job.settings, batch_size))
    embedded = (
        cut.windows
        | "Embed" >> RunInference(handler)
        | "ByFile" >> beam.Map(lambda kv: (kv[0][0], (kv[0][1], np.asarray(kv[1], np.float32))))
    )
    records = (
        {"clips": cut.clips, "windows": embedded}
        | "Regroup" >> beam.CoGroupByKey()
        | "Assemble" >> beam.FlatMap(assemble, model.pooling)
    )
    if job.fmt == "npz":
        records = records | "WriteNpz" >> beam.Map(_WriteNpz(job.out, dim, job.tables))
    else:
        from apache_beam.io.parquetio import WriteToParquetBatched

        batches = records | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=ROWS_PER_WRITE)
        for table in job.tables:
            (
                batches
                | f"{table}Rows" >> beam.Map(_arrow_table, table, dim)
                | f"Write{table}"
                >> WriteToParquetBatched(
                    str(staging / table / "part"),
                    schema=table_schema(table, dim),
                    codec="snappy",
                    file_name_suffix=".parquet",
                )
            )
    done = records | "DoneList" >> beam.Map(lambda r: json.dumps({"key": r[0], "seconds": r[1].duration}))
    done | "WriteDone" >> beam.io.WriteToText(str(staging / "done"), file_name_suffix=".jsonl")
    for tag in ("errors", "notes"):
        (
            getattr(cut, tag)
            | f"{tag}Lines" >> beam.Map(lambda kv: json.dumps({"key": kv[0], "reason": kv[1]}))
            | f"Write{tag}" >> beam.io.WriteToText(str(staging / tag), file_name_suffix=".jsonl")
        )
    for tag in ("changed", "vanished"):
        (
            getattr(todo, tag)
            | f"{tag}Lines" >> beam.Map(lambda key: json.dumps({"key": key, "reason": True}))
            | f"Write{tag}" >> beam.io.WriteToText(str(staging / tag), file_name_suffix=".jsonl")
        )
    for name in ("todo", "done_before", "failed_before"):
        (
            getattr(todo, name)
            | f"Count{name}" >> beam.combiners.Count.Globally()
            | f"{name}Text" >> beam.Map(str)
            | f"Write{name}" >> beam.io.WriteToText(str(staging / f"count-{name}"), file_name_suffix=".txt")
        )


def _lines(staging: Path, name: str) -> dict[str, object]:
    """key -> value of the JSON lines the pipeline wrote under STAGING/NAME-*.jsonl, each key once."""
    out = {}
    for file in sorted(staging.glob(f"{name}-*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            out.setdefault(row["key"], row.get("reason", row.get("seconds")))
    return out


def _count(staging: Path, name: str) -> int:
    return sum(int(x) for f in staging.glob(f"count-{name}-*.txt") for x in f.read_text().split())


def _rows(file: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(file).metadata.num_rows  # a sink with nothing to write still writes a shard


def _clean_staging(out: Path) -> None:
    """What a failed or killed Beam run left: never counted as done, so it simply goes."""
    for old in out.glob(STAGING_PREFIX + "*"):
        shutil.rmtree(old, ignore_errors=True)


def export_beam(
    model: EmbeddingModel,
    inputs: str | os.PathLike,
    out: str | os.PathLike,
    *,
    checkpoint: str,
    runner: str = "direct",
    beam_options: dict[str, str] | list[str] | None = None,
    fmt: str = "parquet",
    windows: bool = False,
    overwrite: bool = False,
    retry_errors: bool = False,
    decode: DecodeOptions | None = None,
    decoder=None,
) -> ExportResult:
    """`export` on a Beam runner: the same OUT (tables, errors.tsv, notes.tsv, manifest.json), resumable
    and appendable in the same way, from either engine. `checkpoint`: what each worker loads. The driver's
    memory does not grow with the number of files: the listing is streamed to disk, and what is left to do
    is worked out in the pipeline."""
    beam = import_beam()
    options = pipeline_options(runner, beam_options)  # checks the options before OUT is touched
    out = Path(out).expanduser()
    listing = iter_inputs(inputs)  # checks --input before OUT is touched
    windows, tables = output_tables(model, windows)
    store = open_store(fmt, out, model.embedding_size, tables)
    settings = output_settings(model, fmt, windows)
    prepare_output(out, settings, overwrite, inputs)
    if fmt == "parquet":
        store.upgrade()  # parts from before stamps were recorded: one schema for ReadDone
    if fmt == "parquet" and (out / JOURNAL_DIR).exists():
        store.open()  # an in-process run was killed: its journal becomes a part first
        store.close()
    if fmt == "parquet" and (out / COMMITTING).exists():
        store.drop_orphans()  # a Beam run killed while moving its parts in
        (out / COMMITTING).unlink()
    _clean_staging(out)
    errors = ErrorsLog(out / ERRORS, retry=retry_errors)
    notes = ErrorsLog(out / NOTES, retry=False)
    noted_before = len(notes.failed)
    job = Job(model, out, fmt, tables, settings, failed_before=sorted(errors.failed))

    start = time.perf_counter()
    staging = out / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    listed = 0
    with open(staging / "inputs.jsonl", "w", encoding="utf-8") as f:
        for key, path in listing:  # to_wire: Beam's coders refuse undecodable file names (surrogates)
            f.write(json.dumps([key, to_wire(path), *file_stamp(path)]) + "\n")
            listed += 1
    write_manifest(out, model, settings, inputs=str(inputs), counts={"listed": listed}, complete=False)
    with beam.Pipeline(options=options) as p:
        build_pipeline(p, job, staging, str(Path(checkpoint).expanduser().resolve()), model.batch_size,
                       decode or model.decode_options, decoder)  # fmt: skip

    done = _lines(staging, "done")
    changed = set(_lines(staging, "changed"))
    if fmt == "parquet":
        (out / COMMITTING).touch()
        store.remove(changed)  # the old rows of changed files, before their new parts come in
        for table in store.write_order:  # the primary table last: a file is done once its row is in
            store.adopt(table, [f for f in sorted((staging / table).glob("part-*.parquet")) if _rows(f)])
        (out / COMMITTING).unlink()
    if fmt == "npz":
        store.remove(changed - done.keys())  # changed, and now bad: its old NPZ is stale (new ones overwrote)
    failed_now = {k: v for k, v in _lines(staging, "errors").items() if k not in done}
    for key, reason in failed_now.items():
        errors.add(key, str(reason))
    for key, note in _lines(staging, "notes").items():
        notes.add(key, str(note))
    done_before, failed_before = _count(staging, "done_before"), _count(staging, "failed_before")
    inputs_total = done_before + failed_before + _count(staging, "todo")
    vanished = write_vanished(out, set(_lines(staging, "vanished")))
    shutil.rmtree(staging, ignore_errors=True)

    counts = {"inputs": inputs_total, "done": done_before + len(done), "failed": len(errors.failed)}
    complete = counts["done"] + failed_before + len(failed_now) == inputs_total
    write_manifest(out, model, settings, inputs=str(inputs), counts=counts, complete=complete)
    return ExportResult(
        out=out,
        inputs=inputs_total,
        done_before=done_before,
        failed_before=failed_before,
        embedded=len(done),
        failed=len(failed_now),
        failed_total=len(errors.failed),
        audio_seconds=float(sum(done.values())),
        seconds=time.perf_counter() - start,
        noted=len(notes.failed) - noted_before,
        changed=len(changed),
        vanished=vanished,
    )
