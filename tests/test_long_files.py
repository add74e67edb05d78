"""Long files (the real-folder defects' item 11): embed windows a long file as it is decoded and gets what
the whole-file path gets; prepare stores it as segments that keep its key, labels and split; the loader
reads segments. Memory itself is measured by `ssl-audio bench memory` (docs/benchmarks.md), not here."""

from __future__ import annotations

import csv

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from ssl_audio.audio import stream as stream_lib
from tests.embed.conftest import music, write

pytestmark = pytest.mark.slow


def test_embed_streams_a_long_file_to_the_whole_file_embeddings(checkpoint, tmp_path, monkeypatch):
    from ssl_audio.embed.export import export
    from ssl_audio.embed.model import load_model

    folder = tmp_path / "in"
    write(folder / "long.wav", 9.3, rate=22_050, seed=1)
    write(folder / "short.wav", 1.5, seed=2)
    bad = music(6.0, 16_000, 3)
    bad[90_000] = np.nan  # found in the last block, after windows of it went to the device
    sf.write(str(folder / "long_nan.wav"), bad, 16_000, subtype="FLOAT")
    model = load_model(checkpoint, hop_seconds=0.5, batch_size=4)
    expected = {name: model.embed_file(folder / name) for name in ("long.wav", "short.wav")}

    monkeypatch.setattr(stream_lib, "LONG_SECONDS", 3.0)  # long.wav and long_nan.wav are now streamed
    monkeypatch.setattr(stream_lib, "BLOCK_SECONDS", 1.3)
    result = export(model, folder, tmp_path / "out", windows=True, progress=False)
    assert result.embedded == 2 and result.failed == 1
    errors = (tmp_path / "out" / "errors.tsv").read_text()
    assert "long_nan.wav\tcontains NaN or inf samples (from 5 s)" in errors
    scene = pq.read_table(tmp_path / "out" / "scene").to_pydict()
    windows = pq.read_table(tmp_path / "out" / "windows").to_pydict()
    for name, e in expected.items():
        row = scene["path"].index(name)
        assert scene["duration_s"][row] == pytest.approx(e.duration)
        np.testing.assert_allclose(scene["embedding"][row], e.scene, atol=1e-5)
        mine = [i for i, p in enumerate(windows["path"]) if p == name]
        np.testing.assert_allclose(np.asarray(windows["embedding"])[mine], e.windows, atol=1e-5)
        np.testing.assert_allclose(np.asarray(windows["end_s"])[mine], e.ends)
    assert "long_nan.wav" not in windows["path"]  # its windows already embedded were dropped


def test_prepare_stores_a_long_file_as_segments_of_one_file(tmp_path):
    from ssl_audio.data.pipeline import label_values, open_dataset, pretrain_loader
    from ssl_audio.data.prepare import PrepareOptions, prepare

    root = tmp_path / "music"
    rows = [["path", "genre", "artist"]]
    for i in range(8):
        write(root / f"f{i}.wav", 7.0 if i < 2 else 2.0, rate=44_100, seed=i)
        rows.append([f"f{i}.wav", "ab"[i % 2], f"p{i}"])
    with open(root / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    opt = PrepareOptions(name="seg", data_dir=str(tmp_path / "tfds"), workers=1, segment_seconds=3.0, progress=False)
    result = prepare(root, opt)
    assert sum(result.splits.values()) == 6 + 2 * 3  # two 7-s files as three segments of 2.33 s each
    assert any("2 files longer than --segment-seconds 3 stored as 6 segments" in n for n in result.notes)
    handle = open_dataset("seg", tmp_path / "tfds")
    where = {}
    for split in handle.splits:
        for key in label_values(handle, split, ["key"])["key"]:
            where.setdefault(key, set()).add(split)
    assert all(len(splits) == 1 for splits in where.values())  # a file's segments share its split
    keys = [k for split in handle.splits for k in label_values(handle, split, ["key"])["key"]]
    assert keys.count("f0.wav") == 3 and keys.count("f5.wav") == 1
    lengths = {
        len(handle.source(split)[i]["audio"]) for split in handle.splits for i in range(len(handle.source(split)))
    }
    assert max(lengths) <= int(3.0 * 16_000) + 1  # no record longer than a segment
    split = next(s for s in handle.splits if handle.splits[s] >= 2)
    batch = next(iter(pretrain_loader(handle, split=split, global_batch_size=2, crop_seconds=1.0, seed=0,
                                      shard_index=0, shard_count=1)))  # fmt: skip
    assert batch["view_a"].shape == (2, 16_000)

    again = prepare(root, opt)  # the same inputs and segment length: reused
    assert again.reused


def test_the_writer_spills_without_tensorflow_to_the_same_dataset(tmp_path, monkeypatch):
    """Past WRITER_MEMORY_BYTES TFDS's shuffler spills to local bucket files (not through tf.io.gfile, whose
    import alone costs ~600 MB); the array_record files are byte for byte those of an in-memory build."""
    import subprocess
    import sys

    import ssl_audio.data.prepare as prepare_lib
    from ssl_audio.data.prepare import PrepareOptions, prepare
    from ssl_audio.data.spill import bound_writer_memory

    for i in range(6):
        write(tmp_path / "in" / f"{i}.wav", 1.5, seed=i)
    monkeypatch.setattr(prepare_lib, "bound_writer_memory", lambda: bound_writer_memory(10**12))
    prepare(tmp_path / "in", PrepareOptions(name="held", data_dir=str(tmp_path / "tfds"), workers=1, progress=False))
    monkeypatch.setattr(prepare_lib, "bound_writer_memory", lambda: bound_writer_memory(1))  # every example spills
    prepare(tmp_path / "in", PrepareOptions(name="spilt", data_dir=str(tmp_path / "tfds"), workers=1, progress=False))
    held = sorted((tmp_path / "tfds" / "ssl_audio_folder" / "held").rglob("*.array_record*"))
    spilt = sorted((tmp_path / "tfds" / "ssl_audio_folder" / "spilt").rglob("*.array_record*"))
    assert held and [p.read_bytes() for p in held] == [p.read_bytes() for p in spilt]
    code = (
        "import sys; from ssl_audio.data.spill import bound_writer_memory; bound_writer_memory(1); "
        "from ssl_audio.data.prepare import prepare, PrepareOptions; "
        f"prepare({str(tmp_path / 'in')!r}, PrepareOptions(name='alone', data_dir={str(tmp_path / 'tfds')!r}, "
        "workers=1, progress=False)); print('tensorflow' in sys.modules and hasattr(sys.modules['tensorflow'], 'io'))"
    )
    alone = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert alone.returncode == 0 and alone.stdout.strip().splitlines()[-1] == "False", alone.stderr[-2000:]
