"""Without a model: the Parquet store's crash safety (what a kill at any point leaves is recovered, once),
NPZ names, and how inputs are listed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from ssl_audio.embed.inputs import list_inputs
from ssl_audio.embed.model import Embeddings
from ssl_audio.embed.store import JOURNAL_DIR, NpzStore, ParquetStore, npz_name
from tests.embed.conftest import write

D = 4


def record(key: str, n: int = 3) -> tuple[str, Embeddings]:
    seed = sum(map(ord, key))
    w = np.random.default_rng(seed).normal(size=(n, D)).astype(np.float32)
    return key, Embeddings(
        scene=w.mean(0), windows=w, starts=np.arange(n) * 1.0, ends=np.arange(n) + 1.0, duration=float(n)
    )


def table(out, name):
    return pq.read_table(out / name).to_pydict()


def test_a_kill_between_appends_loses_nothing_that_was_committed(tmp_path):
    store = ParquetStore(tmp_path, D, ("scene", "windows"))
    assert store.open() == set()
    store.append([record("a"), record("b")])
    store.append([record("c")])
    # Killed here: no close(), so the rows are only in the journals. Simulate a half-written third commit.
    journal = tmp_path / JOURNAL_DIR / "scene.arrows"
    with open(journal, "ab") as f:
        f.write(b"\xff\xff\xff\xff\x10\x00")
    again = ParquetStore(tmp_path, D, ("scene", "windows"))
    assert again.open() == {"a", "b", "c"}
    again.append([record("d")])
    again.close()
    scene = table(tmp_path, "scene")
    assert sorted(scene["path"]) == ["a", "b", "c", "d"]
    windows = table(tmp_path, "windows")
    assert sorted(zip(windows["path"], windows["window"])) == [(k, i) for k in "abcd" for i in range(3)]
    np.testing.assert_allclose(scene["embedding"][scene["path"].index("c")], record("c")[1].scene)
    assert not (tmp_path / JOURNAL_DIR).exists()


def test_windows_written_without_their_scene_row_are_dropped(tmp_path):
    """A kill between a commit's windows rows and its scene rows: the file is not done, and its windows
    must not survive to be written a second time."""
    store = ParquetStore(tmp_path, D, ("scene", "windows"))
    store.open()
    store.append([record("a")])
    sink, writer = store._writer("windows")
    from ssl_audio.embed.store import record_batch

    writer.write_batch(record_batch("windows", D, [record("b")]))
    sink.flush()
    again = ParquetStore(tmp_path, D, ("scene", "windows"))
    assert again.open() == {"a"}
    again.append([record("b")])
    again.close()
    windows = table(tmp_path, "windows")
    assert sorted(zip(windows["path"], windows["window"])) == [(k, i) for k in "ab" for i in range(3)]


def test_a_kill_during_compaction_does_not_duplicate_rows(tmp_path):
    store = ParquetStore(tmp_path, D, ("scene", "windows"))
    store.open()
    store.append([record("a"), record("b")])
    store._close_writers()
    # Compaction got as far as the windows part, then died before the scene part and the journal removal.
    import pyarrow as pa

    from ssl_audio.embed.store import _read_journal, table_schema, write_parquet

    batches = _read_journal(tmp_path / JOURNAL_DIR / "windows.arrows")
    write_parquet(store._next_part("windows"), pa.Table.from_batches(batches, schema=table_schema("windows", D)))
    again = ParquetStore(tmp_path, D, ("scene", "windows"))
    assert again.open() == {"a", "b"}
    again.close()
    assert sorted(table(tmp_path, "scene")["path"]) == ["a", "b"]
    windows = table(tmp_path, "windows")
    assert len(windows["path"]) == 6 and len(set(zip(windows["path"], windows["window"]))) == 6


def test_parts_roll_over_and_read_as_one_table(tmp_path):
    store = ParquetStore(tmp_path, D, ("scene",), rows_per_part=2)
    store.open()
    for key in "abcde":
        store.append([record(key)])
    store.close()
    assert len(list((tmp_path / "scene").glob("part-*.parquet"))) == 3
    assert sorted(table(tmp_path, "scene")["path"]) == list("abcde")


def test_npz_names_stay_inside_the_output(tmp_path):
    assert str(npz_name("rock/b.flac")) == "rock/b.flac.npz"
    assert str(npz_name("/abs/x.wav")) == "abs/x.wav.npz"
    assert str(npz_name("../up/y.wav")) == "__/up/y.wav.npz"
    store = NpzStore(tmp_path, D, ("scene", "windows"))
    store.append([record("../up/y.wav")])
    assert store.open(["../up/y.wav", "other.wav"]) == {"../up/y.wav"}
    with np.load(tmp_path / "npz" / "__/up/y.wav.npz") as z:
        assert str(z["path"]) == "../up/y.wav" and z["window_embeddings"].shape == (3, D)


def test_inputs_from_a_folder_a_single_file_or_a_list(tmp_path):
    write(tmp_path / "in" / "x" / "a.wav", 0.5)
    write(tmp_path / "in" / "b.wav", 0.5)
    assert [k for k, _ in list_inputs(tmp_path / "in")] == ["b.wav", "x/a.wav"]
    assert list_inputs(tmp_path / "in" / "b.wav") == [("b.wav", tmp_path / "in" / "b.wav")]
    listing = tmp_path / "files.txt"
    listing.write_text("in/b.wav\n# skipped\n\nin/b.wav\n/elsewhere/c.wav\n")
    assert list_inputs(listing) == [
        ("in/b.wav", tmp_path / "in" / "b.wav"),
        ("/elsewhere/c.wav", Path("/elsewhere/c.wav")),
    ]
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match="neither a folder, an audio file nor a text list"):
        list_inputs(tmp_path / "blob.bin")
    with pytest.raises(FileNotFoundError, match="no such folder or list file"):
        list_inputs(tmp_path / "nothing")


def test_the_streamed_listing_is_the_held_one(tmp_path):
    """iter_inputs (Beam's driver) lists the same (key, path) pairs as list_inputs (the in-process job)."""
    from ssl_audio.embed.inputs import iter_inputs

    for name in ("a.wav", "B dir/c.FLAC", "b/x.mp3", ".hidden.wav", "b/notes.txt", "caf\udce9.wav"):
        path = tmp_path / "music" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    held = {(k, str(p)) for k, p in list_inputs(tmp_path / "music")}
    assert {(k, str(p)) for k, p in iter_inputs(tmp_path / "music")} == held
    assert {k for k, _ in held} == {"a.wav", "B dir/c.FLAC", "b/x.mp3", "caf\\xe9.wav"}


def test_stamps_are_recorded_and_a_removal_killed_half_way_is_finished_by_the_next_run(tmp_path, monkeypatch):
    store = ParquetStore(tmp_path, D, ("scene", "windows"))
    store.open()
    store.append([(*record("a"), (10, 1)), (*record("b"), (20, 2)), record("c")])
    store.close()
    assert store.stamps_of(["a", "b", "c"]) == {"a": (10, 1), "b": (20, 2), "c": (-1, -1)}
    assert set(table(tmp_path, "windows")) >= {"size_bytes", "mtime_ns"}

    real, calls = ParquetStore._filter_parts, []

    def killed_at_the_second_table(self, name, keep):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, name, keep)

    monkeypatch.setattr(ParquetStore, "_filter_parts", killed_at_the_second_table)
    with pytest.raises(KeyboardInterrupt):
        ParquetStore(tmp_path, D, ("scene", "windows")).remove({"a"})
    monkeypatch.setattr(ParquetStore, "_filter_parts", real)
    again = ParquetStore(tmp_path, D, ("scene", "windows"))
    assert "a" in again.open() and again.stamps_of(["a"]) == {"a": (10, 1)}  # still done, with its old stamp
    again.remove({"a"})  # the next run finds it changed again and finishes
    assert "a" not in table(tmp_path, "scene")["path"] and "a" not in table(tmp_path, "windows")["path"]


