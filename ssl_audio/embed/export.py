"""`ssl-audio embed`: a folder (or a list) of audio files -> embedding files, resumable.

Files are decoded and resampled by a few threads ahead of the devices (libsndfile and soxr release the
GIL), cut into windows, and the windows of consecutive files are packed into fixed-size device batches.
After each batch the files it completed are appended to the store (`ssl_audio.embed.store`), so a kill
loses at most that batch. Rerunning the same command skips what is done (and files that failed before,
unless --retry-errors) and appends the rest; new files in the folder are picked up. A bad file is one line
in OUT/errors.tsv and never stops the job. OUT/manifest.json says what made the output.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import importlib.metadata
import itertools
import json
import os
import platform
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ssl_audio.audio.decode import DecodeError, DecodeOptions, decode_file, file_stamp, is_audio_file
from ssl_audio.audio.paths import as_written, printable
from ssl_audio.audio.scan import find_audio_files, iter_audio_files, write_bad_list
from ssl_audio.audio.stream import AudioStream, is_long, open_stream
from ssl_audio.audio.windows import StreamWindows, window_batches, window_starts
from ssl_audio.embed.model import EmbeddingModel, Embeddings
from ssl_audio.embed.store import OUTPUT_NAMES, UNKNOWN_STAMP, open_store
from ssl_audio.errors import BadValueError, MissingInputError, OutputExistsError
from ssl_audio.text import plural

MANIFEST = "manifest.json"
ERRORS = "errors.tsv"
NOTES = "notes.tsv"  # files embedded in spite of a check (too short), one line each
VANISHED = "vanished.tsv"  # files embedded by an earlier run that this run's --input no longer holds


class ManifestMismatchError(OutputExistsError):
    """OUT holds embeddings made with other settings; mixing them would corrupt the output."""


@dataclasses.dataclass
class ExportResult:
    out: Path
    inputs: int
    done_before: int
    failed_before: int
    embedded: int
    failed: int
    failed_total: int
    audio_seconds: float
    seconds: float
    noted: int = 0
    changed: int = 0  # done before, but the file changed since: its rows replaced
    vanished: int = 0  # done before, but no longer among the inputs: rows kept

    @property
    def x_realtime(self) -> float:
        return self.audio_seconds / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        before = (
            f", {self.failed_before} failed before (skipped; --retry-errors tries them again)"
            if self.failed_before
            else ""
        )
        out = [
            f"embed: {plural(self.embedded, 'file')} embedded, {self.done_before} already done, {self.failed} "
            f"failed this run{before}; {plural(self.inputs, 'input')}, {plural(self.failed_total, 'bad file')} "
            f"listed in {self.out / ERRORS}"
        ]
        if self.changed:
            out.append(
                f"  {plural(self.changed, 'file')} changed since they were embedded (size or modification time): "
                "embedded again, their old rows replaced"
            )
        if self.vanished:
            out.append(
                f"  {plural(self.vanished, 'file')} embedded earlier are no longer under --input; their rows "
                f"are kept and listed in {self.out / VANISHED}"
            )
        if self.noted:
            out.append(
                f"  {plural(self.noted, 'file')} shorter than --min-seconds embedded anyway, each listed with "
                f"its length in {self.out / NOTES}"
            )
        if self.embedded:
            out.append(
                f"  {self.audio_seconds / 3600:.2f} h of audio in {self.seconds:.1f} s = "
                f"{self.x_realtime:.0f}x real time, {self.embedded / self.seconds:.1f} files/s"
            )
        out.append(f"  output: {self.out} (manifest: {self.out / MANIFEST})")
        return out


# ------------------------------------------------------------------------------------------------ inputs


def list_inputs(spec: str | os.PathLike) -> list[tuple[str, Path]]:
    """(key, path) per input. A folder: every audio file under it, keyed by its path relative to the folder.
    An audio file: itself, keyed by its name. A text file: one path per line (blank lines and '#' comments
    skipped), relative ones taken from the list's folder, keyed as written. Duplicates are kept once."""
    spec = Path(spec).expanduser()
    if spec.is_dir():  # keys as printable text: a Latin-1 file name must not break the tables (paths.py)
        return [(printable(p.relative_to(spec).as_posix()), p) for p in find_audio_files(spec)]
    seen, out = set(), []
    for key, path in iter_inputs(spec):
        if key not in seen:
            seen.add(key)
            out.append((key, Path(path)))
    if not out:
        raise BadValueError(f"--input {printable(spec)}: the list names no files (one audio path per line)")
    return out


