"""File names as text: the one place that turns a path into a string for a report, a table or a dataset.

A name need not be valid UTF-8: old music folders and Samba shares hold Latin-1 names such as
b"caf\\xe9.wav". Python keeps such bytes as lone surrogates (os.fsdecode's 'surrogateescape'), which
every UTF-8 writer (TSV, JSON, Parquet, TFDS text features) refuses. `printable` writes each undecodable
byte as the four characters "\\xNN" instead, and a backslash as two, so that no two names print alike:
valid UTF-8, one line, and the same for every job, so a resumed embed recognises the files it did and a
report names the file the user can find. A valid UTF-8 name without a backslash (nearly all) is unchanged.
"""

from __future__ import annotations

import os


def printable(path: str | os.PathLike) -> str:
    """The path as valid UTF-8 text; undecodable bytes become \\xNN and a backslash becomes two, so that two
    different names never print alike (b"caf\\xe9" and a name holding the text "caf\\xe9"); `os_path` inverts it."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    text = text.replace("\\", "\\\\")
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def os_path(text: str) -> str:
    """The inverse of `printable`: the path to open on this machine. "\\\\" is one backslash, "\\xNN" one
    byte; any other backslash is kept as it is."""
    if "\\" not in text:
        return text
    raw = text.encode("utf-8", "surrogateescape")
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i : i + 2] == b"\\\\":
            out.append(raw[i])
            i += 2
            continue
        if raw[i : i + 2] == b"\\x" and i + 4 <= len(raw):
            try:
                out.append(int(raw[i + 2 : i + 4], 16))
                i += 4
                continue
            except ValueError:
                pass
        out.append(raw[i])
        i += 1
    return os.fsdecode(bytes(out))


def as_written(text: str, base: str | os.PathLike) -> str:
    """A path as a user wrote it in a list or a CSV, as the name to open: as written (the raw bytes of a Latin-1
    name included), or, when no such file exists, read as the printable form reports show (`caf\\xe9.wav`),
    or as the Latin-1 bytes of the text (a UTF-8 `café.wav` for the Latin-1 file b"caf\\xe9.wav": only when
    no file of the UTF-8 name exists, so it is never ambiguous). Relative paths are looked up under `base`
    but returned relative."""

    def exists(p: str) -> bool:
        return os.path.lexists(os.path.join(os.fspath(base), os.path.expanduser(p)))

    if exists(text):
        return text
    if "\\" in text:
        decoded = os_path(text)
        if exists(decoded):
            return decoded
    try:  # a UTF-8 CSV naming a Latin-1 file ("Café.wav" for b"Caf\xe9.wav"): the one file it can mean
        latin1 = os.fsdecode(text.encode("latin-1"))
    except UnicodeEncodeError:
        return text
    return latin1 if latin1 != text and exists(latin1) else text


def to_wire(path: str | os.PathLike) -> str:
    """A path as text that any UTF-8 channel (JSON lines, Beam's string coder) carries exactly: its bytes,
    one character each. Unlike `printable` it is for machines, not reports; `from_wire` gives the path back."""
    return os.fsencode(path).decode("latin-1")


def from_wire(text: str) -> str:
    """The path `to_wire` carried, as this machine's file-system string (surrogates for undecodable bytes)."""
    return os.fsdecode(text.encode("latin-1"))
