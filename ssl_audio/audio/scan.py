"""`ssl-audio scan DIR`: what is in a folder of audio, before anyone trains on it.

Reports count, hours, native sample rates, channels, formats and every bad file
with its reason. The same per-file check (`check_file`) is what `prepare` uses
to skip bad files, so a clean scan means a clean prepare.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
from pathlib import Path

import soundfile as sf

from ssl_audio.audio.decode import DecodeError, DecodeOptions, is_audio_file, load_audio
from ssl_audio.parallel import parallel_map


@dataclasses.dataclass
class FileReport:
    path: str
    ok: bool
    reason: str = ""
    native_rate: int = 0
    channels: int = 0
    seconds: float = 0.0
    format: str = ""


def find_audio_files(root: str | os.PathLike) -> list[Path]:
    """All audio files under root (recursive, sorted, hidden files skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a directory (give the folder that holds your audio)")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / name for name in filenames if not name.startswith(".") and is_audio_file(name))
    return sorted(found)


def check_file(args: tuple[str, DecodeOptions]) -> FileReport:
    """Decodes one file fully (the only way to find NaNs or silence) and says whether it is usable."""
    path, options = args
    report = FileReport(path=path, ok=False)
    try:
        info = sf.info(path)
        report.native_rate, report.channels, report.format = int(info.samplerate), int(info.channels), info.format
    except Exception:  # load_audio below gives the precise reason
        pass
    try:
        audio = load_audio(path, options)
    except DecodeError as err:
        report.reason = err.detail
        return report
    report.ok = True
    report.seconds = audio.shape[0] / options.sample_rate
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

    def lines(self, target_rate: int) -> list[str]:
        out = [f"scan {self.root}: {self.files} audio files, {self.usable} usable, "
               f"{len(self.bad)} bad, {self.hours:.2f} h usable audio"]
        out.append("  sample rates: " + ", ".join(f"{r} Hz x{n}" for r, n in sorted(self.sample_rates.items())))
        out.append("  channels:     " + ", ".join(f"{c} ch x{n}" for c, n in sorted(self.channels.items())))
        out.append("  formats:      " + ", ".join(f"{f} x{n}" for f, n in sorted(self.formats.items())))
        if self.below_target_rate:
            out.append(f"  note: {self.below_target_rate} files are below {target_rate} Hz and will be "
                       "upsampled (no content above their Nyquist frequency)")
        for bad in self.bad:
            out.append(f"  bad: {bad['path']}: {bad['reason']}")
        return out


def scan_folder(root: str | os.PathLike, options: DecodeOptions = DecodeOptions(), *, workers: int | None = None,
                progress: bool = True) -> ScanSummary:
    paths = [str(p) for p in find_audio_files(root)]
    reports = list(parallel_map(check_file, [(p, options) for p in paths], workers=workers,
                                desc="scan", unit="file", progress=progress))
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
    )


def write_bad_list(bad: list[dict], path: str | os.PathLike) -> None:
    """The skipped files, one per line as `path<TAB>reason`, next to a job's output."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("path\treason\n")
        for item in bad:
            f.write(f"{item['path']}\t{item['reason']}\n")


def write_json(summary: ScanSummary, path: str | os.PathLike) -> None:
    Path(path).write_text(json.dumps(dataclasses.asdict(summary), indent=2) + "\n")
