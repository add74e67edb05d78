"""Where embeddings land on disk, in files downstream teams open without us, and how a killed job's
output is recovered.

Parquet (the default): OUT/scene/part-NNNNN.parquet (one row per file: path, duration_s, n_windows,
embedding) and, when window embeddings are asked for, OUT/windows/part-NNNNN.parquet (one row per window:
path, window, start_s, end_s, embedding). Every row also carries the input file's size_bytes and mtime_ns
as they were when it was embedded, so that a rerun notices a changed file and replaces its rows.
`pandas.read_parquet("OUT/scene")`, pyarrow, polars, DuckDB and Spark read a folder of parts as one table.
Rows are first appended to an Arrow IPC stream journal
(OUT/.journal/TABLE.arrows), flushed after every device batch: a kill loses at most the batch in flight,
and the next run turns what the journal holds into a part before it goes on.

NPZ: OUT/npz/<the input's relative path>.npz per file (embedding, window_embeddings, window_start_s,
window_end_s, duration_s), each written to a temporary name and renamed, so it exists only when complete.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ssl_audio.errors import BadValueError

FORMATS = ("parquet", "npz")
JOURNAL_DIR = ".journal"
ROWS_PER_PART = 50_000


# What the input file was when it was embedded, (size in bytes, mtime in ns): a rerun re-embeds a file whose
# stamp changed. (-1, -1): not known (rows written before stamps were recorded); such a row is kept as it is.
UNKNOWN_STAMP = (-1, -1)
STAMP_COLUMNS = ("size_bytes", "mtime_ns")


def table_schema(table: str, dim: int) -> pa.Schema:
    vector = pa.list_(pa.float32(), dim)
    stamp = [(name, pa.int64()) for name in STAMP_COLUMNS]
    if table == "scene":
        return pa.schema(
            [("path", pa.string()), ("duration_s", pa.float64()), ("n_windows", pa.int32()), ("embedding", vector)]
            + stamp
        )
    return pa.schema(
        [
            ("path", pa.string()),
            ("window", pa.int32()),
            ("start_s", pa.float64()),
            ("end_s", pa.float64()),
            ("embedding", vector),
        ]
        + stamp
    )


def _vectors(rows: np.ndarray, dim: int) -> pa.FixedSizeListArray:
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(rows, np.float32).reshape(-1)), dim)


def record_stamp(record: tuple) -> tuple[int, int]:
    """A record is (key, Embeddings) or (key, Embeddings, stamp): the input file's stamp, or UNKNOWN_STAMP."""
    return tuple(record[2]) if len(record) > 2 else UNKNOWN_STAMP


def _stamp_arrays(stamps: list[tuple[int, int]]) -> list[pa.Array]:
    cols = np.asarray(stamps, np.int64).reshape(-1, 2)
    return [pa.array(cols[:, 0]), pa.array(cols[:, 1])]


# A part is written a row group at a time, each of about this many bytes: compacting a journal (a run's
# window rows, however long its files) then holds one row group, not the whole journal.
ROW_GROUP_BYTES = 32 << 20


