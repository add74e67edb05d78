"""`ssl-audio embed --runner …`: the embed job as an Apache Beam pipeline, with the in-process job's outputs.

    listing shards -> join with what OUT holds -> decode, cut and embed (windows batched across a bundle's
    files, the encoder loaded once per worker process) -> rows -> Parquet (or one NPZ per file)

The same pipeline runs on every runner: it uses only Create, ParDo, GroupByKey, Flatten and side inputs,
which the DaskRunner translates too (`ssl_audio.beam.dask`).

The driver opens or resumes OUT with the in-process job's checks (the same manifest, errors.tsv and
notes.tsv) and streams the listing to a file; which files are left to do is a join in the pipeline, so the
driver holds neither the listing nor the set of done files. The pipeline writes its tables to a staging
folder inside OUT; only when it has succeeded does the driver move them in as new parts (the window table
first, the scene table last, as the in-process store does) and append the bad files to OUT/errors.tsv. So:

- a failed or killed run leaves nothing that counts as done; the rerun starts the staging over;
- a retried bundle (or, on Dask, the tasks of a lost worker rerun elsewhere) cannot put a file in twice:
  a file's row is made whole inside one bundle, and Beam's file sinks keep only the successful attempt's
  files;
- a rerun after new files were added embeds only those and appends them as new parts.

Rows come in the runner's order, not the input's; readers that need an order sort by `path`. The workers
must read the inputs and the checkpoint at the paths the driver sees (one filesystem, or a mount on every
worker), and the staging folder is on OUT's filesystem so that moving the parts in is a rename.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import itertools
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from ssl_audio.audio.decode import DecodeError, DecodeOptions, file_stamp
from ssl_audio.audio.paths import from_wire, to_wire
from ssl_audio.audio.scan import no_audio_error
from ssl_audio.audio.stream import AudioStream
from ssl_audio.beam.runner import check_engine, engine, import_beam
from ssl_audio.embed.export import decode_one
from ssl_audio.embed.inputs import iter_inputs
from ssl_audio.embed.model import EmbeddingModel, Embeddings, load_model
from ssl_audio.embed.output import (
    ERRORS,
    NOTES,
    SHOWN_NOTES,
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
    write_parquet,
)

STAGING_PREFIX = ".beam-staging-"
COMMITTING = ".beam-committing"  # present while parts are being moved in; a rerun then repairs
ROWS_PER_WRITE = 256  # files per Parquet part a worker writes (and the most whose embeddings it holds)
# Files per listing shard: the unit of work a Create hands out. On Dask a shard is one partition, which a
# worker runs as one bundle; on Dataflow the list of shards is part of the job graph, capped at a few MB.
SHARD_FILES = 64


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
        and no clip facts, so `EmbedFiles` drops the windows it sent."""
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


_MODELS: dict = {}  # per worker process: the encoder is loaded (and compiled) once, not per bundle


def worker_model(checkpoint: str, settings: dict, batch_size: int) -> EmbeddingModel:
    key = (checkpoint, json.dumps(settings, sort_keys=True), batch_size)
    if key not in _MODELS:
        _MODELS[key] = load_model(
            checkpoint,
            window_seconds=settings["window_seconds"],
            hop_seconds=settings["hop_seconds"],
            pooling=settings["pooling"],
            batch_size=batch_size,
            layer=settings.get("layer"),
        )
    return _MODELS[key]


class EmbedFiles:
    """Per bundle of files: decode and cut each (`decoder`), embed the windows in batches of `batch_size`
    gathered across the bundle's files, and hand out each file's (key, Embeddings, stamp) once its last
    window is embedded. A worker holds one batch of windows and the embeddings of at most ROWS_PER_WRITE
    files, not a file's audio (long files stream) nor a bundle's windows. Every ROWS_PER_WRITE files, and at
    the end of the bundle, the rows are written under STAGING (`_Bundle._write`) and the part's name goes
    out. Built as a Beam DoFn by `dofn()`, so this module imports without Beam."""

    def __init__(self, decoder: DecodeAndCut, checkpoint: str, job: Job, staging: Path, batch_size: int):
        self.decoder, self.checkpoint, self.settings = decoder, checkpoint, job.settings
        self.batch_size, self.pooling = batch_size, job.model.pooling
        self.out, self.fmt, self.tables, self.dim = job.out, job.fmt, job.tables, job.model.embedding_size
        self.staging = staging

    def bundle(self) -> _Bundle:
        """A bundle's state: its own object, as a runner may run bundles of one DoFn in several threads."""
        self.decoder.start_bundle()
        return _Bundle(self)


