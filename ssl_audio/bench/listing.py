"""`ssl-audio bench listing`: the memory a driver needs to list a catalogue, streamed against held.

A job on Beam must not hold its file list in the driver: 10 million tracks at a few hundred bytes per
listed file is gigabytes before a worker starts. This measures, with tracemalloc (Python allocations, so
the figure does not include the interpreter and its imports), the peak while listing N files three ways:

- streamed: what `embed --runner` does, the listing written line by line to the pipeline's input file;
- held: what the in-process `embed` does, `list_inputs` (one (key, path) per file);
- catalogue: what `prepare` does in its driver on an unlabelled folder, either engine: the listing streamed
  into a spool on disk, each file fingerprinted (size, mtime) on the way (`prepare.spool_catalog`);
- catalogue held: what it does for a labelled catalogue (one Record per file, the split assignment by group
  and the sorted fingerprint), as it did for every folder before.

Each at N and at N/10 files, so a figure that grows with N shows it. The files are empty: listing never
opens them.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import tracemalloc
from pathlib import Path


def _make(root: Path, n: int) -> None:
    for i in range(n):
        folder = root / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            folder.mkdir(parents=True)
        (folder / f"track {i % 1000:04d}.wav").touch()


def _peak(fn) -> tuple[float, float]:
    """(peak MiB of Python allocations while fn runs, seconds)."""
    tracemalloc.start()
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, seconds


def measure(root: Path) -> dict[str, tuple[float, float]]:
    from ssl_audio.data.layouts import load_catalog
    from ssl_audio.data.prepare import PrepareOptions, dataset_fingerprint, held_records, split_records, spool_catalog
    from ssl_audio.embed.inputs import iter_inputs, list_inputs

    def streamed():
        with open(os.devnull, "w", encoding="utf-8") as f:
            for key, path in iter_inputs(root):
                f.write(json.dumps([key, os.fspath(path)]) + "\n")

    def held():
        items = list_inputs(root)
        assert items

    opt = PrepareOptions(name="bench", data_dir=os.devnull)

    def catalogue():  # prepare's driver on an unlabelled folder: listed, fingerprinted, spooled to disk
        catalog = load_catalog(root, "auto", opt.columns)
        with tempfile.TemporaryDirectory(prefix="bench-spool-") as spool_dir:
            spool_catalog(catalog, opt, Path(spool_dir) / "records.jsonl")

    def catalogue_held():  # what it did before (and still does for labelled catalogues): one Record per file
        catalog = load_catalog(root, "auto", opt.columns)
        records = held_records(catalog, opt)
        split_records(records, catalog, opt, [])
        dataset_fingerprint(records, opt, catalog.layout)

    return {
        "streamed": _peak(streamed),
        "held": _peak(held),
        "catalogue": _peak(catalogue),
        "catalogue held": _peak(catalogue_held),
    }


def run(files: int) -> list[str]:
    lines = []
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-listing-") as tmp:
        for n in (files // 10, files):
            root = Path(tmp) / str(n)
            _make(root, n)
            results[n] = measure(root)
            r = results[n]
            lines.append(
                f"listing {n} files: " + ", ".join(f"{k} peak {mib:.1f} MiB in {s:.1f} s" for k, (mib, s) in r.items())
            )
    big = results[files]
    lines.append(
        f"listing files={files} streamed_peak_mib={big['streamed'][0]:.2f} held_peak_mib={big['held'][0]:.1f} "
        f"catalogue_peak_mib={big['catalogue'][0]:.2f} catalogue_held_peak_mib={big['catalogue held'][0]:.1f} "
        f"ratio={big['held'][0] / max(big['streamed'][0], 1e-9):.0f}"
    )
    return lines


HELP = "memory of listing a catalogue in the driver: streamed (embed --runner) against held"
DESCRIPTION = (
    "Makes N empty audio files (and N/10) in a temporary folder and measures the peak Python memory of "
    "listing them: streamed to the Beam pipeline's input file, held as embed's list, and prepare's "
    "catalogue (streamed to a spool, and held). Prints, last, `listing files=N streamed_peak_mib=... "
    "held_peak_mib=... catalogue_peak_mib=... catalogue_held_peak_mib=... ratio=...`."
)


def add_arguments(p) -> None:
    p.add_argument("--files", type=int, default=100_000, help="files to list (default 100000)")


def main(args) -> int:
    for line in run(args.files):
        print(line, flush=True)
    return 0
