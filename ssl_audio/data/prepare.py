"""`ssl-audio prepare`: a folder of audio -> a TFDS dataset that every stage reads by name.

Reuses what is built: the same inputs and settings give the same fingerprint,
and a dataset with that fingerprint is not built again. A dataset of the same
name built from something else is never replaced without `--overwrite`.
Bad files (and audio files the labels do not name) are skipped and listed in
`bad_files.tsv` beside the dataset.

Nothing half-made is ever left where readers look: the dataset is built in a
staging folder under the data dir, its sidecar written last, and only then moved
into place (replacing an older build only at that moment, when asked). A build
that fails leaves the data dir as it was, so the same command can simply be rerun.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

from ssl_audio.audio.decode import DecodeOptions, file_stamp
from ssl_audio.audio.paths import printable
from ssl_audio.audio.scan import bad_lines, write_bad_list
from ssl_audio.audio.stream import native_seconds, segment_bounds
from ssl_audio.data.labels import SPLITS, ColumnMap, Record
from ssl_audio.data.layouts import load_catalog
from ssl_audio.data.location import BAD_LIST, DATASET_VERSION, SIDECAR, dataset_path
from ssl_audio.data.spill import bound_writer_memory
from ssl_audio.data.splits import assign_splits, find_leaks, record_groups
from ssl_audio.data.spool import RecordSpool
from ssl_audio.errors import BadValueError, OutputExistsError
from ssl_audio.text import files_and_segments, plural

STAGING = ".ssl_audio_staging"
DEFAULT_SEGMENT_SECONDS = 60.0


def validate_name(name: str) -> str:
    if not name or not all(c.isalnum() or c == "_" for c in name) or not name[0].isalpha() or name != name.lower():
        raise BadValueError(f"--name {name!r}: use lower-case letters, digits and '_', starting with a letter")
    return name


@dataclasses.dataclass
class PrepareOptions:
    name: str
    data_dir: str
    layout: str = "auto"
    group_by: str = "artist"
    fractions: tuple[float, float, float] | None = None  # None: 0.8/0.1/0.1 if labelled, all-train if not
    split_seed: int = 0
    decode: DecodeOptions = DecodeOptions()
    workers: int | None = None
    columns: ColumnMap = ColumnMap()
    # None: decode in this process's pool. A runner name (ssl_audio.beam.runner.RUNNERS): TFDS's Beam path,
    # the same dataset (what a file becomes does not depend on the engine, so neither does the fingerprint).
    runner: str | None = None
    beam_options: tuple[str, ...] = ()
    dask_address: str | None = None  # runner "dask": a running scheduler, else a LocalCluster of dask_workers
    dask_workers: int | None = None
    progress: bool = True
    # Files longer than this are stored as records of at most this length (equal segments): a record, and so
    # a pretraining batch, stays bounded whatever a file's length, and crops are drawn in proportion to
    # duration. Each segment keeps its file's key, labels and split.
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS


@dataclasses.dataclass
class PrepareResult:
    path: Path
    reused: bool
    layout: str
    splits: dict[str, int]  # records (segments)
    columns: list[str]
    hours: float
    bad_files: int
    notes: list[str]
    bad: list[dict] = dataclasses.field(default_factory=list)
    files: dict[str, int] | None = None  # files per split (None: a dataset built before files were counted)

    def lines(self) -> list[str]:
        verb = "reused" if self.reused else "built"
        files = self.files or {}

        def counted(split: str, records: int) -> str:
            if split not in files:
                return plural(records, "record")
            return files_and_segments({"files": files[split], "segments": records})

        out = [
            f"prepare: {verb} {self.path}",
            f"  layout {self.layout}; label columns: {', '.join(self.columns) or 'none (unlabelled)'}",
            "  splits: " + ", ".join(f"{k} {counted(k, v)}" for k, v in self.splits.items()) + f"; {self.hours:.2f} h",
            f"  bad files skipped: {self.bad_files}"
            + (f" (listed in {self.path / BAD_LIST})" if self.bad_files else ""),
        ]
        out += bad_lines(self.bad, self.path / BAD_LIST)
        out += [f"  note: {n}" for n in self.notes]
        return out


class _Fingerprint:
    """What decides whether a dataset must be built again: the settings, then per file (in key order) its
    key, size, mtime, split and labels. Cheap metadata only: no file is read."""

    def __init__(self, opt: PrepareOptions, layout: str):
        self.hash = hashlib.sha256()
        settings = {
            "layout": layout,
            "decode": dataclasses.asdict(opt.decode),
            "version": DATASET_VERSION,
            "columns": dataclasses.asdict(opt.columns),
        }
        if opt.segment_seconds != DEFAULT_SEGMENT_SECONDS:  # at the default, datasets built before keep theirs
            settings["segment_seconds"] = opt.segment_seconds
        self.hash.update(json.dumps(settings, sort_keys=True).encode())

    def add(self, r: Record) -> Record:
        size, mtime = file_stamp(r.path)  # (-1, -1) for a broken link: the build lists it as bad
        self.hash.update(json.dumps([r.key, size, mtime, r.split, sorted(r.labels.items())], default=list).encode())
        return r

    def hexdigest(self) -> str:
        return self.hash.hexdigest()


def dataset_fingerprint(records: list[Record], opt: PrepareOptions, layout: str) -> str:
    fingerprint = _Fingerprint(opt, layout)
    for r in sorted(records, key=lambda r: r.key):
        fingerprint.add(r)
    return fingerprint.hexdigest()


def streamable(catalog, opt: PrepareOptions) -> bool:
    """Whether prepare can stream this catalogue instead of holding it: an unlabelled folder put wholly in
    train. (Splitting by group needs every group's files at once, and labels need their vocabularies.)"""
    return catalog.records is None and (opt.fractions is None or opt.fractions == (1.0, 0.0, 0.0))


def spool_catalog(catalog, opt: PrepareOptions, spool_path: Path, tally: dict | None = None) -> tuple[RecordSpool, str]:
    """Streams an unlabelled catalogue into a spool on disk, all in train, fingerprinting each file on the way:
    the driver's memory does not grow with the number of files (`ssl-audio bench listing`). The stream comes
    in key order, so the fingerprint is the one `dataset_fingerprint` gives the same files held in a list."""
    fingerprint = _Fingerprint(opt, catalog.layout)

    def records():
        for r in catalog.stream():
            r.split = "train"
            yield from segmented([fingerprint.add(r)], opt.segment_seconds, tally)

    spool = RecordSpool.write(records(), spool_path)
    return spool, fingerprint.hexdigest()


def segmented(records, segment_seconds: float, tally: dict | None = None):
    """Each record, or for a file longer than `segment_seconds` (by its header; no audio is read) its
    segments, in order. `tally` counts the files split and their segments."""
    for r in records:
        seconds = native_seconds(r.path)
        if seconds <= segment_seconds:
            yield r
            continue
        bounds = segment_bounds(seconds, segment_seconds)
        if tally is not None:
            tally["files"] = tally.get("files", 0) + 1
            tally["segments"] = tally.get("segments", 0) + len(bounds)
        for index, (start, end) in enumerate(bounds):
            yield dataclasses.replace(r, segment=(index, start, end))


def held_records(catalog, opt: PrepareOptions) -> list[Record]:
    """The catalogue as a list (labelled, or split by group): what split assignment needs."""
    return catalog.records if catalog.records is not None else list(catalog.stream())


def split_records(records: list[Record], catalog, opt: PrepareOptions, notes: list[str]) -> None:
    """Splits: as given by a split column (validation carved out of train by group if --splits asks), or
    made by group."""
    given = {r.split for r in records}
    class_columns = [c for c in catalog.columns if catalog.kinds.get(c) == "class"]
    # genre when there is one, else the first class column: a split without a class cannot score that task
    stratify = "genre" if "genre" in class_columns else next(iter(class_columns), None)
    if None not in given:
        if opt.fractions is not None:
            if "validation" in given:
                raise BadValueError(
                    "--splits: the labels already give train, validation and test (a split column), so there "
                    "is nothing for --splits to decide; drop --splits, or remove the split column"
                )
            train = [r for r in records if r.split == "train"]
            share = opt.fractions[1] / max(opt.fractions[0] + opt.fractions[1], 1e-12)
            assign_splits(
                train,
                group_by=opt.group_by,
                fractions=(1.0 - share, share, 0.0),
                seed=opt.split_seed,
                stratify_by=stratify,
            )
            carved = sum(r.split == "validation" for r in train)
            notes.append(
                f"--splits: validation ({plural(carved, 'clip')}) carved out of the given train split by "
                f"{opt.group_by}; the given test split kept as it is"
            )
        leaks = find_leaks(record_groups(records, opt.group_by))
        if leaks:
            first = next(iter(leaks))
            notes.append(
                f"the given splits put {len(leaks)} {opt.group_by} value(s) in more than one split "
                f"(e.g. {first!r} in {', '.join(leaks[first])}); kept as given"
            )
        notes += missing_class_notes(records, class_columns)
        return
    fractions = opt.fractions or ((0.8, 0.1, 0.1) if catalog.labelled else (1.0, 0.0, 0.0))
    if opt.group_by not in catalog.columns and fractions != (1.0, 0.0, 0.0):
        notes.append(
            f"no {opt.group_by!r} column: each file is its own group "
            "(add one, or pass --group-by COLUMN, to keep an artist out of two splits)"
        )
    assign_splits(records, group_by=opt.group_by, fractions=fractions, seed=opt.split_seed, stratify_by=stratify)
    notes += missing_class_notes(records, class_columns)


def missing_class_notes(records: list[Record], columns: list[str]) -> list[str]:
    """A note per split that lacks some class of a class column: a probe's metric on it then means little
    (too few groups to spread every class over every split)."""
    notes = []
    for column in columns:
        everywhere = sorted({str(r.labels[column]) for r in records if column in r.labels})
        for split in SPLITS:
            present = {str(r.labels[column]) for r in records if r.split == split and column in r.labels}
            missing = [c for c in everywhere if c not in present]
            if present and missing:
                shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                notes.append(
                    f"warning: the {split} split has no {column} {shown} ({len(present)} of {len(everywhere)} "
                    f"classes): too few groups to spread every class; add files, or set --splits or a split column"
                )
    return notes


@contextlib.contextmanager
def _engine(opt: PrepareOptions):
    """Beam's options (and, for Dask, its cluster) while TFDS builds; None: in this process."""
    if not opt.runner:
        yield None
        return
    from ssl_audio.beam.runner import engine

    with engine(opt.runner, list(opt.beam_options), opt.dask_address, opt.dask_workers) as options:
        yield options


class EmptySplitError(BadValueError):
    """A split whose every file is bad: TFDS cannot write an empty split, and a probe could not use one."""


def empty_split_error(split: str, bad: list[dict], files: int) -> EmptySplitError:
    """One line: the split, its files, the first bad files' reasons (`bad`: some or all of them)."""
    shown = "; ".join(f"{b['path']}: {b['reason']}" for b in bad[:3]) + (
        f"; and {files - min(len(bad), 3)} more" if files > min(len(bad), 3) else ""
    )
    return EmptySplitError(
        f"the {split} split has no usable file: {plural(files, 'file')}, every one bad ({shown}). Replace or "
        "remove them (`ssl-audio scan` lists every reason), or give every split good files with --splits or a "
        "split column in labels.csv"
    )


def check_splits_readable(records: list[Record], options: DecodeOptions) -> None:
    """Before anything is written: a split whose files all lack a readable audio header (empty, missing,
    not audio, a broken link) is refused with the reasons. Headers only: a file that decodes badly past its
    header (truncated, silent) is found by the build itself (see prepare)."""
    from ssl_audio.audio.scan import check_file
    from ssl_audio.audio.stream import native_info

    for split in SPLITS:
        paths = list(dict.fromkeys(r.path for r in records if r.split == split))
        if paths and all(native_info(path) is None for path in paths):
            reports = [check_file((path, options)) for path in paths[:3]]  # unreadable: each fails at once
            bad = [{"path": r.path, "reason": r.reason or "no readable audio header"} for r in reports]
            raise empty_split_error(split, bad, len(paths))


def _empty_split(err: AssertionError, records, bad: list[dict]) -> EmptySplitError | None:
    """TFDS's 'No examples were yielded' for a split, as the one-line error naming that split's bad files."""
    import re

    found = re.search(r'split "(\w+)": No examples were yielded', str(err))
    if not found:
        return None
    split = found.group(1)
    paths = (
        {printable(r.path) for r in records if r.split == split} if isinstance(records, list) else None
    )  # a spool: unlabelled, one split
    mine = [b for b in bad if paths is None or b["path"] in paths]
    return empty_split_error(split, mine, len(paths) if paths is not None else len(mine))


def per_file(bad: list[dict]) -> list[dict]:
    """One row per bad file, in order: a file stored as segments fails segment by segment (a silent track
    in every one of them), and is one bad file, its first reason with how many segments it held."""
    rows: dict[str, dict] = {}
    for b in bad:
        rows.setdefault(b["path"], {**b, "segments": 0})["segments"] += 1
    return [
        {
            "path": r["path"],
            "reason": r["reason"] if r["segments"] == 1 else f"{r['segments']} segments bad, the first: {r['reason']}",
        }
        for r in rows.values()
    ]


def split_files(records, bad: list[dict]) -> dict[str, int]:
    """Files per split that gave at least one record. `records`: a list or a spool, a file's segments
    consecutive (as `segmented` yields them), so a split is counted in one pass with no set of its files."""
    import itertools

    bad_segments: dict[str, int] = {}
    for b in bad:
        bad_segments[b["path"]] = bad_segments.get(b["path"], 0) + 1
    out = {}
    for split in SPLITS:
        rs = records.split(split) if isinstance(records, RecordSpool) else (r for r in records if r.split == split)
        count, seen = 0, False
        for path, group in itertools.groupby(printable(r.path) for r in rs):
            seen = True
            count += sum(1 for _ in group) > bad_segments.get(path, 0)
        if seen:
            out[split] = count
    return out


def prepare(input_dir: str | os.PathLike, opt: PrepareOptions, *, overwrite: bool = False) -> PrepareResult:
    validate_name(opt.name)
    catalog = load_catalog(input_dir, opt.layout, opt.columns)
    notes = list(catalog.notes)
    if opt.runner:
        from ssl_audio.beam.runner import check_engine

        check_engine(opt.runner, list(opt.beam_options), opt.dask_address, opt.dask_workers)  # before anything is built
    elif opt.dask_address or opt.dask_workers:
        raise BadValueError("--dask-address and --dask-workers go with --runner dask")

    data_dir = Path(opt.data_dir).expanduser()
    made_data_dir = not data_dir.exists()  # a run that ends in an error leaves no folder it made
    staging = data_dir / STAGING / f"{opt.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    remove_stale_staging(data_dir / STAGING)
    tally: dict[str, int] = {}
    try:
        if streamable(catalog, opt):
            staging.mkdir(parents=True)
            records, fingerprint = spool_catalog(catalog, opt, staging / "records.jsonl", tally)
        else:
            records = held_records(catalog, opt)
            split_records(records, catalog, opt, notes)
            check_splits_readable(records, opt.decode)
            fingerprint = dataset_fingerprint(records, opt, catalog.layout)
            records = list(segmented(records, opt.segment_seconds, tally))
        path = dataset_path(opt.name, opt.data_dir)
        sidecar = path / SIDECAR
        if path.exists():
            previous = json.loads(sidecar.read_text()) if sidecar.exists() else {}
            same = previous.get("fingerprint") == fingerprint and (path / "dataset_info.json").exists()
            slow = same and stored_as_int_list(path)
            if same and not (overwrite and slow):
                if slow:
                    notes.append(
                        "this dataset was built by an earlier ssl_audio that stored audio as a list of ints, "
                        "which reads about 20x slower than today's raw bytes; pass --overwrite to rebuild it"
                    )
                return _result(path, True, previous, notes)
            if not overwrite:
                source = previous.get("input", "unknown inputs (or an unfinished build)")
                raise OutputExistsError(
                    f"{path}: dataset {opt.name!r} already exists, built from {source} with other files or "
                    "settings; pick another --name, or pass --overwrite to rebuild it"
                )

        import tensorflow_datasets as tfds

        from ssl_audio.data.builder import AudioFolderConfig, SslAudioFolder  # TensorFlow: only when building

        side = staging / "beam-side" if opt.runner else None
        if side is not None:
            side.mkdir(parents=True)
        config = AudioFolderConfig(
            name=opt.name,
            description=f"ssl_audio prepare of {catalog.root} ({catalog.layout})",
            records=records,
            columns=catalog.columns,
            kinds=catalog.kinds,
            decode=opt.decode,
            workers=opt.workers,
            beam_side=str(side) if side else None,
            progress=opt.progress,
        )
        builder = SslAudioFolder(config=config, data_dir=str(staging), file_format="array_record")
        tfds.disable_progress_bar()  # its bars have no total or ETA; ours (builder.py) have both
        bound_writer_memory()  # spilled past 16 MB, without TensorFlow: memory bounded by neither data nor file
        try:
            with _engine(opt) as beam_options:
                builder.download_and_prepare(
                    download_config=tfds.download.DownloadConfig(
                        download_mode=tfds.download.GenerateMode.FORCE_REDOWNLOAD, beam_options=beam_options
                    )
                )
        except AssertionError as err:  # every file of a split failed past its header (truncated, silent, NaN)
            if side is not None:
                builder.collect_beam_side()
            empty = _empty_split(err, records, catalog.unlisted + builder.bad_files)
            if empty is None:
                raise
            raise empty from None
        if side is not None:
            builder.collect_beam_side()
        built = dataset_path(opt.name, staging)
        if tally:
            notes.append(
                f"{plural(tally['files'], 'file')} longer than --segment-seconds {opt.segment_seconds:g} stored "
                f"as {tally['segments']} segments (each keeps its file's key, labels and split)"
            )
        files = split_files(records, builder.bad_files)
        bad = catalog.unlisted + per_file(builder.bad_files)
        write_bad_list(bad, built / BAD_LIST)
        splits = {s: builder.info.splits[s].num_examples for s in SPLITS if s in builder.info.splits}
        summary = {
            "fingerprint": fingerprint,
            "input": catalog.root,
            "layout": catalog.layout,
            "columns": catalog.columns,
            "kinds": catalog.kinds,
            "sample_rate": opt.decode.sample_rate,
            "splits": splits,
            "files": files,
            "hours": builder.samples_written / opt.decode.sample_rate / 3600,
            "bad_files": len(bad),
            "bad": bad,
            "group_by": opt.group_by,
            "split_seed": opt.split_seed,
            "segment_seconds": opt.segment_seconds,
            "notes": notes,
        }
        (built / SIDECAR).write_text(json.dumps(summary, indent=2) + "\n")
        if path.exists():  # --overwrite: the old build goes only now that the new one is complete
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(built, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in (data_dir / STAGING, data_dir) if made_data_dir else (data_dir / STAGING,):
            try:
                folder.rmdir()
            except OSError:
                pass  # another prepare is staging there too, or the build is in it
    return _result(path, False, summary, notes)


def remove_stale_staging(folder: Path) -> list[Path]:
    """Removes the staging folders (NAME-PID) of prepare runs whose process no longer exists: a run killed
    with SIGKILL cannot clean up after itself. Returns what it removed."""
    removed = []
    for entry in folder.glob("*-*") if folder.is_dir() else ():
        pid = entry.name.rpartition("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def stored_as_int_list(path: Path) -> bool:
    """Whether a dataset stores its audio the way ssl_audio did before raw bytes (tfds.features.Audio, an
    int64 list per clip): still read correctly, but slowly."""
    features = json.loads((path / "features.json").read_text())
    audio = features["featuresDict"]["features"]["audio"]
    return audio.get("pythonClassName", "").endswith("audio_feature.Audio")


def _result(path: Path, reused: bool, summary: dict, notes: list[str]) -> PrepareResult:
    return PrepareResult(
        path=path,
        reused=reused,
        layout=summary["layout"],
        splits=summary["splits"],
        columns=summary["columns"],
        hours=summary["hours"],
        bad_files=summary["bad_files"],
        notes=notes,
        bad=summary.get("bad", []),
        files=summary.get("files"),
    )
