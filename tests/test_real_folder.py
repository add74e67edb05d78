"""What a real folder holds, end to end through the CLI: names that are not UTF-8, files the labels do not
name, labels.csv with the user's own column names, short and silent files (the hardening issue's trial)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from ssl_audio.audio.paths import os_path, printable
from tests.pretrain import helpers

LATIN1 = os.fsdecode(b"caf\xe9_latin1.wav")  # a Latin-1 name, as old music folders and Samba shares hold


def run(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "ssl_audio.cli", *args],
        capture_output=True,
        text=True,
        env=helpers.env(),
        timeout=timeout,
    )


def music(path: Path, seconds: float = 2.0, seed: int = 0, rate: int = 16_000) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = sum(0.1 * np.sin(2 * np.pi * rng.uniform(100, 1500) * t) for _ in range(3)).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # a file object: soundfile cannot open a non-UTF-8 name itself
        sf.write(f, x, rate, format="WAV")
    return path


def test_printable_names_are_utf8_and_reversible():
    assert printable("plain/éa b.WAV") == "plain/éa b.WAV"  # valid UTF-8 stays as it is
    shown = printable(LATIN1)
    shown.encode("utf-8")  # writable to TSV, JSON, Parquet
    assert shown == "caf\\xe9_latin1.wav" and os_path(shown) == LATIN1


@pytest.fixture
def odd_folder(tmp_path):
    root = tmp_path / "music"
    for i, name in enumerate([LATIN1, "with space.wav", "UPPER.WAV", "plain.wav"]):
        music(root / name, seed=i)
    (root / "empty.wav").write_bytes(b"")
    return root


@pytest.mark.slow
def test_a_latin1_file_name_goes_through_scan_prepare_and_embed(odd_folder, tmp_path, checkpoint):
    scan = run("scan", str(odd_folder), "--quiet", "--workers", "1")
    assert scan.returncode == 0, scan.stderr
    assert "5 audio files, 4 usable, 1 bad" in scan.stdout and "caf\\xe9" not in scan.stdout.split("bad:")[-1]

    data_dir = tmp_path / "tfds"
    prep = run("prepare", "--input", str(odd_folder), "--name", "odd", "--data-dir", str(data_dir), "--workers", "1")
    assert prep.returncode == 0, prep.stderr
    assert "bad files skipped: 1" in prep.stdout and "empty.wav: empty file" in prep.stdout
    info = run("info", "--dataset", "odd", "--data-dir", str(data_dir))
    assert info.returncode == 0, info.stderr
    assert "train 4" in info.stdout
    # The trial's crop_seconds=100 on clips of 2 s: the two views of each pair must still differ.
    long_crop = run("info", "--dataset", "odd", "--data-dir", str(data_dir), "--crop-seconds", "100")
    assert long_crop.returncode == 0, long_crop.stderr
    assert "view_a/view_b (4, 1600000) float32" in long_crop.stdout
    assert "the two views differ in 4 of 4 pairs" in long_crop.stdout

    out = tmp_path / "emb"
    for _ in range(2):  # the rerun finds every file done, the Latin-1 one included
        embed = run(
            "embed", "--checkpoint", str(checkpoint), "--input", str(odd_folder), "--output", str(out), "--quiet"
        )
        assert embed.returncode == 0, embed.stderr
    assert "0 files embedded, 4 already done" in embed.stdout
    paths = pq.read_table(out / "scene").column("path").to_pylist()
    assert sorted(paths) == sorted(["caf\\xe9_latin1.wav", "with space.wav", "UPPER.WAV", "plain.wav"])
    assert (out / "errors.tsv").read_text(encoding="utf-8").splitlines()[1].startswith("empty.wav\t")


@pytest.mark.slow
def test_a_prepare_that_fails_leaves_no_dataset_and_can_be_rerun(odd_folder, tmp_path, monkeypatch):
    from ssl_audio.data import builder, prepare
    from ssl_audio.data.location import dataset_path
    from ssl_audio.data.pipeline import open_dataset

    data_dir = tmp_path / "tfds"
    opt = prepare.PrepareOptions(name="odd", data_dir=str(data_dir), workers=1)
    original = builder.SslAudioFolder._generate_examples

    def dies_halfway(self, records, split, *count):
        for i, example in enumerate(original(self, records, split, *count)):
            if i == 2:
                raise RuntimeError("the machine went away")
            yield example

    monkeypatch.setattr(builder.SslAudioFolder, "_generate_examples", dies_halfway)
    with pytest.raises(RuntimeError, match="went away"):
        prepare.prepare(odd_folder, opt)
    assert not dataset_path("odd", data_dir).exists()
    assert not data_dir.exists()  # it did not exist before: the failed run leaves nothing behind
    monkeypatch.setattr(builder.SslAudioFolder, "_generate_examples", original)
    result = prepare.prepare(odd_folder, opt)  # the same call now simply works
    assert not result.reused and result.splits == {"train": 4}
    assert open_dataset("odd", data_dir).splits == {"train": 4}


def _labelled(root: Path, rows: list[dict], extra_audio: list[str] = ()) -> Path:
    for i, row in enumerate(rows):
        music(root / row["file"], seed=i)
    for i, name in enumerate(extra_audio):
        music(root / name, seed=100 + i)
    with open(root / "labels.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def _rows(n: int = 12, **extra) -> list[dict]:
    return [
        {
            "file": f"t{i:02d}.wav",
            "label": ("rock", "jazz")[i % 2],
            "seconds": "2.0",
            "singer": f"a{i % 6}",
            "style": ("x", "y", "z")[i % 3],
            **{k: v[i] for k, v in extra.items()},
        }
        for i in range(n)
    ]


@pytest.mark.slow
def test_a_users_own_columns_are_mapped_ignored_or_declared(tmp_path):
    from ssl_audio.data.labels import ColumnMap
    from ssl_audio.data.pipeline import open_dataset
    from ssl_audio.data.prepare import PrepareOptions, prepare
    from ssl_audio_linear_probe.run import task_columns

    root = _labelled(tmp_path / "mine", _rows())
    data_dir = str(tmp_path / "tfds")
    refused = run("prepare", "--input", str(root), "--name", "mine", "--data-dir", data_dir)
    assert refused.returncode == 2 and "--column NAME=path" in refused.stderr  # names the flag that fixes it
    refused = run("prepare", "--input", str(root), "--name", "mine", "--data-dir", data_dir, "--column", "file=path")
    assert refused.returncode == 2 and "unknown column 'label'" in refused.stderr
    assert "--column label=COLUMN" in refused.stderr and "--ignore-column label" in refused.stderr
    columns = ColumnMap.parse(["file=path", "label=genre", "singer=artist", "style=class"], ["seconds"])
    result = prepare(root, PrepareOptions(name="mine", data_dir=data_dir, workers=1, columns=columns))
    assert set(result.columns) == {"genre", "artist", "style"}
    handle = open_dataset("mine", data_dir)
    assert handle.columns == {"artist": "group", "genre": "class", "style": "class"}
    assert handle.class_names["style"] == ["x", "y", "z"] and task_columns(handle, "style") == ["style"]


@pytest.mark.slow
def test_unlisted_files_are_counted_listed_and_printed(tmp_path):
    root = _labelled(tmp_path / "mine", _rows(6), extra_audio=["forgotten.wav"])
    result = run(
        "prepare",
        "--input",
        str(root),
        "--name",
        "mine",
        "--data-dir",
        str(tmp_path / "tfds"),
        "--column",
        "file=path",
        "--column",
        "label=genre",
        "--column",
        "singer=artist",
        "--ignore-column",
        "seconds",
        "--ignore-column",
        "style",
        "--workers",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert "bad files skipped: 1" in result.stdout and "forgotten.wav: no row in labels.csv" in result.stdout
    listed = (tmp_path / "tfds").glob("ssl_audio_folder/mine/*/bad_files.tsv")
    assert "forgotten.wav\tno row in labels.csv" in next(listed).read_text()


def test_splits_flag_carves_validation_out_of_a_given_train_split(tmp_path):
    from ssl_audio.data.labels import ColumnMap
    from ssl_audio.data.prepare import PrepareOptions, prepare
    from ssl_audio.errors import BadValueError

    splits = ["test" if i % 6 == 5 else "train" for i in range(12)]
    root = _labelled(tmp_path / "mine", _rows(split=splits))
    columns = ColumnMap.parse(["file=path", "label=genre", "singer=artist"], ["seconds", "style"])
    opt = PrepareOptions(
        name="mine", data_dir=str(tmp_path / "tfds"), workers=1, columns=columns, fractions=(0.75, 0.25, 0.0)
    )
    result = prepare(root, opt)
    assert result.splits["test"] == 2 and result.splits["validation"] >= 1
    assert any("carved out of the given train split by artist" in n for n in result.notes)

    full = ["train", "validation", "test", "train", "train", "train"] * 2
    root = _labelled(tmp_path / "full", _rows(split=full))
    opt.name = "full"
    with pytest.raises(BadValueError, match="drop --splits"):
        prepare(root, opt)


def test_info_plot_on_unlabelled_data_says_it_wrote_nothing(tmp_path):
    from ssl_audio.data.prepare import PrepareOptions, prepare
    from ssl_audio.data.summary import describe

    for i in range(4):
        music(tmp_path / "u" / f"{i}.wav", seed=i)
    prepare(tmp_path / "u", PrepareOptions(name="u", data_dir=str(tmp_path / "tfds"), workers=1))
    lines = describe("u", tmp_path / "tfds", plot=str(tmp_path / "x.png"))
    assert any("no plot written" in line for line in lines) and not (tmp_path / "x.png").exists()


def test_augment_preview_hint_names_a_flag_it_has(tmp_path):
    short = music(tmp_path / "short.wav", seconds=0.05)
    result = run("augment-preview", "--input", str(short), "--out", str(tmp_path / "p"))
    assert result.returncode == 2 and "lower --min-seconds" in result.stderr
    help_text = run("augment-preview", "--help").stdout
    assert "--min-seconds" in help_text


def test_embed_keeps_short_files_with_a_note_and_skips_silent_ones(checkpoint, tmp_path):
    from ssl_audio.embed.export import export
    from ssl_audio.embed.model import load_model

    folder = tmp_path / "in"
    music(folder / "ok.wav", seconds=2.0)
    music(folder / "short.wav", seconds=0.05)
    sf.write(str(folder / "silent.wav"), np.zeros(32_000, np.float32), 16_000)
    result = export(load_model(checkpoint), folder, tmp_path / "out", progress=False)
    assert result.embedded == 2 and result.failed == 1 and result.noted == 1
    notes = (tmp_path / "out" / "notes.tsv").read_text().splitlines()
    assert notes[1].startswith("short.wav\ttoo short (0.05 s")
    assert (tmp_path / "out" / "errors.tsv").read_text().splitlines()[1].startswith("silent.wav\tsilent")
    assert any("embedded anyway" in line for line in result.lines())
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["counts"]["done"] == 2