def test_parts_written_before_stamps_are_upgraded_to_one_schema(tmp_path):
    import pyarrow as pa

    old = pa.table({"path": ["x"], "duration_s": [1.0], "n_windows": pa.array([1], pa.int32()),
                    "embedding": pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(D, np.float32)), D)})  # fmt: skip
    (tmp_path / "scene").mkdir()
    pq.write_table(old, tmp_path / "scene" / "part-00000.parquet")
    store = ParquetStore(tmp_path, D, ("scene",))
    assert store.open() == {"x"} and store.stamps_of(["x"]) == {"x": (-1, -1)}
    store.append([(*record("y"), (5, 6))])
    store.close()
    both = pq.read_table(tmp_path / "scene").to_pydict()  # one table: the old part has the columns too
    assert dict(zip(both["path"], both["size_bytes"])) == {"x": -1, "y": 5}


def test_compaction_streams_a_journal_in_row_groups(tmp_path, monkeypatch):
    """A run's window rows are written a row group at a time, not read whole: memory is a row group's."""
    import pyarrow.parquet as pq

    from ssl_audio.embed import store as store_module

    monkeypatch.setattr(store_module, "ROW_GROUP_BYTES", 1)  # every journal batch its own row group
    store = ParquetStore(tmp_path, D, ("scene", "windows"))
    store.open()
    for key in "abcd":
        store.append([record(key)])
    store.close()
    part = next((tmp_path / "windows").glob("part-*.parquet"))
    assert pq.ParquetFile(part).num_row_groups == 4
    assert sorted(set(table(tmp_path, "windows")["path"])) == ["a", "b", "c", "d"]
