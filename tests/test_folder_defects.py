"""The real-folder trial's defects, each reproduced through the CLI as the user met it: one output made from
two inputs, a changed file never embedded again, two names printed alike, links and FIFOs that hid or hung
a folder, Latin-1 names in labels and lists, a probe that lost its results to a plot."""

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

from tests.embed.conftest import write
from tests.pretrain import helpers

pytestmark = pytest.mark.slow

LATIN1 = os.fsdecode(b"caf\xe9.wav")  # a Latin-1 name, as old folders and Samba shares hold
LITERAL = "caf\\xe9.wav"  # a valid UTF-8 name that holds the text "caf\xe9.wav"


def cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ssl_audio.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env or helpers.env(),
        timeout=timeout,
    )


def embed(checkpoint, inputs, out, *extra) -> subprocess.CompletedProcess:
    return cli("embed", "--checkpoint", checkpoint, "--input", inputs, "--output", out, "--quiet", *extra)


def scene(out: Path) -> dict:
    t = pq.read_table(out / "scene").to_pydict()
    assert len(t["path"]) == len(set(t["path"])), "a file has two rows"
    return dict(zip(t["path"], t["duration_s"]))


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    return lines[0]


def test_embed_refuses_a_second_input_and_embeds_a_changed_file_again(checkpoint, tmp_path):
    a, b, out = tmp_path / "a", tmp_path / "b", tmp_path / "out"
    write(a / "zero.wav", 1.5, seed=1)
    write(a / "song.wav", 2.0, seed=2)
    (b / "zero.wav").parent.mkdir()
    (b / "zero.wav").write_bytes(b"")  # counted as done before, because a had a zero.wav
    write(b / "other.wav", 2.0, seed=3)
    first = embed(checkpoint, a, out, "--windows")
    assert first.returncode == 0 and "2 files embedded" in first.stdout, first.stderr[-2000:]

    # Another input for the same output: refused, naming both, and the output is left as it was.
    line = one_line(embed(checkpoint, b, out, "--windows"))
    assert f"holds embeddings of --input {a}" in line and str(b) in line and "--overwrite" in line
    assert scene(out) == {"zero.wav": 1.5, "song.wav": 2.0}

    # A file replaced by a longer one under the same name is embedded again, its rows replaced; a deleted
    # file is reported (its rows kept: deleting what a user has is theirs to ask for).
    write(a / "song.wav", 3.5, seed=4)
    (a / "zero.wav").unlink()
    again = embed(checkpoint, a, out, "--windows")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 file embedded" in again.stdout and "1 file changed since" in again.stdout
    assert "1 file embedded earlier are no longer under --input" in again.stdout
    assert scene(out) == {"zero.wav": 1.5, "song.wav": 3.5}
    windows = pq.read_table(out / "windows").to_pydict()
    assert sorted(w for p, w in zip(windows["path"], windows["window"]) if p == "song.wav") == [0, 1, 2, 3]
    assert (out / "vanished.tsv").read_text().splitlines()[1].startswith("zero.wav\t")
    stamps = pq.read_table(out / "scene").to_pydict()
    song = stamps["path"].index("song.wav")
    assert stamps["size_bytes"][song] == (a / "song.wav").stat().st_size
    assert embed(checkpoint, a, out, "--windows").stdout.count("0 files embedded, 1 already done") == 1

    # The Beam job notices a change the same way.
    write(a / "song.wav", 2.5, seed=5)
    beam = embed(checkpoint, a, out, "--windows", "--runner", "direct")
    assert beam.returncode == 0, beam.stderr[-3000:]
    assert "1 file embedded" in beam.stdout and "1 file changed since" in beam.stdout
    assert scene(out) == {"zero.wav": 1.5, "song.wav": 2.5}