class _Bundle:
    def __init__(self, job: EmbedFiles):
        self.job = job
        self.files: dict[str, dict] = {}  # key -> {'vectors': {index: vector}, 'clip': facts once known}
        self.batch: list[tuple[str, int, np.ndarray]] = []
        self.records: list[tuple] = []  # finished files, written out every ROWS_PER_WRITE
        self.log: dict[str, dict] = {"errors": {}, "notes": {}}

    def process(self, item):
        key = item["key"]
        self.files[key] = {"vectors": {}, "clip": None}
        for tag, value in self.job.decoder.windows(key, item["path"], item.get("stamp", UNKNOWN_STAMP)):
            if tag is None:
                (_, index), window = value
                self.batch.append((key, index, window))
                if len(self.batch) >= self.job.batch_size:
                    self._flush()
            elif tag == "clips":
                self.files[key]["clip"] = value[1]
            else:
                if tag == "errors":  # a file bad part-way: the windows it sent are dropped with it
                    self.files.pop(key, None)
                    self.batch = [b for b in self.batch if b[0] != key]
                self.log[tag][value[0]] = value[1]
        self._finished()
        if len(self.records) + len(self.log["errors"]) >= ROWS_PER_WRITE:
            yield self._write()

    def _flush(self) -> None:
        if self.batch:
            job = self.job
            model = worker_model(job.checkpoint, job.settings, job.batch_size)
            vectors = model.embed_windows(np.stack([w for _, _, w in self.batch]))
            for (key, index, _), vector in zip(self.batch, vectors):
                self.files[key]["vectors"][index] = vector
            self.batch = []
        self._finished()

    def _finished(self) -> None:
        for key in [k for k, f in self.files.items() if f["clip"] is not None and len(f["vectors"]) == f["clip"]["n"]]:
            facts = self.files[key]["clip"]
            vectors = self.files.pop(key)["vectors"]
            windows = np.stack([vectors[i] for i in range(facts["n"])]).astype(np.float32)
            e = Embeddings.of_windows(windows, facts["starts"], facts["ends"], facts["duration"], self.job.pooling)
            self.records.append((key, e, facts.get("stamp", UNKNOWN_STAMP)))

    def _write(self) -> str:
        """The finished files' rows as one part per table, and what became of each file, under a name made
        from the files' keys: a retried bundle, or a task dask reruns after losing a worker, writes the same
        names again (each by a rename, so whole), and the driver reads only the parts the run reports."""
        job, records = self.job, self.records
        keys = sorted([r[0] for r in records] + list(self.log["errors"]))
        name = hashlib.sha1("\n".join(keys).encode("utf-8", "surrogatepass")).hexdigest()[:20]
        if records and job.fmt == "parquet":
            for table in job.tables:
                _write_parquet(job.staging / table / f"part-{name}.parquet", table, job.dim, records)
        elif records:
            NpzStore(job.out, job.dim, job.tables).append(records)  # each file's NPZ renamed into place
        summary = {
            "parts": bool(records and job.fmt == "parquet"),
            "done": {r[0]: r[1].duration for r in records},
            **self.log,
        }
        _write_atomic(job.staging / "bundles" / f"{name}.json", json.dumps(summary).encode())
        self.records, self.log = [], {"errors": {}, "notes": {}}
        return name

    def finish(self):
        self._flush()
        if self.files:  # every file ends with clip facts or an error: a window missing is a bug
            raise RuntimeError(f"{', '.join(sorted(self.files))}: windows missing at the end of the bundle")
        if self.records or self.log["errors"] or self.log["notes"]:
            yield self._write()
        self.job.decoder.finish_bundle()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_parquet(path: Path, table: str, dim: int, records: list[tuple]) -> None:
    import pyarrow as pa

    write_parquet(path, pa.Table.from_batches([record_batch(table, dim, records)], schema=table_schema(table, dim)))


def dofn(work: EmbedFiles):
    beam = import_beam()
    from apache_beam.transforms.window import GlobalWindows

    class _Embed(beam.DoFn):
        def start_bundle(self):
            self.bundle = work.bundle()

        def process(self, item):
            for name in self.bundle.process(item):
                yield "bundle", name

        def finish_bundle(self):
            for name in self.bundle.finish():
                yield GlobalWindows.windowed_value(("bundle", name))

    return _Embed()


# ---------------------------------------------------------------------------------------------- the job


@dataclasses.dataclass
class Job:
    """What the pipeline needs to know of the run; the file list itself is on disk (STAGING/inputs-*.jsonl)."""

    model: EmbeddingModel
    out: Path
    fmt: str
    tables: tuple[str, ...]
    settings: dict
    failed_before: list[str]  # keys in OUT/errors.tsv (bad files: few), skipped unless --retry-errors