def write_parquet(path: Path, data: pa.Table | Iterable[pa.RecordBatch], schema: pa.Schema | None = None) -> None:
    """A Parquet file that exists only when complete: written under a temporary name of this writer's own
    (two attempts of one Beam task may write the same part at once), then renamed into place. `data`: a
    table, or record batches (with their `schema`) streamed in row groups of about ROW_GROUP_BYTES."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    if isinstance(data, pa.Table):
        pq.write_table(data, tmp, compression="snappy")
    else:
        with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
            group, size = [], 0
            for batch in data:
                group.append(batch)
                size += batch.nbytes
                if size >= ROW_GROUP_BYTES:
                    writer.write_table(pa.Table.from_batches(group, schema=schema))
                    group, size = [], 0
            if group:
                writer.write_table(pa.Table.from_batches(group, schema=schema))
    tmp.replace(path)


def record_batch(table: str, dim: int, records: list[tuple]) -> pa.RecordBatch:
    schema = table_schema(table, dim)
    if table == "scene":
        return pa.RecordBatch.from_arrays(
            [
                pa.array([r[0] for r in records], pa.string()),
                pa.array([r[1].duration for r in records], pa.float64()),
                pa.array([len(r[1].windows) for r in records], pa.int32()),
                _vectors(np.stack([r[1].scene for r in records]) if records else np.zeros((0, dim)), dim),
                *_stamp_arrays([record_stamp(r) for r in records]),
            ],
            schema=schema,
        )
    paths, index, starts, ends, vectors, stamps = [], [], [], [], [], []
    for record in records:
        key, e = record[0], record[1]
        paths += [key] * len(e.windows)
        stamps += [record_stamp(record)] * len(e.windows)
        index.append(np.arange(len(e.windows), dtype=np.int32))
        starts.append(e.starts)
        ends.append(e.ends)
        vectors.append(e.windows)
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(paths, pa.string()),
            pa.array(cat(index, np.int32)),
            pa.array(cat(starts, np.float64)),
            pa.array(cat(ends, np.float64)),
            _vectors(np.concatenate(vectors) if vectors else np.zeros((0, dim)), dim),
            *_stamp_arrays(stamps),
        ],
        schema=schema,
    )


def _read_journal(path: Path) -> list[pa.RecordBatch]:
    """Every complete record batch of a journal; a batch cut short by a kill is dropped."""
    return list(_journal_batches(path))


def _journal_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """`_read_journal` one batch at a time (compaction streams a journal into a part)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with pa.OSFile(str(path), "rb") as f:
            reader = pa.ipc.open_stream(f)
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                yield batch
    except (pa.ArrowInvalid, OSError, EOFError):
        pass  # the tail was being written when the job died


