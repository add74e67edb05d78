"""`ssl-audio prepare`: a folder of audio -> a TFDS dataset that every stage reads by name.

Reuses what is built: the same inputs and settings give the same fingerprint,
and a dataset with that fingerprint is not built again. A dataset of the same
name built from something else is never replaced without `--overwrite`.
Bad files are skipped and listed in `bad_files.tsv` beside the dataset.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import tensorflow_datasets as tfds

from ssl_audio.audio.decode import DecodeOptions
from ssl_audio.audio.scan import write_bad_list
from ssl_audio.errors import OutputExistsError
from ssl_audio.data.builder import BUILDER_NAME, DATASET_VERSION, AudioFolderConfig, SslAudioFolder
from ssl_audio.data.labels import SPLITS, Record
from ssl_audio.data.layouts import load_catalog
from ssl_audio.data.splits import assign_splits, find_leaks

SIDECAR = "ssl_audio_prepare.json"
BAD_LIST = "bad_files.tsv"


def default_data_dir() -> str:
    return os.environ.get("TFDS_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))


def dataset_path(name: str, data_dir: str | os.PathLike) -> Path:
    # expanduser: the shell leaves `~` alone inside `--config.data_dir=~/tfds`.
    return Path(data_dir).expanduser() / BUILDER_NAME / name / DATASET_VERSION


def validate_name(name: str) -> str:
    if not name or not all(c.isalnum() or c == "_" for c in name) or not name[0].isalpha() or name != name.lower():
        raise ValueError(f"--name {name!r}: use lower-case letters, digits and '_', starting with a letter")
    return name


@dataclasses.dataclass
class PrepareOptions:
    name: str
    data_dir: str
    layout: str = "auto"
    group_by: str = "artist"
    fractions: tuple[float, float, float] | None = None   # None: 0.8/0.1/0.1 if labelled, all-train if not
    split_seed: int = 0
    decode: DecodeOptions = DecodeOptions()
    workers: int | None = None


@dataclasses.dataclass
class PrepareResult:
    path: Path
    reused: bool
    layout: str
    splits: dict[str, int]
    columns: list[str]
    hours: float
    bad_files: int
    notes: list[str]

    def lines(self) -> list[str]:
        verb = "reused" if self.reused else "built"
        out = [f"prepare: {verb} {self.path}",
               f"  layout {self.layout}; label columns: {', '.join(self.columns) or 'none (unlabelled)'}",
               "  splits: " + ", ".join(f"{k} {v} clips" for k, v in self.splits.items()) + f"; {self.hours:.2f} h",
               f"  bad files skipped: {self.bad_files}" + (f" (listed in {self.path / BAD_LIST})" if self.bad_files else "")]
        out += [f"  note: {n}" for n in self.notes]
        return out


def _fingerprint(records: list[Record], opt: PrepareOptions, layout: str) -> str:
    h = hashlib.sha256()
    settings = {"layout": layout, "decode": dataclasses.asdict(opt.decode), "version": DATASET_VERSION}
    h.update(json.dumps(settings, sort_keys=True).encode())
    for r in sorted(records, key=lambda r: r.key):
        st = os.stat(r.path)
        h.update(json.dumps([r.key, st.st_size, st.st_mtime_ns, r.split, sorted(r.labels.items())],
                            default=list).encode())
    return h.hexdigest()


def prepare(input_dir: str | os.PathLike, opt: PrepareOptions, *, overwrite: bool = False) -> PrepareResult:
    validate_name(opt.name)
    catalog = load_catalog(input_dir, opt.layout)
    notes = list(catalog.notes)
    records = catalog.records

    if all(r.split is not None for r in records):
        leaks = find_leaks(records, opt.group_by)
        if leaks:
            first = next(iter(leaks))
            notes.append(f"the given splits put {len(leaks)} {opt.group_by} value(s) in more than one split "
                         f"(e.g. {first!r} in {', '.join(leaks[first])}); kept as given")
    else:
        fractions = opt.fractions or ((0.8, 0.1, 0.1) if catalog.labelled else (1.0, 0.0, 0.0))
        if opt.group_by not in catalog.columns and fractions != (1.0, 0.0, 0.0):
            notes.append(f"no {opt.group_by!r} column: each file is its own group "
                         "(add one, or pass --group-by COLUMN, to keep an artist out of two splits)")
        stratify = "genre" if "genre" in catalog.columns else None
        assign_splits(records, group_by=opt.group_by, fractions=fractions, seed=opt.split_seed, stratify_by=stratify)

    fingerprint = _fingerprint(records, opt, catalog.layout)
    path = dataset_path(opt.name, opt.data_dir)
    sidecar = path / SIDECAR
    if path.exists():
        previous = json.loads(sidecar.read_text()) if sidecar.exists() else {}
        if previous.get("fingerprint") == fingerprint and (path / "dataset_info.json").exists():
            return _result(path, True, previous, notes)
        if not overwrite:
            source = previous.get("input", "unknown inputs")
            raise OutputExistsError(
                f"{path}: dataset {opt.name!r} already exists, built from {source} with other files or settings; "
                "pick another --name, or pass --overwrite to rebuild it")
        shutil.rmtree(path)

    config = AudioFolderConfig(name=opt.name, description=f"ssl_audio prepare of {catalog.root} ({catalog.layout})",
                               records=records, columns=catalog.columns, decode=opt.decode, workers=opt.workers)
    builder = SslAudioFolder(config=config, data_dir=str(Path(opt.data_dir).expanduser()), file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        download_mode=tfds.download.GenerateMode.FORCE_REDOWNLOAD))

    write_bad_list(builder.bad_files, path / BAD_LIST)
    splits = {s: builder.info.splits[s].num_examples for s in SPLITS if s in builder.info.splits}
    summary = {
        "fingerprint": fingerprint, "input": catalog.root, "layout": catalog.layout, "columns": catalog.columns,
        "sample_rate": opt.decode.sample_rate, "splits": splits, "hours": builder.samples_written / opt.decode.sample_rate / 3600,
        "bad_files": len(builder.bad_files), "group_by": opt.group_by, "split_seed": opt.split_seed,
        "notes": notes,
    }
    sidecar.write_text(json.dumps(summary, indent=2) + "\n")
    return _result(path, False, summary, notes)


def _result(path: Path, reused: bool, summary: dict, notes: list[str]) -> PrepareResult:
    return PrepareResult(path=path, reused=reused, layout=summary["layout"], splits=summary["splits"],
                         columns=summary["columns"], hours=summary["hours"], bad_files=summary["bad_files"],
                         notes=notes)