def iter_inputs(spec: str | os.PathLike) -> Iterator[tuple[str, Path | str]]:
    """`list_inputs` as a stream, for listings too long to hold: a folder walked one directory at a time, a
    list file read line by line. Duplicates are not removed here (that needs the whole list); the Beam job
    removes them when it joins the listing with what is done."""
    spec = Path(spec).expanduser()
    if spec.is_dir():  # keys as printable text: a Latin-1 file name must not break the tables (paths.py)
        root = os.fspath(spec)
        return ((printable(os.path.relpath(p, root).replace(os.sep, "/")), p) for p in iter_audio_files(root))
    if not spec.exists():
        raise MissingInputError(f"--input {printable(spec)}: no such folder or list file")
    if is_audio_file(spec):
        return iter([(printable(spec.name), spec)])
    with open(spec, "rb") as f:
        if b"\0" in f.read(1 << 16):  # a binary file is refused now, not read as a list of odd names
            raise BadValueError(
                f"--input {printable(spec)}: neither a folder, an audio file nor a text list of paths (one per line)"
            )
    return _list_lines(spec)


def _list_lines(spec: Path) -> Iterator[tuple[str, str]]:
    """(key, path) per line of a list file. A line may name a file by its raw bytes (a Latin-1 name as `find`
    writes it) or in the printable form reports show; the key is the printable form either way."""
    # surrogateescape: a Latin-1 line reads as the same string os.listdir gives for that file
    with open(spec, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            entry = line.strip()
            if entry and not entry.startswith("#"):
                name = as_written(entry, spec.parent)
                path = os.path.expanduser(name)
                yield printable(name), path if os.path.isabs(path) else os.path.join(spec.parent, path)


# ------------------------------------------------------------------------------------------------ output


class ErrorsLog:
    """OUT/errors.tsv (or notes.tsv), in `write_bad_list`'s format (prepare's bad_files.tsv):
    `path<TAB>reason` per file, appended as they happen."""

    def __init__(self, path: Path, retry: bool):
        self.path = path
        self.failed: dict[str, str] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines()[1:]:
                key, _, reason = line.partition("\t")
                self.failed[key] = reason
        if retry:
            self.failed = {}
        if retry or not path.exists():
            self._rewrite()

    def _rewrite(self) -> None:
        write_bad_list([{"path": key, "reason": reason} for key, reason in self.failed.items()], self.path)

    def add(self, key: str, reason: str) -> None:
        reason = " ".join(reason.split())  # one line, whatever the exception said
        self.failed[key] = reason
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{key}\t{reason}\n")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("ssl_audio", "jax", "jaxlib", "flax", "numpy", "pyarrow", "soundfile", "soxr"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def output_tables(model: EmbeddingModel, windows: bool) -> tuple[bool, tuple[str, ...]]:
    """(window embeddings written?, the tables, the primary first): pooling none writes windows only."""
    windows = windows or model.pooling == "none"
    return windows, (("scene",) if model.pooling != "none" else ()) + (("windows",) if windows else ())


def _settings(model: EmbeddingModel, fmt: str, windows: bool) -> dict:
    return {**model.settings(), "format": fmt, "window_embeddings": windows}


def input_identity(inputs: str | os.PathLike) -> str:
    """What names an embed's input in its manifest: the folder or list as an absolute, resolved path."""
    return printable(Path(inputs).expanduser().resolve())


def prepare_output(out: Path, settings: dict, overwrite: bool, inputs: str | os.PathLike | None = None) -> None:
    """Creates OUT, resumes into it when it was made with the same settings from the same --input, refuses
    anything else (another input's files would be skipped wherever a name matched, and the rows mixed)."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"--output {out}: is a file; give a folder")
    manifest = out / MANIFEST
    if overwrite:
        for name in (*OUTPUT_NAMES, MANIFEST, ERRORS, NOTES, VANISHED):
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    elif manifest.exists():
        written = json.loads(manifest.read_text())
        before = written.get("settings", {})
        if inputs is not None:
            made_from = written.get("input_path") or input_identity(written.get("input", ""))
            if made_from != input_identity(inputs):
                raise ManifestMismatchError(
                    f"--output {printable(out)}: holds embeddings of --input {made_from}, not of "
                    f"{input_identity(inputs)}; choose another --output for this input, or add --overwrite "
                    "to replace them"
                )
        changed = {k: (before.get(k), v) for k, v in settings.items() if before.get(k) != v}
        if changed:
            what = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise ManifestMismatchError(
                f"--output {out}: holds embeddings made with other settings ({what}); "
                f"choose another --output, or add --overwrite to replace them"
            )
    elif out.exists() and any(out.iterdir()):
        raise OutputExistsError(
            f"--output {out}: already holds files that are not an ssl-audio embed output; "
            f"choose an empty or new folder, or add --overwrite to write into it"
        )
    out.mkdir(parents=True, exist_ok=True)


def write_manifest(
    out: Path, model: EmbeddingModel, settings: dict, *, inputs: str, counts: dict, complete: bool
) -> None:
    e = model.encoder
    manifest = {
        "settings": settings,
        "checkpoint": {"source": e.source, "step": e.step, "checksum": e.checksum},
        "config": e.config.to_dict(),
        "input": inputs,
        "input_path": input_identity(inputs),
        "counts": counts,
        "complete": complete,
        "updated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
        "how_to_load": _how_to_load(settings),
    }
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    tmp.replace(out / MANIFEST)


def _how_to_load(settings: dict) -> str:
    if settings["format"] == "npz":
        return (
            "np.load('OUT/npz/<input path>.npz'): embedding [D] (unless pooling none), and with window "
            "embeddings: window_embeddings [T, D], window_start_s, window_end_s; duration_s"
        )
    text = (
        "pandas.read_parquet('OUT/scene'): one row per file (path, duration_s, n_windows, embedding); "
        "numpy: np.stack(df.embedding)"
    )
    if settings["window_embeddings"]:
        text += "; pandas.read_parquet('OUT/windows'): one row per window (path, window, start_s, end_s, embedding)"
    return text


# ------------------------------------------------------------------------------------------------ the job


def decode_one(options: DecodeOptions, path: Path):
    """(audio or None, error or None, note). A file longer than LONG_SECONDS comes back as an AudioStream
    to be read block by block (ssl_audio/audio/stream.py), not decoded here."""
    try:
        if is_long(path):
            return open_stream(path, options), None, ""
        audio, note = decode_file(path, options)
        return audio, None, note
    except DecodeError as err:
        return None, err.detail, ""
    except Exception as err:  # anything else one file can throw must not end a job of thousands
        return None, f"could not be decoded ({type(err).__name__}: {err})", ""


def decoded(
    model: EmbeddingModel,
    items: list[tuple[str, Path]],
    workers: int,
    options: DecodeOptions | None = None,
    on_note=None,
) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    """(key, audio or None, error or None) in input order, decoded `workers` files ahead; `on_note(key, note)`
    for a file kept in spite of a check."""
    options = options or model.decode_options
    ahead = max(2, 2 * workers)
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="decode") as pool:
        queue = collections.deque()
        todo = iter(items)
        for key, path in itertools.islice(todo, ahead):
            queue.append((key, pool.submit(decode_one, options, path)))
        while queue:
            key, future = queue.popleft()
            nxt = next(todo, None)
            if nxt is not None:
                queue.append((nxt[0], pool.submit(decode_one, options, nxt[1])))
            audio, error, note = future.result()
            if note and on_note is not None:
                on_note(key, note)
            yield key, audio, error


@dataclasses.dataclass
class _InFlight:
    key: str
    duration: float
    starts: list  # [T] seconds; a streamed file's grow as its windows are cut
    ends: list
    expected: int  # windows it will have (a stream: by its header's length; for the progress bar)
    out: list = dataclasses.field(default_factory=list)  # [D] per window embedded, in order
    complete: bool = True  # every window cut (a stream: once it has ended)
    failed: bool = False  # a stream that turned out bad part-way: its windows are dropped

    @property
    def done(self) -> bool:
        return self.complete and len(self.out) == len(self.starts)


def embed_stream(
    model: EmbeddingModel,
    clips: Iterator[tuple[str, np.ndarray | AudioStream | None, str | None]],
    on_error=None,
    on_progress=None,
    on_note=None,
) -> Iterator[list[tuple[str, Embeddings]]]:
    """Windows of consecutive clips packed into device batches (`window_batches`); after each batch,
    yields the clips it completed (possibly none), in input order. A long file (an AudioStream) is cut into
    windows as its blocks are decoded, so it never sits in memory whole. `on_progress(files, seconds)`: after
    each batch, the fraction of files and the seconds of audio its windows covered (a long file moves the bar
    as its windows go, not only when it is done)."""
    inflight: dict[int, _InFlight] = {}
    order: collections.deque[int] = collections.deque()
    rate, window = model.sample_rate, model.window_samples

    def streamed(clip: _InFlight, stream: AudioStream):
        cut = StreamWindows(stream.blocks(), window, model.hop_samples)
        try:
            for start, w in cut:
                clip.starts.append(start / rate)
                clip.ends.append(start / rate + window / rate)
                yield w
            clip.duration = cut.samples / rate
            clip.ends = [min(e, clip.duration) for e in clip.ends]
            if stream.note and on_note is not None:
                on_note(clip.key, stream.note)
        except Exception as err:  # bad part-way (NaN at 40 min, silent, cut short): the file fails, the job not
            clip.failed = True
            reason = (
                err.detail if isinstance(err, DecodeError) else f"could not be decoded ({type(err).__name__}: {err})"
            )
            if on_error is not None:
                on_error(clip.key, reason)
        finally:
            clip.complete = True

    def windowed():
        for index, (key, audio, error) in enumerate(clips):
            if audio is None:
                if on_error is not None:
                    on_error(key, error)
                continue
            if isinstance(audio, AudioStream):
                expected = len(window_starts(int(audio.seconds * rate), window, model.hop_samples))
                clip = _InFlight(key, audio.seconds, [], [], expected, complete=False)
                inflight[index] = clip
                order.append(index)
                yield {"index": index, "windows": streamed(clip, audio)}
                continue
            windows, starts, ends = model.windows_of(audio)
            inflight[index] = _InFlight(key, audio.shape[0] / rate, list(starts), list(ends), len(starts))
            order.append(index)
            yield {"index": index, "windows": windows}

    for batch in window_batches(windowed(), model.batch_size):
        h = model.embed_windows(batch["audio"][batch["valid"]])
        files = seconds = 0.0
        for row, index in enumerate(batch["clip"][batch["valid"]]):
            clip = inflight[index]
            clip.out.append(h[row])  # a clip's windows arrive in order
            files += 1 / max(clip.expected, 1)
            seconds += clip.duration / max(clip.expected, 1)
        if on_progress is not None:
            on_progress(files, seconds)
        done = []
        while order and inflight[order[0]].done:
            c = inflight.pop(order.popleft())
            if c.failed:
                continue
            windows = np.stack(c.out).astype(np.float32)
            starts, ends = np.asarray(c.starts, np.float64), np.asarray(c.ends, np.float64)
            done.append((c.key, Embeddings.of_windows(windows, starts, ends, c.duration, model.pooling)))
        yield done
    # a stream that failed after its last batch: nothing of it is left to embed
    leftover = [c for c in (inflight.pop(i) for i in order) if not c.failed]
    if leftover:
        raise RuntimeError(f"windows of {leftover[0].key} never came back from the device batches")


def export(
    model: EmbeddingModel,
    inputs: str | os.PathLike,
    out: str | os.PathLike,
    *,
    fmt: str = "parquet",
    windows: bool = False,
    overwrite: bool = False,
    retry_errors: bool = False,
    workers: int = 2,
    decode: DecodeOptions | None = None,
    progress: bool = True,
) -> ExportResult:
    """Embeds every input into OUT, in this process; `decode`: what a bad file is (default: the model's
    rate, the usual checks, too-short files kept with a note). `ssl_audio.beam.embed` does the same on Beam."""
    from tqdm.auto import tqdm

    out = Path(out).expanduser()
    items = list_inputs(inputs)
    windows, tables = output_tables(model, windows)
    store = open_store(fmt, out, model.embedding_size, tables)  # checks the format before OUT is touched
    settings = _settings(model, fmt, windows)
    prepare_output(out, settings, overwrite, inputs)

    done = store.open([k for k, _ in items])
    stamps = {k: file_stamp(p) for k, p in items}
    changed = find_changed(store.stamps_of(k for k, _ in items if k in done), stamps)
    if changed:  # their rows go now: a kill before they are embedded again leaves them to do, never stale
        store.remove(changed)
        done -= changed
    vanished = write_vanished(out, done - stamps.keys())
    errors = ErrorsLog(out / ERRORS, retry=retry_errors)
    notes = ErrorsLog(out / NOTES, retry=False)
    noted_before = len(notes.failed)
    todo = [(k, p) for k, p in items if k not in done and (k in changed or k not in errors.failed)]
    done_before = sum(1 for k, _ in items if k in done)
    failed_before = sum(1 for k, _ in items if k in errors.failed and k not in done and k not in changed)
    counts = {"inputs": len(items), "done": done_before, "failed": len(errors.failed)}
    write_manifest(out, model, settings, inputs=str(inputs), counts=counts, complete=False)

    failed_now, embedded, audio_seconds = 0, 0, 0.0
    # Files as the unit (a fraction of a long file as its windows go), audio seconds and speed beside them.
    bar = tqdm(total=len(todo), desc="embed", unit="file", disable=not progress, dynamic_ncols=True)
    bar.bar_format = "{l_bar}{bar}| {n:.1f}/{total_fmt} files [{elapsed}<{remaining}{postfix}]"
    start = time.perf_counter()

    def on_error(key: str, reason: str) -> None:
        nonlocal failed_now
        errors.add(key, reason)
        failed_now += 1
        bar.update(1)

    covered = 0.0

    def on_progress(files: float, seconds: float) -> None:
        nonlocal covered
        covered += seconds
        bar.update(files)
        elapsed = time.perf_counter() - start
        if elapsed > 0:
            bar.set_postfix_str(f"{covered:.0f} s of audio, {covered / elapsed:.0f}x real time", refresh=False)

    try:
        stream = embed_stream(
            model,
            decoded(model, todo, workers, decode, on_note=notes.add),
            on_error=on_error,
            on_progress=on_progress,
            on_note=notes.add,
        )
        for finished in stream:
            store.append([(k, e, stamps[k]) for k, e in finished])
            embedded += len(finished)
            audio_seconds += sum(e.duration for _, e in finished)
    finally:
        bar.close()
        store.close()
    seconds = time.perf_counter() - start
    counts = {"inputs": len(items), "done": counts["done"] + embedded, "failed": len(errors.failed)}
    write_manifest(
        out,
        model,
        settings,
        inputs=str(inputs),
        counts=counts,
        complete=counts["done"] + counts["failed"] == len(items),
    )
    return ExportResult(
        out=out,
        inputs=len(items),
        done_before=done_before,
        failed_before=failed_before,
        embedded=embedded,
        failed=failed_now,
        failed_total=len(errors.failed),
        audio_seconds=audio_seconds,
        seconds=seconds,
        noted=len(notes.failed) - noted_before,
        changed=len(changed),
        vanished=vanished,
    )


def find_changed(recorded: dict[str, tuple[int, int]], now: dict[str, tuple[int, int]]) -> set[str]:
    """Done files whose stamp (size, mtime) differs from the one recorded when they were embedded; a row
    without a recorded stamp (written by an older ssl_audio) is taken as unchanged."""
    return {k for k, stamp in recorded.items() if tuple(stamp) != UNKNOWN_STAMP and tuple(stamp) != now.get(k)}


def write_vanished(out: Path, keys: set[str]) -> int:
    """OUT/vanished.tsv: the files done by an earlier run that this run's input no longer holds (their rows
    stay; a user deletes them on purpose, we never do). Rewritten each run; removed when there are none."""
    path = out / VANISHED
    if keys:
        write_bad_list([{"path": k, "reason": "no longer under --input; rows kept"} for k in sorted(keys)], path)
    else:
        path.unlink(missing_ok=True)
    return len(keys)
