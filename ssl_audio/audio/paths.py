"""File names as text: the one place that turns a path into a string for a report, a table or a dataset.

A name need not be valid UTF-8: old music folders and Samba shares hold Latin-1 names such as
b"caf\\xe9.wav". Python keeps such bytes as lone surrogates (os.fsdecode's 'surrogateescape'), which
every UTF-8 writer (TSV, JSON, Parquet, TFDS text features) refuses. `printable` writes each undecodable
byte as the four characters "\\xNN" instead: valid UTF-8, one line, and the same for every job, so a
resumed embed recognises the files it did and a report names the file the user can find. A name that is
valid UTF-8 (nearly all) is returned unchanged.
"""

from __future__ import annotations

import os


def printable(path: str | os.PathLike) -> str:
    """The path as valid UTF-8 text; undecodable bytes become \\xNN (reversible with `os_path`)."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def os_path(text: str) -> str:
    """The inverse of `printable` for a name written by it: the path to open on this machine."""
    if "\\x" not in text:
        return text
    raw = text.encode("utf-8")
    out, i = bytearray(), 0
    while i < len(raw):
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


def to_wire(path: str | os.PathLike) -> str:
    """A path as text that any UTF-8 channel (JSON lines, Beam's string coder) carries exactly: its bytes,
    one character each. Unlike `printable` it is for machines, not reports; `from_wire` gives the path back."""
    return os.fsencode(path).decode("latin-1")


def from_wire(text: str) -> str:
    """The path `to_wire` carried, as this machine's file-system string (surrogates for undecodable bytes)."""
    return os.fsdecode(text.encode("latin-1"))
