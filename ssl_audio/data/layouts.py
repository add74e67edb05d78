"""Folder layouts -> a Catalog (records + which label columns they carry).

- `folder`: any folder of audio; with `labels.csv` it is labelled, without it
  it is unlabelled audio for pretraining.
- `gtzan`: `genres/<genre>/<name>.wav` (or `genres_original/...`), genre from the folder.
- `mtt`: MagnaTagATune, `annotations_final.csv` + the mp3 folders `0`..`f`;
  the 50 most frequent tags, split by folder as is usual (0-b train, c validation, d-f test).

Nothing is downloaded: each layout reads only local files.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

from ssl_audio.audio.decode import is_audio_file
from ssl_audio.audio.paths import printable
from ssl_audio.audio.scan import find_audio_files, iter_audio_files, no_audio_error
from ssl_audio.data.labels import COLUMN_KINDS, ColumnMap, LabelsError, Record, read_labels_csv
from ssl_audio.errors import BadValueError, MissingInputError
from ssl_audio.text import plural

LAYOUTS = ("auto", "folder", "gtzan", "mtt")
MTT_ANNOTATIONS = "annotations_final.csv"
MTT_TOP_TAGS = 50


@dataclasses.dataclass
class Catalog:
    root: str
    layout: str
    # The records, held; or None for a catalogue that is streamed: then `stream()` yields them, in key order,
    # each time it is called (an unlabelled folder: nothing about one file depends on another, so no pass
    # needs them all at once, and a folder of millions is listed in bounded memory).
    records: list[Record] | None
    columns: list[str]  # label columns present, e.g. ["genre", "artist"]
    notes: list[str] = dataclasses.field(default_factory=list)  # things the user should know
    kinds: dict[str, str] = dataclasses.field(default_factory=dict)  # column -> class|multilabel|value|group
    # Audio files under the folder that the labels do not name: left out, and listed as such.
    unlisted: list[dict] = dataclasses.field(default_factory=list)

    stream_root: str | None = None  # set when records is None: the folder `stream()` walks

    def __post_init__(self):
        self.kinds = {c: self.kinds.get(c) or COLUMN_KINDS[c] for c in self.columns}

    def stream(self) -> Iterator[Record]:
        """Every record, one at a time: from the held list, or from a fresh walk of the folder."""
        if self.records is not None:
            return iter(self.records)
        root = self.stream_root
        return (
            Record(path=p, key=printable(os.path.relpath(p, root).replace(os.sep, "/"))) for p in iter_audio_files(root)
        )

    @property
    def labelled(self) -> bool:
        return bool(self.columns)


def detect_layout(root: Path) -> str:
    if (root / MTT_ANNOTATIONS).exists():
        return "mtt"
    if (root / "labels.csv").exists():
        return "folder"
    for sub in ("genres", "genres_original"):
        if (root / sub).is_dir() and any(p.is_dir() for p in (root / sub).iterdir()):
            return "gtzan"
    return "folder"


def load_catalog(root: str | os.PathLike, layout: str = "auto", column_map: ColumnMap = ColumnMap()) -> Catalog:
    root = Path(root).resolve()
    if not root.is_dir():
        raise MissingInputError(f"{printable(root)}: not a directory (give the folder that holds your audio)")
    if layout not in LAYOUTS:
        raise BadValueError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if layout == "auto":
        layout = detect_layout(root)
    if layout != "folder" and (column_map.rename or column_map.custom or column_map.ignore):
        raise BadValueError(
            f"--column and --ignore-column read a folder's labels.csv; the {layout} layout has "
            f"its own labels (drop them, or pass --layout folder)"
        )
    if layout == "folder":
        return _folder(root, column_map)
    return {"gtzan": _gtzan, "mtt": _mtt}[layout](root)


UNLISTED_REASON = "no row in labels.csv, so left out (add a row for it, or move it out of the folder)"


def _folder(root: Path, column_map: ColumnMap = ColumnMap()) -> Catalog:
    csv_path = root / "labels.csv"
    if csv_path.exists():
        records, columns = read_labels_csv(csv_path, column_map=column_map)
        named = {os.path.normcase(os.path.abspath(r.path)) for r in records}
        unlisted = [
            {"path": printable(p), "reason": UNLISTED_REASON}
            for p in find_audio_files(root)
            if os.path.normcase(os.path.abspath(p)) not in named
        ]
        return Catalog(printable(root), "folder", records, columns, kinds=column_map.kinds(), unlisted=unlisted)
    if next(iter_audio_files(root), None) is None:
        raise no_audio_error(root, "--input ")
    return Catalog(
        printable(root),
        "folder",
        None,
        [],
        notes=["no labels.csv: unlabelled audio (for pretraining)"],
        stream_root=str(root),
    )


def _gtzan(root: Path) -> Catalog:
    base = next(root / s for s in ("genres", "genres_original") if (root / s).is_dir())
    records = []
    for genre_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(genre_dir.iterdir()):
            if f.is_file() and is_audio_file(f):
                records.append(
                    Record(path=str(f), key=printable(f.relative_to(root)), labels={"genre": genre_dir.name})
                )
    if not records:
        raise MissingInputError(f"{base}: no audio under genres/<genre>/ (expected the usual GTZAN layout)")
    notes = [
        "GTZAN has no artist column: splits are by file and repeat artists can leak across them; "
        "for the fault-filtered split, add a labels.csv with a 'split' column"
    ]
    return Catalog(printable(root), "gtzan", records, ["genre"], notes)


def _mtt_artist(mp3_path: str) -> str:
    # MTT file names are "<artist>-<album>-<track>-<start>-<end>.mp3".
    return Path(mp3_path).name.split("-", 1)[0]


def _mtt_split(mp3_path: str) -> str:
    folder = mp3_path.split("/", 1)[0].lower()
    if folder in "0123456789ab" and len(folder) == 1:
        return "train"
    if folder == "c":
        return "validation"
    if folder in ("d", "e", "f"):
        return "test"
    raise LabelsError(f"{mp3_path}: MTT clips live in folders 0-9 and a-f; cannot place folder {folder!r} in a split")


def _mtt(root: Path) -> Catalog:
    ann = root / MTT_ANNOTATIONS
    with open(ann, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        header = next(reader)
        if "mp3_path" not in header or "clip_id" not in header:
            raise LabelsError(f"{ann}:1: expected tab-separated columns clip_id, <tags...>, mp3_path")
        path_col = header.index("mp3_path")
        tag_cols = [i for i, h in enumerate(header) if h not in ("clip_id", "mp3_path")]
        rows = []
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise LabelsError(f"{ann}:{line_no}: {len(row)} fields, header has {len(header)}")
            rows.append(row)
    counts = collections.Counter()
    for row in rows:
        counts.update(header[i] for i in tag_cols if row[i].strip() == "1")
    # Most frequent first; ties broken by name so the vocabulary is deterministic.
    top = sorted(counts, key=lambda t: (-counts[t], t))[:MTT_TOP_TAGS]
    top_set = set(top)
    records, missing = [], 0
    for row in rows:
        rel = row[path_col].strip()
        full = root / rel
        if not full.exists():
            missing += 1
            continue
        tags = tuple(sorted(header[i] for i in tag_cols if row[i].strip() == "1" and header[i] in top_set))
        records.append(
            Record(path=str(full), key=rel, split=_mtt_split(rel), labels={"tags": tags, "artist": _mtt_artist(rel)})
        )
    notes = [f"MagnaTagATune: top-{len(top)} tags, split by folder (0-b train, c validation, d-f test)"]
    if missing:
        notes.append(f"{plural(missing, 'clip')} in {MTT_ANNOTATIONS} have no file under {root} and were left out")
    if not records:
        raise MissingInputError(f"{root}: none of the mp3 files named in {MTT_ANNOTATIONS} exist")
    return Catalog(printable(root), "mtt", records, ["tags", "artist"], notes)
