"""What `ssl-audio embed` reads: a folder (recursive), one audio file, or a text file of paths, one per line."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ssl_audio.audio.decode import is_audio_file
from ssl_audio.audio.paths import as_written, printable
from ssl_audio.audio.scan import find_audio_files, iter_audio_files, no_audio_error
from ssl_audio.errors import BadValueError, MissingInputError


def list_inputs(spec: str | os.PathLike) -> list[tuple[str, Path]]:
    """(key, path) per input. A folder: every audio file under it, keyed by its path relative to the folder.
    An audio file: itself, keyed by its name. A text file: one path per line (blank lines and '#' comments
    skipped), relative ones taken from the list's folder, keyed as written. Duplicates are kept once."""
    spec = Path(spec).expanduser()
    if spec.is_dir():  # keys as printable text: a Latin-1 file name must not break the tables (paths.py)
        found = [(printable(p.relative_to(spec).as_posix()), p) for p in find_audio_files(spec)]
        if not found:
            raise no_audio_error(spec, "--input ")
        return found
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
