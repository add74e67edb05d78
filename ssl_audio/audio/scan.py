"""`ssl-audio scan DIR`: what is in a folder of audio, before anyone trains on it.

Reports count, hours, native sample rates, channels, formats and every bad file
with its reason. The per-file check is `decode.load_audio`, the one definition of a
bad file that `prepare` and `embed` use too, so a clean scan means a clean prepare.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

import soundfile as sf

from ssl_audio.audio.decode import (
    AUDIO_EXTENSIONS,
    DecodeError,
    DecodeOptions,
    decode_file,
    file_size,
    is_audio_file,
)
from ssl_audio.audio.paths import printable
from ssl_audio.audio.stream import is_long, open_stream
from ssl_audio.errors import MissingInputError
from ssl_audio.parallel import parallel_map
from ssl_audio.text import plural


@dataclasses.dataclass
class FileReport:
    path: str
    ok: bool
    reason: str = ""
    native_rate: int = 0
    channels: int = 0
    seconds: float = 0.0
    format: str = ""
    note: str = ""  # usable, but worth a look (truncated: what is there was decoded)


def find_audio_files(root: str | os.PathLike) -> list[Path]:
    """All audio files under root (recursive, sorted, hidden files skipped)."""
    return sorted(map(Path, iter_audio_files(root)))


def iter_audio_files(root: str | os.PathLike) -> Iterator[str]:
    """The files of `find_audio_files` as path strings, streamed one folder at a time, in the order of their
    relative paths as text ("a.wav" < "a/b.wav" < "ab.wav": a folder sorts as its name plus "/"), so that
    a stream is already in key order and what is computed over it in that order (prepare's fingerprint)
    equals what sorting a held list would give. Hidden files and folders are skipped; symbolic links to
    folders are not followed (as os.walk). Memory: the entries of the folder being read, not the tree.
    Strings, not Paths: pathlib interns every component it parses, so a stream of Paths grows CPython's
    intern table by one entry per unique file name (3.7 MiB per 100,000 files, `ssl-audio bench listing`)."""
    root = os.fspath(root)
    if not os.path.isdir(root):  # checked now, not at the first file
        raise MissingInputError(f"{printable(root)}: not a directory (give the folder that holds your audio)")

    def walk(folder: str):
        try:
            with os.scandir(folder) as it:
                entries = []
                for e in it:
                    if e.name.startswith("."):
                        continue
                    subfolder = e.is_dir(follow_symlinks=False)
                    try:
                        linked_folder = not subfolder and e.is_dir()
                    except OSError:  # a looping link: listed (and reported bad by the decoder), not fatal
                        linked_folder = False
                    if subfolder or (not linked_folder and is_audio_file(e.name)):
                        entries.append((e.name + "/" if subfolder else e.name, e.path))
        except OSError:
            return  # unreadable folder: skipped, as os.walk skips it
        for name, path in sorted(entries):
            if name.endswith("/"):
                yield from walk(path)
            else:
                yield path

    return walk(root)


def check_file(args: tuple[str, DecodeOptions]) -> FileReport:
    """Decodes one file fully (the only way to find NaNs or silence) and says whether it is usable."""
    path, options = args
    report = FileReport(path=printable(path), ok=False)
    try:
        file_size(path)  # a FIFO is never opened (sf.info would block on it), a broken link is named as such
    except DecodeError as err:
        report.reason = err.detail
        return report
    info = None
    try:
        with open(path, "rb") as f:  # a file object: soundfile cannot encode a non-UTF-8 name itself
            info = sf.info(f)
        report.native_rate, report.channels, report.format = int(info.samplerate), int(info.channels), info.format
    except Exception:  # load_audio below gives the precise reason
        pass
    try:
        if is_long(path, info):  # read in blocks: a two-hour file costs no more memory than a short one
            stream = open_stream(path, options)
            samples = sum(block.shape[0] for block in stream.blocks())
            report.note = stream.note
        else:
            audio, report.note = decode_file(path, options)
            samples = audio.shape[0]
    except DecodeError as err:
        report.reason = err.detail
        return report
    report.ok = True
    report.seconds = samples / options.sample_rate
    return report


@dataclasses.dataclass
class ScanSummary:
    root: str
    files: int
    usable: int
    hours: float
    sample_rates: dict[int, int]
    channels: dict[int, int]
    formats: dict[str, int]
    below_target_rate: int
    bad: list[dict]
    notes: list[dict] = dataclasses.field(default_factory=list)

    def lines(self, target_rate: int) -> list[str]:
        out = [
            f"scan {self.root}: {plural(self.files, 'audio file')}, {self.usable} usable, "
            f"{len(self.bad)} bad, {self.hours:.2f} h usable audio"
        ]
        out.append("  sample rates: " + ", ".join(f"{r} Hz x{n}" for r, n in sorted(self.sample_rates.items())))
        out.append("  channels:     " + ", ".join(f"{c} ch x{n}" for c, n in sorted(self.channels.items())))
        out.append("  formats:      " + ", ".join(f"{f} x{n}" for f, n in sorted(self.formats.items())))
        if self.below_target_rate:
            out.append(
                f"  note: {plural(self.below_target_rate, 'file')} are below {target_rate} Hz and will be "
                "upsampled (no content above their Nyquist frequency)"
            )
        out += [f"  note: {item['path']}: {item['reason']}" for item in self.notes[:SHOWN_BAD_FILES]]
        out += bad_lines(self.bad)
        return out


def no_audio_error(root: str | os.PathLike, flag: str = "") -> MissingInputError:
    """The one answer of scan, prepare and embed to a folder with no audio file in it: one line, exit 2."""
    return MissingInputError(
        f"{flag}{printable(root)}: no audio files found (looked for "
        f"{' '.join(sorted(AUDIO_EXTENSIONS))}, any case, recursively); point it at a folder of audio"
    )


def scan_folder(
    root: str | os.PathLike,
    options: DecodeOptions = DecodeOptions(),
    *,
    workers: int | None = None,
    progress: bool = True,
) -> ScanSummary:
    paths = [str(p) for p in find_audio_files(root)]
    if not paths:
        raise no_audio_error(root)
    reports = list(
        parallel_map(
            check_file, [(p, options) for p in paths], workers=workers, desc="scan", unit="file", progress=progress
        )
    )
    return summarize(str(root), reports, options)


def summarize(root: str, reports: list[FileReport], options: DecodeOptions) -> ScanSummary:
    good = [r for r in reports if r.ok]
    return ScanSummary(
        root=root,
        files=len(reports),
        usable=len(good),
        hours=sum(r.seconds for r in good) / 3600.0,
        sample_rates=dict(collections.Counter(r.native_rate for r in reports if r.native_rate)),
        channels=dict(collections.Counter(r.channels for r in reports if r.channels)),
        formats=dict(collections.Counter(r.format for r in reports if r.format)),
        below_target_rate=sum(1 for r in good if 0 < r.native_rate < options.sample_rate),
        bad=[{"path": r.path, "reason": r.reason} for r in reports if not r.ok],
        notes=[{"path": r.path, "reason": r.note} for r in reports if r.ok and r.note],
    )


SHOWN_BAD_FILES = 20


def bad_lines(bad: list[dict], listed_in: str | os.PathLike | None = None, limit: int = SHOWN_BAD_FILES) -> list[str]:
    """One line per bad file (`  bad: PATH: reason`), the first `limit` of them, then where the rest are."""
    out = [f"  bad: {item['path']}: {item['reason']}" for item in bad[:limit]]
    if len(bad) > limit:
        where = f"; all are listed in {listed_in}" if listed_in else "; --json writes them all"
        out.append(f"  ... and {len(bad) - limit} more bad files{where}")
    return out


def write_bad_list(bad: list[dict], path: str | os.PathLike) -> None:
    """The skipped files, one per line as `path<TAB>reason`, next to a job's output."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("path\treason\n")
        for item in bad:
            f.write(f"{printable(item['path'])}\t{item['reason']}\n")


def write_json(summary: ScanSummary, path: str | os.PathLike) -> None:
    Path(path).write_text(json.dumps(dataclasses.asdict(summary), indent=2) + "\n")