def _with_stamps(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A journal batch written before stamps were recorded, with UNKNOWN_STAMP columns."""
    for name, value in zip(STAMP_COLUMNS, UNKNOWN_STAMP):
        if name not in batch.schema.names:
            batch = batch.append_column(name, pa.array(np.full(batch.num_rows, value, np.int64)))
    return batch


class ParquetStore:
    """Tables of parts plus journals; `primary` is the table whose rows mark a file as done."""

    def __init__(self, out: Path, dim: int, tables: tuple[str, ...], rows_per_part: int = ROWS_PER_PART):
        self.out, self.dim, self.tables, self.rows_per_part = Path(out), dim, tables, rows_per_part
        self.primary = tables[0]
        self._writers: dict[str, tuple] = {}
        self._journal_rows = 0

    # Written last in a commit, so a file is done only once all its rows are in.
    @property
    def write_order(self) -> tuple[str, ...]:
        return tuple(t for t in self.tables if t != self.primary) + (self.primary,)

    def _parts(self, table: str) -> list[Path]:
        return sorted((self.out / table).glob("part-*.parquet"))

    def _journal(self, table: str) -> Path:
        return self.out / JOURNAL_DIR / f"{table}.arrows"

    def stamps_of(self, keys) -> dict[str, tuple[int, int]]:
        """The recorded stamps of these done files."""
        keys = set(keys)
        return {k: v for k, v in self.stamps().items() if k in keys}

    def _paths_in_parts(self, table: str) -> set[str]:
        done: set[str] = set()
        for part in self._parts(table):
            done.update(pq.read_table(part, columns=["path"]).column("path").to_pylist())
        return done

    def upgrade(self) -> int:
        """Parts written before stamps were recorded get the stamp columns, filled with UNKNOWN_STAMP, so every
        part of a table has one schema (readers of the folder see one table). Returns the parts rewritten."""
        rewritten = 0
        for table in self.tables:
            for part in self._parts(table):
                if set(STAMP_COLUMNS) <= set(pq.read_schema(part).names):
                    continue
                data = pq.read_table(part)
                for name, value in zip(STAMP_COLUMNS, UNKNOWN_STAMP):
                    data = data.append_column(name, pa.array(np.full(data.num_rows, value, np.int64)))
                self._rewrite_part(part, data.select(table_schema(table, self.dim).names))
                rewritten += 1
        return rewritten

    def stamps(self) -> dict[str, tuple[int, int]]:
        """Each done file's stamp as recorded in the primary table."""
        out = {}
        for part in self._parts(self.primary):
            data = pq.read_table(part, columns=["path", *STAMP_COLUMNS]).to_pydict()
            out.update(zip(data["path"], zip(data[STAMP_COLUMNS[0]], data[STAMP_COLUMNS[1]])))
        return out

    def remove(self, keys: set[str]) -> int:
        """Drops every row of these files from every table, the primary last: a kill in between leaves each
        file done with its old stamp, so the next run finds it changed again and finishes the removal (the
        other order would leave window rows beside the new ones). Returns the rows dropped."""
        return sum(self._filter_parts(t, lambda path: path not in keys) for t in self.write_order)

    def _filter_parts(self, table: str, keep_path) -> int:
        dropped = 0
        for part in self._parts(table):
            data = pq.read_table(part)
            kept = data.filter(pa.array([keep_path(p) for p in data.column("path").to_pylist()], pa.bool_()))
            if kept.num_rows < data.num_rows:
                dropped += data.num_rows - kept.num_rows
                self._rewrite_part(part, kept)
        return dropped

    def _rewrite_part(self, part: Path, data: pa.Table) -> None:
        write_parquet(part, data)

    def open(self, keys: list[str] | None = None) -> set[str]:
        """Recovers what a killed run left in the journals; returns the paths already done."""
        self.upgrade()
        done = self._paths_in_parts(self.primary)
        journals = {table: [_with_stamps(b) for b in _read_journal(self._journal(table))] for table in self.tables}
        # Done by the killed run: in its primary journal and not already in a part (a compaction cut short).
        keep = {p for batch in journals[self.primary] for p in batch.column("path").to_pylist()} - done
        recovered: dict[str, list[pa.RecordBatch]] = {}
        for table in self.tables:
            in_parts = done if table == self.primary else self._paths_in_parts(table)
            rows = []
            for batch in journals[table]:
                mask = [p in keep and p not in in_parts for p in batch.column("path").to_pylist()]
                if any(mask):
                    rows.append(batch.filter(pa.array(mask)))
            recovered[table] = rows
        self._journals_to_parts(recovered)
        return done | keep

    def append(self, records: list[tuple]) -> None:
        """Records of (key, Embeddings) or (key, Embeddings, stamp), flushed to the journal before returning."""
        if not records:
            return
        for table in self.write_order:
            batch = record_batch(table, self.dim, records)
            sink, writer = self._writer(table)
            writer.write_batch(batch)
            sink.flush()
            os.fsync(sink.fileno())
        self._journal_rows += len(records)
        if self._journal_rows >= self.rows_per_part:
            self._compact()

    def _writer(self, table: str):
        if table not in self._writers:
            path = self._journal(table)
            path.parent.mkdir(parents=True, exist_ok=True)
            sink = open(path, "wb")
            self._writers[table] = (sink, pa.ipc.new_stream(sink, table_schema(table, self.dim)))
        return self._writers[table]

    def _close_writers(self) -> None:
        for sink, writer in self._writers.values():
            writer.close()
            sink.close()
        self._writers = {}

    def _compact(self) -> None:
        """Journals -> one new part per table, streamed a row group at a time; then the journals go."""
        self._close_writers()
        self._journals_to_parts({table: _journal_batches(self._journal(table)) for table in self.tables})
        self._journal_rows = 0

    def _journals_to_parts(self, batches: dict[str, Iterable[pa.RecordBatch]]) -> None:
        """Writes each table's batches as a new part, the primary table last, then removes the journals: a
        kill in between leaves rows in both, which the next `open` counts once."""
        for table in self.write_order:
            stream = iter(batches[table])
            first = next(stream, None)
            if first is not None:
                schema = table_schema(table, self.dim)
                write_parquet(self._next_part(table), itertools.chain([first], stream), schema)
        shutil.rmtree(self.out / JOURNAL_DIR, ignore_errors=True)

    def _next_part(self, table: str) -> Path:
        folder = self.out / table
        folder.mkdir(parents=True, exist_ok=True)
        parts = self._parts(table)
        number = int(parts[-1].stem.split("-")[1]) + 1 if parts else 0
        return folder / f"part-{number:05d}.parquet"

    def adopt(self, table: str, files: list[Path]) -> None:
        """Moves complete Parquet files written elsewhere (a Beam run's staging folder, on the same
        filesystem) in as the table's next parts. Callers adopt the primary table last: a file is done
        once its primary row is in."""
        for file in files:
            os.replace(file, self._next_part(table))

    def drop_orphans(self) -> int:
        """Removes rows of the other tables whose file has no row in the primary table: left by a run killed
        between adopting one table's parts and the primary's. Those files are embedded again, so keeping
        the rows would list them twice. Returns the number of rows dropped."""
        done = self._paths_in_parts(self.primary)
        return sum(self._filter_parts(t, done.__contains__) for t in self.tables if t != self.primary)

    def close(self) -> None:
        self._compact()


def npz_name(key: str) -> PurePosixPath:
    """The .npz path for an input key, inside OUT/npz: absolute paths lose their root, '..' becomes '__'."""
    parts = [("__" if p == ".." else p) for p in PurePosixPath(key.replace(os.sep, "/")).parts if p not in ("/", ".")]
    return PurePosixPath(*parts).with_name(parts[-1] + ".npz")


class NpzStore:
    def __init__(self, out: Path, dim: int, tables: tuple[str, ...]):
        self.out, self.dim, self.tables = Path(out), dim, tables

    def _file(self, key: str) -> Path:
        return self.out / "npz" / npz_name(key)

    def open(self, keys: list[str] | None = None) -> set[str]:
        return {k for k in (keys or []) if self._file(k).exists()}

    def stamp(self, key: str) -> tuple[int, int]:
        """The stamp recorded in a done file's NPZ (reads only that entry), UNKNOWN_STAMP if it has none."""
        with np.load(self._file(key)) as data:
            return tuple(int(x) for x in data["stamp"]) if "stamp" in data.files else UNKNOWN_STAMP

    def stamps_of(self, keys) -> dict[str, tuple[int, int]]:
        return {k: self.stamp(k) for k in keys}

    def remove(self, keys: set[str]) -> int:
        for key in keys:
            self._file(key).unlink(missing_ok=True)
        return len(keys)

    def append(self, records: list[tuple]) -> None:
        for record in records:
            key, e = record[0], record[1]
            arrays = {"path": np.array(key), "duration_s": np.float64(e.duration)}
            arrays["stamp"] = np.array(record_stamp(record), np.int64)  # [size_bytes, mtime_ns] of the input
            if "scene" in self.tables:
                arrays["embedding"] = e.scene
            if "windows" in self.tables:
                arrays.update(window_embeddings=e.windows, window_start_s=e.starts, window_end_s=e.ends)
            final = self._file(key)
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name("." + final.name + ".tmp")
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
            tmp.replace(final)

    def close(self) -> None:
        pass


def open_store(fmt: str, out: Path, dim: int, tables: tuple[str, ...]):
    if fmt == "parquet":
        return ParquetStore(out, dim, tables)
    if fmt == "npz":
        return NpzStore(out, dim, tables)
    raise BadValueError(f"--format: one of {', '.join(FORMATS)}, got {fmt!r}")


OUTPUT_NAMES = ("scene", "windows", "npz", JOURNAL_DIR)  # what --overwrite may remove, besides the manifest
