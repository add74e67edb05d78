"""`ssl-audio embed --runner direct|dask`: the Beam pipeline gives the in-process job's output (on Beam's
DirectRunner and on a 2-worker Dask LocalCluster), appends on a rerun, survives retried bundles and leaves
nothing behind when it fails. Dask's faults: tests/beam/test_dask.py."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from ssl_audio.beam.embed import STAGING_PREFIX, DecodeAndCut, export_beam
from ssl_audio.embed.model import load_model
from tests.embed.conftest import BAD, GOOD, write
from tests.embed.test_export import embed

pytestmark = pytest.mark.slow


def rows(out, table: str) -> dict:
    t = pq.read_table(out / table).to_pydict()
    key = (lambda i: t["path"][i]) if table == "scene" else (lambda i: (t["path"][i], t["window"][i]))
    out_rows = {key(i): {c: t[c][i] for c in t} for i in range(len(t["path"]))}
    assert len(out_rows) == len(t["path"]), f"a {table} row was written twice"
    return out_rows


def listed(path) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in path.read_text().splitlines()[1:])


ENGINES = {
    "direct": ("--runner", "direct", "--beam-option", "direct_num_workers=2"),
    "dask": ("--runner", "dask", "--dask-workers", "2"),
}


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_beam_equals_in_process(checkpoint, folder, tmp_path, engine):
    here, there = tmp_path / "here", tmp_path / "beam"
    assert embed(checkpoint, folder, here, "--windows", "--batch-size", "4").returncode == 0
    result = embed(checkpoint, folder, there, "--windows", "--batch-size", "4", *ENGINES[engine])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 files embedded" in result.stdout and "3 failed this run" in result.stdout
    if engine == "dask":  # Dask's INFO lines and its workers' warning that GCP's libraries are absent: --verbose's
        assert "INFO:" not in result.stderr and "WARNING:" not in result.stderr, result.stderr[-3000:]
    for table in ("scene", "windows"):
        a, b = rows(here, table), rows(there, table)
        assert a.keys() == b.keys()
        for k in a:
            # Within 1e-6 of the row's scale: Beam batches other windows together, which reorders float32 sums.
            x, y = np.asarray(b[k]["embedding"]), np.asarray(a[k]["embedding"])
            assert np.max(np.abs(x - y)) <= 1e-6 * np.max(np.abs(y)), (table, k)
            assert {c: v for c, v in a[k].items() if c != "embedding"} == {
                c: v for c, v in b[k].items() if c != "embedding"
            }
    assert set(rows(there, "scene")) == GOOD
    assert listed(here / "errors.tsv") == listed(there / "errors.tsv") and set(listed(there / "errors.tsv")) == BAD
    assert listed(here / "notes.tsv") == listed(there / "notes.tsv")  # the short file, kept with a note
    ma, mb = (json.loads((d / "manifest.json").read_text()) for d in (here, there))
    assert ma["settings"] == mb["settings"] and ma["counts"] == mb["counts"] and mb["complete"]
    assert not list(there.glob(STAGING_PREFIX + "*"))


def model(checkpoint):
    return load_model(checkpoint, batch_size=4)


def test_rerun_appends_only_new_files(checkpoint, folder, tmp_path):
    out = tmp_path / "emb"
    first = export_beam(model(checkpoint), folder, out, checkpoint=checkpoint, runner="direct",
                        beam_options={"direct_running_mode": "in_memory"})  # fmt: skip
    assert (first.embedded, first.failed) == (4, 3)
    before = {p.name: p.read_bytes() for p in (out / "scene").glob("part-*")}
    write(folder / "new" / "e.wav", 2.0, seed=8)
    write(folder / "new" / "f.wav", 3.5, seed=9)
    again = export_beam(model(checkpoint), folder, out, checkpoint=checkpoint, runner="direct",
                        beam_options={"direct_running_mode": "in_memory"})  # fmt: skip
    assert (again.embedded, again.done_before, again.failed, again.failed_before) == (2, 4, 0, 3)
    assert set(rows(out, "scene")) == GOOD | {"new/e.wav", "new/f.wav"}
    assert {p.name: p.read_bytes() for p in (out / "scene").glob("part-*") if p.name in before} == before


class FailsFirstTime(DecodeAndCut):
    """Every file's first attempt fails: the bundle emits every window of every file it holds, then dies
    (a worker lost at the end of its bundle), so the runner retries it and the same windows come out again.
    Attempts are counted in files, since a retry may run a fresh copy of the DoFn."""

    def __init__(self, base: DecodeAndCut, marks):
        super().__init__(base.options, base.window_samples, base.hop_samples, base.sample_rate)
        self.marks = str(marks)

    def start_bundle(self):
        self.first_attempts = []

    def windows(self, key, path, *stamp):
        from pathlib import Path

        mark = Path(self.marks) / key.replace("/", "__")
        attempts = int(mark.read_text()) if mark.exists() else 0
        mark.write_text(str(attempts + 1))
        if attempts == 0:
            self.first_attempts.append(key)
        yield from super().windows(key, path, *stamp)

    def finish_bundle(self):
        if self.first_attempts:
            raise RuntimeError(f"injected failure after the first attempt at {', '.join(self.first_attempts)}")


def test_retried_bundles_leave_every_file_exactly_once(checkpoint, folder, tmp_path):
    m = model(checkpoint)
    base = DecodeAndCut(m.decode_options, m.window_samples, m.hop_samples, m.sample_rate)
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "emb"
    # The BundleBasedDirectRunner retries a failed bundle (the FnApiRunner does not, apache/beam#18640),
    # as Dataflow, Flink and Spark do.
    result = export_beam(m, folder, out, checkpoint=checkpoint, runner="BundleBasedDirectRunner", windows=True,
                         decoder=FailsFirstTime(base, marks))  # fmt: skip
    attempts = {p.name: int(p.read_text()) for p in marks.iterdir()}
    assert len(attempts) == len(GOOD | BAD) and min(attempts.values()) >= 2  # every file was retried
    assert (result.embedded, result.failed) == (4, 3)
    assert set(rows(out, "scene")) == GOOD
    windows = rows(out, "windows")  # asserts no window row twice
    n = {p: r["n_windows"] for p, r in rows(out, "scene").items()}
    assert sorted(windows) == sorted((p, i) for p in GOOD for i in range(n[p]))
    assert set(listed(out / "errors.tsv")) == BAD


class AlwaysFails(DecodeAndCut):
    def windows(self, key, path, *stamp):
        if key == "a.wav":
            raise RuntimeError("injected failure that does not go away")
        yield from super().windows(key, path, *stamp)


def test_failed_run_leaves_nothing_that_blocks_the_rerun(checkpoint, folder, tmp_path):
    m = model(checkpoint)
    base = (m.decode_options, m.window_samples, m.hop_samples, m.sample_rate)
    out = tmp_path / "emb"
    # One worker thread: with two, the in-memory runner raises while the other thread's bundle still writes
    # into the staging folder (a process that fails exits, and its threads with it; this test does not).
    with pytest.raises(Exception, match="injected failure"):
        export_beam(m, folder, out, checkpoint=checkpoint, runner="direct", decoder=AlwaysFails(*base),
                    beam_options={"direct_running_mode": "in_memory", "direct_num_workers": "1"})  # fmt: skip
    assert not list(out.glob(STAGING_PREFIX + "*")), "the failed run removes its own staging folder"
    assert not list((out).glob("scene/part-*")), "a failed run must not leave rows that count as done"
    result = export_beam(m, folder, out, checkpoint=checkpoint, runner="direct",
                         beam_options={"direct_running_mode": "in_memory"})  # fmt: skip
    assert (result.embedded, result.done_before) == (4, 0)
    assert set(rows(out, "scene")) == GOOD and not list(out.glob(STAGING_PREFIX + "*"))


def test_unknown_beam_option_is_one_line_naming_it(checkpoint, folder, tmp_path):
    out = tmp_path / "emb"
    result = embed(checkpoint, folder, out, "--runner", "direct", "--beam-option", "direct_num_wrkers=2")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "direct_num_wrkers" in result.stderr
    assert "--beam-option" in result.stderr and not out.exists()


@pytest.mark.parametrize("flags", [("--dask-workers", "2"), ("--runner", "direct", "--dask-address", "h:1")])
def test_dask_flags_without_the_dask_runner_are_one_line_not_ignored(checkpoint, folder, tmp_path, flags):
    out = tmp_path / "emb"
    result = embed(checkpoint, folder, out, *flags)
    assert result.returncode == 2 and "go with --runner dask" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and not out.exists()


def test_npz_and_a_list_with_a_duplicate(checkpoint, folder, tmp_path):
    listing = tmp_path / "files.txt"
    listing.write_text(f"{folder / 'a.wav'}\n# a comment\n{folder / 'rock' / 'b.flac'}\n{folder / 'a.wav'}\n")
    out = tmp_path / "emb"
    result = export_beam(model(checkpoint), listing, out, checkpoint=checkpoint, runner="direct", fmt="npz",
                         beam_options={"direct_running_mode": "in_memory"})  # fmt: skip
    assert (result.inputs, result.embedded) == (2, 2)
    here = load_model(checkpoint, batch_size=4).embed_file(folder / "a.wav")
    npz = np.load(out / "npz" / str(folder / "a.wav").lstrip("/").replace(".wav", ".wav.npz"))
    assert np.max(np.abs(npz["embedding"] - here.scene)) <= 1e-6 * np.max(np.abs(here.scene))
    again = export_beam(model(checkpoint), listing, out, checkpoint=checkpoint, runner="direct", fmt="npz",
                        beam_options={"direct_running_mode": "in_memory"})  # fmt: skip
    assert (again.embedded, again.done_before) == (0, 2)


def test_odd_file_names_travel_through_the_pipeline(checkpoint, tmp_path):
    """A name that is not UTF-8 (Latin-1 bytes), spaces and an upper-case extension: Beam's coders refuse
    undecodable names as they are, so the listing carries them as bytes (paths.to_wire)."""
    import os

    root = tmp_path / "odd"
    write(root / "My Album" / "Track One.WAV", 2.0, seed=11)
    write(root / "plain.wav", 2.0, seed=12)
    os.rename(root / "plain.wav", os.path.join(os.fsencode(root), b"caf\xe9 song.wav"))
    out = tmp_path / "emb"
    result = export_beam(model(checkpoint), root, out, checkpoint=checkpoint, runner="direct",
                         beam_options={"direct_running_mode": "in_memory"})  # fmt: skip
    assert (result.embedded, result.failed) == (2, 0)
    assert set(rows(out, "scene")) == {"My Album/Track One.WAV", "caf\\xe9 song.wav"}  # printable keys
