import csv
import json

import numpy as np
import pytest
import soundfile as sf
import tensorflow_datasets as tfds

from ssl_audio.audio.decode import DecodeOptions
from ssl_audio.data.prepare import BAD_LIST, PrepareOptions, dataset_path, prepare
from ssl_audio.errors import OutputExistsError
from tests.data.test_layouts import make_gtzan, make_mtt


def _examples(path, split):
    return list(tfds.builder_from_directory(str(path)).as_data_source(split))


def test_embedded_dataset_builds_with_labels_and_no_artist_leak(prepared, synth_dir):
    name, data_dir = prepared
    path = dataset_path(name, data_dir)
    builder = tfds.builder_from_directory(str(path))  # readable without ssl_audio's builder class
    splits = {s: builder.info.splits[s].num_examples for s in builder.info.splits}
    assert sum(splits.values()) == 30 and set(splits) == {"train", "validation", "test"}
    features = builder.info.features
    rows = {r["path"]: r for r in csv.DictReader(open(synth_dir / "labels.csv"))}
    artists = {}
    for split in splits:
        for ex in builder.as_data_source(split):
            row = rows[ex["key"].decode()]
            assert features["genre"].names[ex["genre"]] == row["genre"]
            assert features["mood"].names[ex["mood"]] == row["mood"]
            names = features["instruments"].feature.names
            assert ";".join(sorted(names[i] for i in ex["instruments"])) == row["instruments"]
            assert np.isclose(ex["valence"], float(row["valence"]), atol=1e-4)
            # Stored PCM equals the file's samples (the synth writes 16 kHz PCM16, so no resampling).
            original = sf.read(synth_dir / row["path"], dtype="int16")[0]
            assert np.abs(ex["audio"].astype(int) - original.astype(int)).max() <= 1
            artists.setdefault(ex["artist"].decode(), set()).add(split)
    assert all(len(s) == 1 for s in artists.values()), "an artist is in two splits"


def test_bad_files_are_skipped_and_listed(tmp_path, tone):
    src = tmp_path / "music"
    for i in range(6):
        tone(src / f"ok{i}.wav", seconds=1.5, freq=300 + 40 * i)
    (src / "empty.wav").write_bytes(b"")
    sf.write(src / "silent.wav", np.zeros(24_000, np.float32), 16_000)
    x = np.full(24_000, 0.1, np.float32)
    x[5] = np.nan
    sf.write(src / "nan.wav", x, 16_000, subtype="FLOAT")
    result = prepare(src, PrepareOptions(name="messy", data_dir=str(tmp_path / "tfds"), workers=1))
    assert result.bad_files == 3 and sum(result.splits.values()) == 6
    assert result.splits == {"train": 6}  # unlabelled: everything is for pretraining
    listed = (result.path / BAD_LIST).read_text().splitlines()
    assert listed[0] == "path\treason" and len(listed) == 4
    assert any("empty.wav\tempty file" in line for line in listed)
    assert any("nan.wav\tcontains 1 NaN" in line for line in listed)


def test_rebuild_is_reused_and_other_inputs_are_refused(tmp_path, tone):
    src = tmp_path / "music"
    for i in range(4):
        tone(src / f"{i}.wav", seconds=1.5)
    opts = PrepareOptions(name="mine", data_dir=str(tmp_path / "tfds"), workers=1)
    first = prepare(src, opts)
    stamp = (first.path / "dataset_info.json").stat().st_mtime_ns
    again = prepare(src, opts)
    assert again.reused and (first.path / "dataset_info.json").stat().st_mtime_ns == stamp
    tone(src / "new.wav", seconds=1.5)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        prepare(src, opts)
    assert (first.path / "dataset_info.json").stat().st_mtime_ns == stamp  # untouched
    rebuilt = prepare(src, opts, overwrite=True)
    assert not rebuilt.reused and rebuilt.splits == {"train": 5}