class Triage:
    """(key, {'listed': [(path, stamp)], 'done': [stamp], 'failed': [...]}) -> the file to do (main
    output), or what is skipped: counted per bundle ('count', tag, n) and, for the few files that changed
    or vanished, named ('key', tag, key). Listed twice (a list file with a duplicate) is one file. A done
    file whose stamp changed is done again and reported as 'changed'; one no longer listed as 'vanished'.
    Built as a Beam DoFn by `triage_dofn()`."""

    def __init__(self, npz: NpzStore | None):
        self.npz = npz

    def sort(self, item) -> tuple[str, object]:
        key, found = item
        done = list(found.get("done", ()))
        if self.npz is not None and self.npz.open([key]):
            done.append(self.npz.stamp(key))
        if not found["listed"]:
            return ("vanished", key) if done else ("none", None)  # done before, no longer listed: rows kept
        path, stamp = found["listed"][0]
        todo = {"key": key, "path": path, "stamp": tuple(stamp)}
        if done and find_changed({key: done[0]}, {key: tuple(stamp)}):
            return "changed", todo
        if done:
            return "done_before", None
        if found.get("failed"):
            return "failed_before", None
        return "todo", todo


def triage_dofn(triage: Triage):
    beam = import_beam()
    from apache_beam.transforms.window import GlobalWindows

    class _Triage(beam.DoFn):
        def start_bundle(self):
            self.counts = collections.Counter()

        def process(self, item):
            tag, value = triage.sort(item)
            self.counts[tag] += 1
            if tag == "vanished":
                yield beam.pvalue.TaggedOutput("report", ("key", tag, value))
            elif tag == "changed":
                yield beam.pvalue.TaggedOutput("report", ("key", tag, value["key"]))
            if tag in ("todo", "changed"):
                yield value

        def finish_bundle(self):
            for tag, n in self.counts.items():
                yield beam.pvalue.TaggedOutput("report", GlobalWindows.windowed_value(("count", tag, n)))

    return _Triage()


def _write_result(item, staging: Path) -> str:
    """The run's one result, STAGING/result.json: the bundles written, the counts, the changed and vanished
    files. Written last, from every branch's output: a run without it did not finish."""
    _, reports = item
    result = {"bundles": [], "counts": collections.Counter(), "changed": [], "vanished": []}
    for report in reports:
        if report[0] == "bundle":
            result["bundles"].append(report[1])
        elif report[0] == "count":
            result["counts"][report[1]] += report[2]
        else:
            result[report[1]].append(report[2])
    _write_atomic(staging / "result.json", json.dumps(result).encode())
    return "result.json"


def _next_shard(previous, staging: Path, index: int):
    if previous is not None:
        previous.close()
    return open(staging / f"inputs-{index:06d}.jsonl", "w", encoding="utf-8")


def _shard_lines(path: str):
    with open(path, encoding="utf-8") as f:
        yield from (line for line in f if line.strip())


def _done_keys(part: str):
    """(key, stamp) of each row of one done Parquet part: its path and stamp columns only."""
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(part).iter_batches(columns=["path", *STAMP_COLUMNS]):  # a row group at a time
        rows = batch.to_pydict()
        for i, key in enumerate(rows["path"]):
            yield key, tuple(rows[c][i] for c in STAMP_COLUMNS)


def _listed(line: str):
    """A line of a listing shard (STAGING/inputs-*.jsonl) -> (key, (path, stamp))."""
    key, path, *stamp = json.loads(line)
    return key, (path, tuple(stamp) if stamp else UNKNOWN_STAMP)


def build_pipeline(p, job: Job, staging: Path, checkpoint: str, batch_size: int, options: DecodeOptions, decoder=None):
    """The embed pipeline on `p`: the listing (STAGING/inputs-*.jsonl) joined with what OUT already holds,
    then decode, embed and write under STAGING: tables, bad files, notes, a done list and counts.
    `decoder` replaces DecodeAndCut (tests inject faults)."""
    beam = import_beam()

    model = job.model
    dim = model.embedding_size
    decoder = decoder or DecodeAndCut(options, model.window_samples, model.hop_samples, model.sample_rate)
    # Which listed files are left to do is worked out by a join in the workers, not in the driver: the
    # driver never holds the listing or the set of done files (both grow with the catalogue). Both are read
    # by a FlatMap over their files, not by a Beam source: the DaskRunner runs no `beam.io.Read`.
    shards = sorted(str(f) for f in staging.glob("inputs-*.jsonl"))
    sources = {
        "listed": p
        | "ListShards" >> beam.Create(shards)
        | "ListFiles" >> beam.FlatMap(_shard_lines)
        | "Parse" >> beam.Map(_listed)
    }
    primary = job.out / job.tables[0]
    parts = sorted(str(f) for f in primary.glob("part-*.parquet")) if job.fmt == "parquet" else []
    if parts:
        sources["done"] = p | "DoneParts" >> beam.Create(parts) | "ReadDone" >> beam.FlatMap(_done_keys)
    if job.failed_before:
        sources["failed"] = p | "FailedBefore" >> beam.Create([(k, True) for k in job.failed_before])
    npz = NpzStore(job.out, dim, job.tables) if job.fmt == "npz" else None  # a file there is a file done
    sorted_ = (
        sources
        | "JoinWithOutput" >> beam.CoGroupByKey()
        | "Triage" >> beam.ParDo(triage_dofn(Triage(npz))).with_outputs("report", main="todo")
    )
    work = EmbedFiles(decoder, checkpoint, job, staging, batch_size)
    written = sorted_.todo | "Spread" >> beam.Reshuffle() | "DecodeEmbedWrite" >> beam.ParDo(dofn(work))
    # One last step that every branch feeds: a runner that computes only the ends of a graph (Dask) runs
    # all of it, and the result is written only once everything before it has been.
    (
        (written, sorted_.report)
        | "Reports" >> beam.Flatten()
        | "OneKey" >> beam.Map(lambda report: (None, report))
        | "Gather" >> beam.GroupByKey()
        | "WriteResult" >> beam.Map(_write_result, staging)
    )


