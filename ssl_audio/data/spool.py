"""Records on disk: a catalogue written once as JSON lines, read back one record at a time.

What lets `prepare` handle a folder of millions of files in bounded memory: the driver streams the
listing into a spool (counting records per split as it goes) and every later pass (the build, Beam's
input) reads the spool rather than a list of Records. File names travel as `paths.to_wire` text, so a
name that is not valid UTF-8 survives the round trip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ssl_audio.audio.paths import from_wire, to_wire
from ssl_audio.data.labels import Record


def record_to_json(record: Record, **extra) -> str:
    labels = {k: list(v) if isinstance(v, tuple) else v for k, v in record.labels.items()}
    row = {**extra, "path": to_wire(record.path), "key": record.key, "labels": labels, "split": record.split}
    if record.segment is not None:
        row["segment"] = list(record.segment)
    return json.dumps(row, ensure_ascii=False)


def record_from_json(line: str) -> Record:
    row = json.loads(line)
    labels = {k: tuple(v) if isinstance(v, list) else v for k, v in row["labels"].items()}
    segment = tuple(row["segment"]) if row.get("segment") else None
    return Record(path=from_wire(row["path"]), key=row["key"], labels=labels, split=row.get("split"), segment=segment)


class RecordSpool:
    """Records in a JSON-lines file, in the order they were written, with the count per split."""

    def __init__(self, path: str | os.PathLike, counts: dict[str, int]):
        self.path = Path(path)
        self.counts = dict(counts)

    @classmethod
    def write(cls, records: Iterable[Record], path: str | os.PathLike) -> RecordSpool:
        counts: dict[str, int] = {}
        with open(path, "w", encoding="utf-8") as f:
            for record in records:
                f.write(record_to_json(record) + "\n")
                counts[record.split] = counts.get(record.split, 0) + 1
        return cls(path, counts)

    def __len__(self) -> int:
        return sum(self.counts.values())

    def __iter__(self) -> Iterator[Record]:
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                yield record_from_json(line)

    def split(self, name: str) -> Iterator[Record]:
        return (r for r in self if r.split == name)