def test_a_different_sample_rate_is_a_different_dataset(tmp_path, tone):
    src = tmp_path / "music"
    tone(src / "a.wav", seconds=1.5, rate=44_100)
    prepare(src, PrepareOptions(name="r16", data_dir=str(tmp_path / "tfds"), workers=1))
    with pytest.raises(OutputExistsError):
        prepare(
            src,
            PrepareOptions(
                name="r16", data_dir=str(tmp_path / "tfds"), workers=1, decode=DecodeOptions(sample_rate=22_050)
            ),
        )
    r22 = prepare(
        src,
        PrepareOptions(
            name="r22", data_dir=str(tmp_path / "tfds"), workers=1, decode=DecodeOptions(sample_rate=22_050)
        ),
    )
    (ex,) = _examples(r22.path, "train")
    assert ex["audio"].shape == (int(1.5 * 22_050),)


def test_gtzan_builds_with_genre_labels(tmp_path, tone):
    make_gtzan(tmp_path / "gtzan", tone, per_genre=5)
    result = prepare(tmp_path / "gtzan", PrepareOptions(name="gtzan", data_dir=str(tmp_path / "tfds"), workers=1))
    assert result.layout == "gtzan" and sum(result.splits.values()) == 15
    assert set(result.splits) == {"train", "validation", "test"}
    builder = tfds.builder_from_directory(str(result.path))
    assert builder.info.features["genre"].names == ["blues", "jazz", "rock"]
    from ssl_audio.data.pipeline import open_dataset

    assert open_dataset("gtzan", tmp_path / "tfds").sample_rate == 16_000
    ex = _examples(result.path, "train")[0]
    assert ex["audio"].shape == (24_000,)  # 1.5 s at 22.05 kHz resampled to 16 kHz


def test_mtt_builds_with_folder_splits_and_top_tags(tmp_path, tone):
    make_mtt(tmp_path / "mtt", tone)
    result = prepare(tmp_path / "mtt", PrepareOptions(name="mtt", data_dir=str(tmp_path / "tfds"), workers=1))
    assert result.splits == {"train": 8, "validation": 2, "test": 6}
    assert any("more than one split" in n for n in result.notes)  # the usual MTT split shares artists
    builder = tfds.builder_from_directory(str(result.path))
    assert len(builder.info.features["tags"].feature.names) == 50
    sidecar = json.loads((result.path / "ssl_audio_prepare.json").read_text())
    assert sidecar["layout"] == "mtt" and sidecar["splits"] == result.splits


def test_bad_name_is_refused(tmp_path, tone):
    tone(tmp_path / "a.wav")
    with pytest.raises(ValueError, match="--name"):
        prepare(tmp_path, PrepareOptions(name="My Data", data_dir=str(tmp_path / "tfds")))


def _unlabelled_folder(src, tone):
    """Nested folders and names whose text order differs from a folder-first walk ("a b.wav" < "a.wav" <
    "a/..." < "ab.wav"), an upper-case extension, and one bad file."""
    for i, rel in enumerate(["a.wav", "a b.wav", "a/x.wav", "a/y/z.FLAC", "ab.wav", "b/c d.wav"]):
        tone(src / rel, seconds=1.5, freq=250 + 50 * i)
    (src / "a" / "empty.wav").write_bytes(b"")
    return src


def test_an_unlabelled_folder_is_streamed_and_fingerprinted_as_if_held(tmp_path, tone):
    from ssl_audio.data.layouts import load_catalog
    from ssl_audio.data.prepare import dataset_fingerprint, held_records, split_records, spool_catalog, streamable

    src = _unlabelled_folder(tmp_path / "music", tone)
    opts = PrepareOptions(name="streamed", data_dir=str(tmp_path / "tfds"), workers=2)
    catalog = load_catalog(src)
    assert catalog.records is None and streamable(catalog, opts)  # nothing held per file
    spool, streamed = spool_catalog(catalog, opts, tmp_path / "records.jsonl")
    held = held_records(catalog, opts)
    split_records(held, catalog, opts, [])
    # The fingerprint a held, sorted list gives (what datasets were built with before streaming): a dataset
    # prepared before is reused, not refused.
    assert streamed == dataset_fingerprint(held, opts, catalog.layout)
    assert [r.key for r in spool] == sorted(r.key for r in held) and spool.counts == {"train": 7}

    result = prepare(src, opts)
    assert result.splits == {"train": 6} and result.bad_files == 1
    examples = _examples(result.path, "train")
    assert sorted(ex["key"].decode() for ex in examples) == [
        "a b.wav",
        "a.wav",
        "a/x.wav",
        "a/y/z.FLAC",
        "ab.wav",
        "b/c d.wav",
    ]
    for ex in examples:  # each file's own samples (tones of different pitch), stored once
        original = sf.read(src / ex["key"].decode(), dtype="int16")[0]
        assert np.abs(ex["audio"].astype(int) - original.astype(int)).max() <= 1
    assert "a/empty.wav\tempty file" in (result.path / BAD_LIST).read_text()
    assert prepare(src, opts).reused
    assert not any((tmp_path / "tfds").glob(".ssl_audio_staging*"))  # the spool went with the staging


