"""The output folder of `ssl-audio embed`: its settings, manifest, errors and notes logs and layout.

One definition for both executors of the job: in this process (ssl_audio.embed.export) and on Beam
(ssl_audio.beam.embed), so the two write the same folder and either resumes the other's.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
from pathlib import Path

from ssl_audio.audio.paths import printable
from ssl_audio.audio.scan import write_bad_list
from ssl_audio.embed.model import EmbeddingModel
from ssl_audio.embed.store import OUTPUT_NAMES, UNKNOWN_STAMP
from ssl_audio.errors import OutputExistsError
from ssl_audio.text import plural

MANIFEST = "manifest.json"


ERRORS = "errors.tsv"


NOTES = "notes.tsv"  # files embedded with a note (cut short, too short, channels that cancel), one line each
SHOWN_NOTES = 5


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
    notes: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (file, note) of this run, first ones
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
            out.append(f"  {plural(self.noted, 'file')} embedded with a note, each listed in {self.out / NOTES}:")
            out += [f"    {key}: {note}" for key, note in self.notes[:SHOWN_NOTES]]
            if self.noted > SHOWN_NOTES:
                out.append(f"    ... and {self.noted - SHOWN_NOTES} more")
        if self.embedded:
            out.append(
                f"  {self.audio_seconds / 3600:.2f} h of audio in {self.seconds:.1f} s = "
                f"{self.x_realtime:.0f}x real time, {self.embedded / self.seconds:.1f} files/s"
            )
        out.append(f"  output: {self.out} (manifest: {self.out / MANIFEST})")
        return out


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

    def since(self, count: int) -> list[tuple[str, str]]:
        """The rows added after the first `count` (what this run noted)."""
        return list(self.failed.items())[count:]

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


def output_settings(model: EmbeddingModel, fmt: str, windows: bool) -> dict:
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