@pytest.fixture
def odd_links(tmp_path):
    """Two names that used to print alike, a looping and a broken link, a FIFO and one good file."""
    root = tmp_path / "music"
    write(root / "good.wav", 1.5, seed=1)
    write(root / LITERAL, 1.5, seed=2)
    for name in (LATIN1, "sub/" + LATIN1.replace(".wav", "2.wav")):
        os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
        with open(os.path.join(root, name), "wb") as f:  # soundfile cannot open a non-UTF-8 name itself
            sf.write(f, 0.3 * np.sin(np.arange(24_000) / 7).astype(np.float32), 16_000, format="WAV")
    os.symlink("loop.wav", root / "loop.wav")
    os.symlink("/nonexistent/song.ogg", root / "dangling.ogg")
    os.mkfifo(root / "pipe.wav")
    return root


def test_links_fifos_and_lookalike_names_through_scan_prepare_and_embed(odd_links, checkpoint, tmp_path):
    scan = cli("scan", odd_links, "--workers", "1", "--quiet", timeout=120)  # the FIFO hung it for good
    assert scan.returncode == 0, scan.stderr[-2000:]
    assert "7 audio files, 4 usable, 3 bad" in scan.stdout
    assert "loop.wav: symbolic link loop (fix or delete the link)" in scan.stdout
    assert "dangling.ogg: broken symbolic link (to /nonexistent/song.ogg" in scan.stdout
    assert "remove it from the list" not in scan.stdout
    assert "pipe.wav: not a regular file (a FIFO)" in scan.stdout

    data_dir = tmp_path / "tfds"
    prep = cli("prepare", "--input", odd_links, "--name", "odd", "--data-dir", data_dir, "--workers", "1")
    assert prep.returncode == 0, prep.stderr[-2000:]  # a FileNotFoundError traceback on the broken link
    assert "train 4 files" in prep.stdout and "bad files skipped: 3" in prep.stdout

    out = tmp_path / "emb"
    done = embed(checkpoint, odd_links, out)
    assert done.returncode == 0 and "4 files embedded" in done.stdout, done.stderr[-2000:]
    paths = sorted(scene(out))
    assert paths == sorted(["caf\\xe9.wav", "caf\\\\xe9.wav", "good.wav", "sub/caf\\xe92.wav"])

    # A list naming the Latin-1 file by its raw bytes (as `find` writes it) and by its printed form; NPZ
    # files for the two look-alike names side by side.
    listing = odd_links / "list.txt"
    listing.write_bytes(b"caf\xe9.wav\n" + b"sub/caf\\xe92.wav\n" + os.fsencode(LITERAL) + b"\n")
    npz = embed(checkpoint, listing, tmp_path / "npz", "--format", "npz")
    assert npz.returncode == 0 and "3 files embedded" in npz.stdout, npz.stdout + npz.stderr[-2000:]
    files = sorted(p.relative_to(tmp_path / "npz" / "npz").as_posix() for p in (tmp_path / "npz").rglob("*.npz"))
    assert files == sorted(["caf\\xe9.wav.npz", "caf\\\\xe9.wav.npz", "sub/caf\\xe92.wav.npz"])


def test_latin1_names_in_labels_csv_raw_or_as_printed(tmp_path):
    root = tmp_path / "labelled"
    rows = []
    for i in range(8):
        name = f"t{i}.wav" if i > 1 else (LATIN1 if i == 0 else LATIN1.replace(".wav", " m\udcfasica.wav"))
        with open(os.path.join(root, name) if root.exists() else _mkdir(root, name), "wb") as f:
            sf.write(f, 0.3 * np.sin(np.arange(24_000) * (i + 1) / 50).astype(np.float32), 16_000, format="WAV")
        # the first as raw Latin-1 bytes (as `ls > labels.csv` writes it), the second as reports print it
        written = os.fsencode(name) if i == 0 else (b"caf\\xe9 m\\xfasica.wav" if i == 1 else name.encode())
        rows.append(written + b"," + (b"a", b"b")[i % 2] + b",s" + str(i % 4).encode())
    (root / "labels.csv").write_bytes(b"path,style,artist\n" + b"\n".join(rows) + b"\n")
    prep = cli(
        "prepare", "--input", root, "--name", "lat", "--data-dir", tmp_path / "tfds", "--workers", "1",
        "--column", "style=class", "--splits", "1,0,0",
    )  # fmt: skip
    assert prep.returncode == 0, prep.stderr[-2000:]  # a UnicodeDecodeError traceback, then "does not exist"
    assert "train 8 files" in prep.stdout and "bad files skipped: 0" in prep.stdout