def test_a_failed_streamed_prepare_leaves_no_folder_it_made(tmp_path, tone, monkeypatch):
    from ssl_audio.data import builder

    def fail(self, **kwargs):
        assert any((tmp_path / "new" / "tfds").rglob("records.jsonl"))  # failing after the spool was written
        raise RuntimeError("a worker died")

    monkeypatch.setattr(builder.SslAudioFolder, "download_and_prepare", fail)
    src = _unlabelled_folder(tmp_path / "music", tone)
    with pytest.raises(RuntimeError, match="a worker died"):
        prepare(src, PrepareOptions(name="streamed", data_dir=str(tmp_path / "new" / "tfds"), workers=1))
    assert not (tmp_path / "new" / "tfds").exists()  # so the rerun starts clean


def test_audio_is_stored_as_raw_bytes_and_read_without_tensorflow(prepared):
    """A stored clip is 2 bytes a sample, and opening and reading a dataset never imports TensorFlow (10 s on 2
    cores, once in every job): the storage that made pretraining's input fast (builder.audio_feature)."""
    import subprocess
    import sys

    name, data_dir = prepared
    features = json.loads((dataset_path(name, data_dir) / "features.json").read_text())
    audio = features["featuresDict"]["features"]["audio"]
    assert audio["tensor"]["encoding"] == "bytes" and audio["tensor"]["dtype"] == "int16"
    script = (
        "import sys; from ssl_audio.data.pipeline import open_dataset; "
        f"h = open_dataset({name!r}, {data_dir!r}, sample_rate=16000); clip = h.source('train')[0]['audio']; "
        "assert clip.dtype.name == 'int16' and clip.shape[0] == 48000, clip.shape; "
        "assert 'tensorflow' not in sys.modules, 'reading imported TensorFlow'"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


def test_a_dataset_of_an_earlier_version_still_reads_and_prepare_says_how_to_speed_it_up(tmp_path, tone, monkeypatch):
    """Datasets built before raw bytes (tfds.features.Audio, an int64 list per clip) are read, at their stored
    rate, with the same samples; prepare reuses them and names the flag that rebuilds them."""
    from ssl_audio.data import builder
    from ssl_audio.data.pipeline import open_dataset

    src = tmp_path / "music"
    for i in range(3):
        tone(src / f"{i}.wav", seconds=1.5, freq=300 + 50 * i)
    opts = PrepareOptions(name="old", data_dir=str(tmp_path / "tfds"), workers=1)
    with monkeypatch.context() as m:
        m.setattr(
            builder, "audio_feature", lambda rate: tfds.features.Audio(shape=(None,), dtype=np.int16, sample_rate=rate)
        )
        old = prepare(src, opts)
    assert not any("--overwrite" in n for n in old.notes)
    old_clips = [ex["audio"] for ex in _examples(old.path, "train")]
    handle = open_dataset("old", opts.data_dir, sample_rate=16_000)
    assert handle.sample_rate == 16_000 and len(handle.source("train")) == 3
    reused = prepare(src, opts)
    assert reused.reused and any("earlier ssl_audio" in n and "--overwrite" in n for n in reused.notes)
    rebuilt = prepare(src, opts, overwrite=True)
    assert not any("earlier ssl_audio" in n for n in rebuilt.notes)
    new_clips = [ex["audio"] for ex in _examples(rebuilt.path, "train")]
    assert len(new_clips) == 3 and all(np.array_equal(a, b) for a, b in zip(old_clips, new_clips))
