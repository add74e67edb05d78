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
import itertools
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ssl_audio import interrupts
from ssl_audio.audio.decode import DecodeError, DecodeOptions, decode_file, file_stamp
from ssl_audio.audio.stream import AudioStream, is_long, native_seconds, open_stream
from ssl_audio.audio.windows import StreamWindows, window_batches, window_starts
from ssl_audio.embed.inputs import list_inputs
from ssl_audio.embed.model import EmbeddingModel, Embeddings
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
from ssl_audio.embed.store import open_store

# ------------------------------------------------------------------------------------------------ inputs


# ------------------------------------------------------------------------------------------------ output


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
            interrupts.check()  # an interrupt swallowed inside the decode is not this file's failure
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
            interrupts.check()  # a stream cut short by a swallowed interrupt is not a complete file
            clip.duration = cut.samples / rate
            clip.ends = [min(e, clip.duration) for e in clip.ends]
            if stream.note and on_note is not None:
                on_note(clip.key, stream.note)
        except Exception as err:  # bad part-way (NaN at 40 min, silent, cut short): the file fails, the job not
            interrupts.check()
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
    settings = output_settings(model, fmt, windows)
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
    # Seconds of audio as the unit, so that the ETA holds when files differ in length (an hour-long file
    # among songs): the total from the files' headers (no audio read), the files done and the speed beside it.
    listed = {key: native_seconds(path) for key, path in todo}
    bar = tqdm(total=sum(listed.values()), desc="embed", unit="s", disable=not progress, dynamic_ncols=True)
    bar.bar_format = "{l_bar}{bar}| {n:.0f}/{total:.0f} s of audio [{elapsed}<{remaining}{postfix}]"
    start = time.perf_counter()
    files_done = 0.0

    def show() -> None:
        elapsed = time.perf_counter() - start
        speed = f", {bar.n / elapsed:.0f}x real time" if elapsed > 0 else ""
        bar.set_postfix_str(f"{files_done:.1f}/{len(todo)} files{speed}", refresh=False)

    def on_error(key: str, reason: str) -> None:
        nonlocal failed_now, files_done
        interrupts.check()
        errors.add(key, reason)
        failed_now += 1
        files_done += 1
        bar.update(min(listed.get(key, 0.0), bar.total - bar.n))  # its seconds will not come as windows
        show()

    def on_progress(files: float, seconds: float) -> None:
        nonlocal files_done
        files_done += files
        bar.update(min(seconds, bar.total - bar.n))
        show()

    with interrupts.watched():
        try:
            stream = embed_stream(
                model,
                decoded(model, todo, workers, decode, on_note=notes.add),
                on_error=on_error,
                on_progress=on_progress,
                on_note=notes.add,
            )
            for finished in stream:
                interrupts.check()
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
        notes=notes.since(noted_before)[:SHOWN_NOTES],
        changed=len(changed),
        vanished=vanished,
    )