def _mkdir(root: Path, name: str) -> str:
    root.mkdir(parents=True)
    return os.path.join(root, name)


def test_a_split_without_some_classes_is_stratified_or_warned_and_a_plot_never_costs_the_results(checkpoint, tmp_path):
    """53 clips from 8 singers with only a `style` column: validation was all one class and test the other,
    and the probe then lost results.json to a t-SNE of 2 test clips. Here: 8 singers, a clip each."""
    root = tmp_path / "singers"
    rows = [["path", "style", "artist"]]
    for i in range(8):
        write(root / f"s{i:02d}.wav", 1.2, seed=i)
        rows.append([f"s{i:02d}.wav", ("x", "y")[i % 2], f"singer{i}"])
    with open(root / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    data_dir = tmp_path / "tfds"
    prep = cli("prepare", "--input", root, "--name", "singers", "--data-dir", data_dir, "--workers", "1",
               "--column", "style=class")  # fmt: skip
    assert prep.returncode == 0, prep.stderr[-2000:]
    from ssl_audio.data.pipeline import label_values, open_dataset

    handle = open_dataset("singers", data_dir)
    for split in ("train", "validation", "test"):  # stratified by style: both classes in every split
        assert sorted(set(label_values(handle, split, ["style"])["style"])) == [0, 1], split

    out = tmp_path / "probe"
    probe = cli("probe", "--checkpoint", checkpoint, "--dataset", "singers", "--data-dir", data_dir, "--task",
                "style", "--out", out, "--features", "pretrained", "--cache-dir", tmp_path / "cache")  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert "style" in results["tasks"] and (out / "report.md").exists()
    assert any("embedding_map.png not drawn" in n for n in results["plot_notes"])
    assert "embedding_map.png not drawn" in probe.stdout


def test_a_split_lacking_a_class_is_warned_about():
    from ssl_audio.data.labels import Record
    from ssl_audio.data.prepare import missing_class_notes

    records = [Record(path=f"{i}", key=f"{i}", labels={"style": "xy"[i % 2]}, split="train") for i in range(4)]
    records.append(Record(path="v", key="v", labels={"style": "x"}, split="validation"))
    (note,) = missing_class_notes(records, ["style"])
    assert note.startswith("warning: the validation split has no style y (1 of 2 classes)")


def test_pretrain_finds_a_dataset_prepared_into_the_default_data_dir(prepared, tmp_path):
    name, data_dir = prepared
    env = {**helpers.env(), "TFDS_DATA_DIR": data_dir}
    run = cli("pretrain", "--config", helpers.TINY, "--workdir", tmp_path / "run", "--no-progress",
              f"--config.dataset={name}", "--config.total_steps=2", "--config.optimizer.warmup_steps=1",
              env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    missing = cli("pretrain", "--config", helpers.TINY, "--workdir", tmp_path / "other", "--config.dataset=nope",
                  env=env)  # fmt: skip
    assert "--config.data_dir" in one_line(missing) and not (tmp_path / "other").exists()


def test_a_killed_prepare_leaves_no_workers_and_its_rerun_clears_the_staging(tmp_path):
    import signal
    import time

    import psutil

    root = tmp_path / "many"
    for i in range(80):  # enough to resample that the kill lands while the workers decode
        write(root / f"{i:02d}.wav", 10.0, rate=44_100, seed=i)
    data_dir = tmp_path / "tfds"
    args = [sys.executable, "-m", "ssl_audio.cli", "prepare", "--input", str(root), "--name", "many", "--data-dir",
            str(data_dir), "--workers", "2"]  # fmt: skip
    job = subprocess.Popen(args, env=helpers.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parent = psutil.Process(job.pid)
    deadline = time.monotonic() + 120
    while len(workers := parent.children(recursive=True)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)  # the decoding workers (and multiprocessing's resource tracker) have started
    assert len(workers) >= 2 and job.poll() is None
    job.send_signal(signal.SIGKILL)
    job.wait()
    gone, alive = psutil.wait_procs(workers, timeout=60)  # a worker still starting up ends once it has started
    assert not alive, f"workers outlived their killed parent: {[p.cmdline()[-2:] for p in alive]}"
    stale = data_dir / ".ssl_audio_staging" / f"many-{job.pid}"
    assert stale.exists()  # SIGKILL gave the run no chance to clean up

    rerun = cli(*args[3:])
    assert rerun.returncode == 0 and "train 80 files" in rerun.stdout, rerun.stderr[-2000:]
    assert not stale.exists()


def test_small_things_a_user_met(checkpoint, tmp_path):
    """The trial's confusing messages: a 1-sample file, a truncated file kept without a word, a Python object
    in a reason, zero where a positive number belongs, a closed pipe, and outputs written over unasked."""
    folder = tmp_path / "in"
    write(folder / "ok.wav", 1.5, seed=1)
    sf.write(str(folder / "one.wav"), np.array([0.5], np.float32), 44_100)  # nothing left at 16 kHz
    whole = write(tmp_path / "whole.wav", 10.0, seed=2)
    (folder / "cut.wav").write_bytes(whole.read_bytes()[: whole.stat().st_size // 5])  # a copy that stopped
    (folder / "text.wav").write_text("not audio at all")

    out = tmp_path / "emb"
    result = embed(checkpoint, folder, out)
    assert result.returncode == 0, result.stderr[-2000:]
    errors = dict(line.split("\t", 1) for line in (out / "errors.tsv").read_text().splitlines()[1:])
    assert errors["one.wav"].startswith("too short (1 sample(s) at 44100 Hz, none at 16000 Hz)")
    assert errors["text.wav"].startswith("corrupt or unsupported audio (Format not recognised.)")
    assert "BufferedReader" not in (out / "errors.tsv").read_text()
    notes = (out / "notes.tsv").read_text()
    assert "cut.wav\ttruncated: 2.0 s decoded of the 10.0 s its header declares" in notes

    scan = cli("scan", folder, "--quiet", "--workers", "1", "--json", tmp_path / "scan.json")
    assert "note: " in scan.stdout and "cut.wav: truncated" in scan.stdout
    assert "one.wav: too short" in scan.stdout
    again = cli("scan", folder, "--quiet", "--json", tmp_path / "scan.json")
    assert "--json" in one_line(again) and "--overwrite" in again.stderr

    refused = embed(checkpoint, folder, tmp_path / "never", "--hop-seconds", "0")  # it meant the default
    assert refused.returncode == 2 and "--hop-seconds: must be a positive number" in refused.stderr
    assert not (tmp_path / "never").exists()
    import argparse

    from ssl_audio.commands.flags import positive_float, positive_int

    for parse, text in ((positive_int, "0"), (positive_int, "-2"), (positive_int, "1.5"), (positive_float, "nan")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    assert positive_int("3") == 3 and positive_float("0.5") == 0.5

    piped = subprocess.run(
        f"{sys.executable} -m ssl_audio.cli scan {folder} --quiet | true", shell=True, capture_output=True,
        text=True, env=helpers.env(), timeout=120,
    )  # fmt: skip
    assert "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr
    assert "arousal" in cli("probe", "--help").stdout
