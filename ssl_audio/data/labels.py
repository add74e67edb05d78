"""Records and labels: what a dataset knows about each audio file.

`labels.csv` (one row per file, `path` relative to the CSV's folder) holds the
columns below. A user's own CSV never uses our names, so `ColumnMap` says how to
read it: rename a column (`--column label=genre`), declare a column of its own
with its kind (`--column style=class`), or leave one out (`--ignore-column
seconds`). Any other unknown column is a typo until proven otherwise, so it is
an error naming the column and these flags. Every error names the CSV line and
what to do.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from pathlib import Path
from typing import Any

from ssl_audio.audio.paths import as_written, printable
from ssl_audio.errors import UsageError

# column -> kind. class: one label per clip; multilabel: ';'-separated; value: a float;
# group: who made it (splits never separate a group); split: train / validation / test.
COLUMN_KINDS: dict[str, str] = {
    "path": "path",
    "split": "split",
    "artist": "group",
    "album": "group",
    "genre": "class",
    "mood": "class",
    "instruments": "multilabel",
    "tags": "multilabel",
    "valence": "value",
    "arousal": "value",
}
SPLITS = ("train", "validation", "test")
LABEL_KINDS = ("class", "multilabel", "value", "group")
MULTILABEL_SEPARATOR = ";"


class LabelsError(UsageError, ValueError):
    """labels.csv cannot be used as it is. The message is one line: file, line, problem, fix."""


@dataclasses.dataclass
class Record:
    """One audio file and what is known about it. `path` is absolute; `key` is unique and portable."""

    path: str
    key: str
    labels: dict[str, Any] = dataclasses.field(default_factory=dict)
    split: str | None = None
    # A long file is stored as several records of bounded length (prepare's --segment-seconds), each with
    # (index, start s, end s) here and the file's key and labels, so splits and groups still see one file.
    segment: tuple[int, float, float] | None = None

    @property
    def example_key(self) -> str:
        return example_key(self.key, self.segment)

    def group(self, column: str) -> str:
        value = self.labels.get(column)
        return str(value) if value not in (None, "") else self.key


@dataclasses.dataclass(frozen=True)
class ColumnMap:
    """How to read a CSV whose column names are not ours (prepare's --column and --ignore-column)."""

    rename: tuple[tuple[str, str], ...] = ()  # (CSV name, our column), e.g. ("label", "genre")
    custom: tuple[tuple[str, str], ...] = ()  # (CSV name, kind), e.g. ("style", "class")
    ignore: tuple[str, ...] = ()

    @classmethod
    def parse(cls, columns: list[str] = (), ignore: list[str] = ()) -> ColumnMap:
        """From `--column NAME=OURS|KIND` and `--ignore-column NAME` values."""
        rename, custom = [], []
        for item in columns:
            name, sep, target = (x.strip() for x in item.partition("="))
            if not sep or not name or not target:
                raise LabelsError(
                    f"--column {item!r}: write CSVNAME=COLUMN (e.g. label=genre) or CSVNAME=KIND "
                    f"(kind: {', '.join(LABEL_KINDS)})"
                )
            if target in LABEL_KINDS:
                if name in COLUMN_KINDS and COLUMN_KINDS[name] != target:
                    raise LabelsError(f"--column {item}: {name!r} is already a {COLUMN_KINDS[name]} column")
                custom.append((name, target))
            elif target in COLUMN_KINDS:
                rename.append((name, target))
            else:
                raise LabelsError(
                    f"--column {item}: {target!r} is neither one of our columns "
                    f"({', '.join(COLUMN_KINDS)}) nor a kind ({', '.join(LABEL_KINDS)})"
                )
        return cls(tuple(rename), tuple(custom), tuple(x.strip() for x in ignore))

    def kinds(self) -> dict[str, str]:
        """Every column this map knows -> its kind: ours, plus the custom ones."""
        return {**COLUMN_KINDS, **dict(self.custom)}

    def header(self, csv_path: Path, raw: list[str]) -> list[str | None]:
        """The CSV's header in our names; None for an ignored column. Unknown names are errors."""
        rename, kinds, out = dict(self.rename), self.kinds(), []
        if "path" not in [rename.get(c, c) for c in raw if c not in self.ignore]:
            raise LabelsError(
                f"{csv_path}:1: no 'path' column; name the audio file column 'path', or map yours "
                f"with --column NAME=path"
            )
        for column in raw:
            if column in self.ignore:
                out.append(None)
                continue
            name = rename.get(column, column)
            if name not in kinds:
                raise LabelsError(
                    f"{csv_path}:1: unknown column {column!r}; map it with --column {column}=COLUMN (ours: "
                    f"{', '.join(c for c in COLUMN_KINDS if c != 'path')}), declare it with --column "
                    f"{column}=KIND ({', '.join(LABEL_KINDS)}), or pass --ignore-column {column}"
                )
            out.append(name)
        for name in [*dict(self.rename), *dict(self.custom), *self.ignore]:
            if name not in raw:
                raise LabelsError(
                    f"{csv_path}:1: --column/--ignore-column name {name!r}, but the header has no "
                    f"such column (it has {', '.join(raw)})"
                )
        return out


def label_columns(columns: list[str | None], kinds: dict[str, str] = COLUMN_KINDS) -> list[str]:
    """The columns that become features, in a stable order (CSV order without path/split)."""
    return [c for c in columns if c is not None and kinds.get(c) not in ("path", "split")]


def read_labels_csv(
    csv_path: str | os.PathLike, *, check_files: bool = True, column_map: ColumnMap = ColumnMap()
) -> tuple[list[Record], list[str]]:
    """Parses and validates labels.csv; returns the records and the label columns present."""
    csv_path = Path(csv_path)
    root = csv_path.parent
    kinds = column_map.kinds()
    # surrogateescape: a Latin-1 file name written into the CSV as raw bytes (as `ls > labels.csv` does) reads
    # as the same string os.listdir gives for it; every other cell must still be UTF-8 text.
    with open(csv_path, newline="", encoding="utf-8-sig", errors="surrogateescape") as f:
        reader = csv.reader(f)
        try:
            raw_header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise LabelsError(f"{csv_path}: empty file; it needs a header line starting with 'path'") from None
        header = column_map.header(csv_path, raw_header)
        if "path" not in header:
            raise LabelsError(
                f"{csv_path}:1: no 'path' column; name the audio file column 'path', or map yours "
                f"with --column NAME=path"
            )
        named = [h for h in header if h is not None]
        if len(set(named)) != len(named):
            raise LabelsError(f"{csv_path}:1: a column appears twice in the header (after --column renames)")

        records, seen = [], {}
        for line_no, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue  # blank line
            if len(row) != len(header):
                raise LabelsError(
                    f"{csv_path}:{line_no}: {len(row)} fields but the header has {len(header)}; "
                    "quote fields that contain commas"
                )
            cells = {c: v.strip() for c, v in zip(header, row) if c is not None}
            where = f"{printable(csv_path)}:{line_no} ({printable(cells['path']) or 'no path'})"
            for column, value in cells.items():
                if value == "":
                    raise LabelsError(f"{where}: empty {column!r}; fill it in or delete the row")
                if column != "path" and _undecodable(value):
                    raise LabelsError(f"{where}: {column!r} is not UTF-8 text; save the CSV as UTF-8")
            # The path as written (raw bytes of a Latin-1 name) or as reports print it (caf\xe9.wav).
            rel = as_written(cells["path"], root)
            key = printable(rel)
            if key in seen:
                raise LabelsError(f"{where}: the same path is already on line {seen[key]}; keep one row per file")
            seen[key] = line_no
            # abspath, not resolve: a link stays the file the folder lists (and a looping one raises nothing here)
            full = Path(os.path.abspath(os.path.join(root, os.path.expanduser(rel))))
            if check_files and not os.path.lexists(full):
                raise LabelsError(
                    f"{where}: the file does not exist under {printable(root)}; fix the path or delete the row"
                )
            record = Record(path=str(full), key=key)
            for column, value in cells.items():
                kind = kinds[column]
                if kind == "split":
                    if value not in SPLITS:
                        raise LabelsError(f"{where}: split {value!r} is not one of {', '.join(SPLITS)}")
                    record.split = value
                elif kind == "multilabel":
                    tags = tuple(sorted({t.strip() for t in value.split(MULTILABEL_SEPARATOR) if t.strip()}))
                    if not tags:
                        raise LabelsError(f"{where}: {column!r} holds no labels; list them separated by ';'")
                    record.labels[column] = tags
                elif kind == "value":
                    try:
                        number = float(value)
                    except ValueError:
                        raise LabelsError(f"{where}: {column!r} must be a number, got {value!r}") from None
                    if not math.isfinite(number):
                        raise LabelsError(f"{where}: {column!r} must be finite, got {value!r}")
                    record.labels[column] = number
                elif kind in ("class", "group"):
                    record.labels[column] = value
            records.append(record)
    if not records:
        raise LabelsError(f"{csv_path}: no rows below the header; add one row per audio file")
    splits = {r.split is not None for r in records}
    if len(splits) > 1:
        missing = next(r for r in records if r.split is None)
        raise LabelsError(
            f"{csv_path}:{seen[missing.key]} ({missing.key}): no split, but other rows have one; "
            "give every row a split or remove the column"
        )
    return records, label_columns(header, kinds)


def example_key(key: str, segment=None) -> str:
    """A record's unique key in the dataset: the file's key, with '#index' for a segment (index, start, end)."""
    return key if segment is None else f"{key}#{segment[0]:05d}"


def _undecodable(text: str) -> bool:
    """Whether a cell held bytes that are not UTF-8 (read as lone surrogates)."""
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def class_names(records: list[Record], column: str) -> list[str]:
    """The label vocabulary of a class or multilabel column, sorted."""
    names: set[str] = set()
    for r in records:
        value = r.labels.get(column)
        if isinstance(value, tuple):
            names.update(value)
        elif value is not None:
            names.add(value)
    return sorted(names)