def _read_result(staging: Path) -> dict:
    """What the run did, from STAGING/result.json and the bundle summaries it names (each once)."""
    result = json.loads((staging / "result.json").read_text())
    done, errors, notes, parts = {}, {}, {}, []
    for name in sorted(set(result["bundles"])):
        summary = json.loads((staging / "bundles" / f"{name}.json").read_text())
        done.update(summary["done"])
        errors.update(summary["errors"])
        notes.update(summary["notes"])
        if summary["parts"]:
            parts.append(name)
    counts = collections.Counter(result["counts"])
    return {"done": done, "errors": errors, "notes": notes, "parts": parts, "counts": counts,
            "changed": set(result["changed"]), "vanished": set(result["vanished"])}  # fmt: skip


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
    dask_address: str | None = None,
    dask_workers: int | None = None,
) -> ExportResult:
    """`export` on a Beam runner: the same OUT (tables, errors.tsv, notes.tsv, manifest.json), resumable
    and appendable in the same way, from either engine. `checkpoint`: what each worker loads. The driver's
    memory does not grow with the number of files: the listing is streamed to disk, and what is left to do
    is worked out in the pipeline."""
    beam = import_beam()
    check_engine(runner, beam_options, dask_address, dask_workers)  # before OUT is touched
    out = Path(out).expanduser()
    listing = iter_inputs(inputs)  # checks --input before OUT is touched
    first = next(listing, None)
    if first is None:  # the same answer as the in-process job's to a folder or list with nothing in it
        raise no_audio_error(inputs, "--input ")
    listing = itertools.chain([first], listing)
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
    shard = None
    for key, path in listing:  # to_wire: Beam's coders refuse undecodable file names (surrogates)
        if listed % SHARD_FILES == 0:
            shard = _next_shard(shard, staging, listed // SHARD_FILES)
        shard.write(json.dumps([key, to_wire(path), *file_stamp(path)]) + "\n")
        listed += 1
    if shard is not None:
        shard.close()
    write_manifest(out, model, settings, inputs=str(inputs), counts={"listed": listed}, complete=False)
    try:
        with engine(runner, beam_options, dask_address, dask_workers) as options, beam.Pipeline(options=options) as p:
            build_pipeline(p, job, staging, str(Path(checkpoint).expanduser().resolve()), model.batch_size,
                           decode or model.decode_options, decoder)  # fmt: skip
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # nothing in it counts as done; the rerun starts over
        raise

    run = _read_result(staging)
    done, changed = run["done"], run["changed"]
    if fmt == "parquet":
        (out / COMMITTING).touch()
        store.remove(changed)  # the old rows of changed files, before their new parts come in
        for table in store.write_order:  # the primary table last: a file is done once its row is in
            store.adopt(table, [staging / table / f"part-{name}.parquet" for name in run["parts"]])
        (out / COMMITTING).unlink()
    if fmt == "npz":
        store.remove(changed - done.keys())  # changed, and now bad: its old NPZ is stale (new ones overwrote)
    failed_now = {k: v for k, v in run["errors"].items() if k not in done}
    for key, reason in failed_now.items():
        errors.add(key, str(reason))
    for key, note in run["notes"].items():
        notes.add(key, str(note))
    done_before, failed_before = run["counts"]["done_before"], run["counts"]["failed_before"]
    inputs_total = done_before + failed_before + run["counts"]["todo"] + run["counts"]["changed"]
    vanished = write_vanished(out, run["vanished"])
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
        notes=notes.since(noted_before)[:SHOWN_NOTES],
        changed=len(changed),
        vanished=vanished,
    )
