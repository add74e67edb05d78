"""`ssl-audio embed` end to end: outputs, bad files, resume after a kill, overwrite protection, devices."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

import ssl_audio
from tests.embed.conftest import BAD, GOOD, write
from tests.pretrain import helpers
from tests.tolerance import assert_float32_close

pytestmark = pytest.mark.slow


def command(checkpoint, inputs, out, *extra) -> list[str]:
    return [
        sys.executable,
        "-m",
        "ssl_audio.cli",
        "embed",
        "--checkpoint",
        str(checkpoint),
        "--input",
        str(inputs),
        "--output",
        str(out),
        "--quiet",
        *extra,
    ]


def embed(checkpoint, inputs, out, *extra, devices: int = 1) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(checkpoint, inputs, out, *extra), capture_output=True, text=True, env=helpers.env(devices), timeout=300
    )


def scene(out) -> dict[str, np.ndarray]:
    t = pq.read_table(out / "scene").to_pydict()
    assert len(t["path"]) == len(set(t["path"])), "a file was written twice"
    return {p: np.asarray(e, np.float32) for p, e in zip(t["path"], t["embedding"])}


def errors(out) -> list[str]:
    return [line.split("\t")[0] for line in (out / "errors.tsv").read_text().splitlines()[1:]]


def test_folder_to_parquet_with_bad_files_listed(checkpoint, folder, tmp_path):
    out = tmp_path / "emb"
    result = embed(checkpoint, folder, out, "--windows", "--batch-size", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 files embedded" in result.stdout and "3 failed this run" in result.stdout
    got = scene(out)
    assert set(got) == GOOD
    assert sorted(errors(out)) == sorted(BAD)
    reasons = (out / "errors.tsv").read_text()
    assert "empty file" in reasons and "NaN" in reasons and "corrupt" in reasons

    model = ssl_audio.load_model(checkpoint)
    for key in GOOD:
        expected = model.embed_file(folder / key)
        assert_float32_close(got[key], expected.scene, err_msg=key)
    windows = pq.read_table(out / "windows").to_pydict()
    rows = [(s, e) for p, s, e in zip(windows["path"], windows["start_s"], windows["end_s"]) if p == "jazz/deep/d.wav"]
    assert rows == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0), (pytest.approx(3.2), pytest.approx(4.2))]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] and manifest["counts"] == {"inputs": 7, "done": 4, "failed": 3}
    assert manifest["settings"]["window_embeddings"] and manifest["checkpoint"]["checksum"] == model.checksum
    assert {"jax", "flax", "numpy"} <= set(manifest["versions"]) and manifest["config"]["model"]["name"] == "logmel_cnn"

    # Rerun: nothing redone. A new file in the folder: only it is embedded, appended to the same tables.
    again = embed(checkpoint, folder, out, "--windows")
    assert again.returncode == 0 and "0 files embedded, 4 already done" in again.stdout
    write(folder / "late.wav", 1.5, seed=9)
    more = embed(checkpoint, folder, out, "--windows")
    assert more.returncode == 0 and "1 file embedded" in more.stdout, more.stdout + more.stderr[-2000:]
    assert set(scene(out)) == GOOD | {"late.wav"} and sorted(errors(out)) == sorted(BAD)


def test_an_output_is_never_overwritten_unasked(checkpoint, folder, tmp_path):
    out = tmp_path / "emb"
    assert embed(checkpoint, folder, out).returncode == 0
    other = embed(checkpoint, folder, out, "--hop-seconds", "0.5")
    assert other.returncode == 2
    assert "holds embeddings made with other settings (hop_seconds 1.0 -> 0.5)" in other.stderr
    assert "--overwrite" in other.stderr and len(other.stderr.strip().splitlines()) == 1
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    refused = embed(checkpoint, folder, foreign)
    assert refused.returncode == 2 and "not an ssl-audio embed output" in refused.stderr
    replaced = embed(checkpoint, folder, out, "--hop-seconds", "0.5", "--overwrite")
    assert replaced.returncode == 0 and "4 files embedded" in replaced.stdout
    assert json.loads((out / "manifest.json").read_text())["settings"]["hop_seconds"] == 0.5


def test_npz_format_and_a_list_of_paths(checkpoint, folder, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my files\n{folder / 'a.wav'}\naudio/rock/b.flac\n\naudio/missing.wav\naudio/rock/b.flac\n")
    out = tmp_path / "npz_out"
    result = embed(checkpoint, listing, out, "--format", "npz", "--pooling", "none")
    assert result.returncode == 0, result.stderr[-3000:]
    assert errors(out) == ["audio/missing.wav"]
    with np.load(out / "npz" / "audio" / "rock" / "b.flac.npz") as z:
        assert "embedding" not in z.files and z["window_embeddings"].shape[0] == 3
        np.testing.assert_allclose(z["window_end_s"], [1.0, 2.0, 2.5])
    assert (out / "npz" / str(folder / "a.wav").lstrip("/")).with_name("a.wav.npz").exists()


def test_a_killed_run_resumes_and_embeds_every_file_exactly_once(checkpoint, tmp_path):
    folder = tmp_path / "many"
    for i in range(24):
        write(folder / f"clip{i:02d}.wav", 2.0, seed=i)
    for i in range(4):  # long files last: there is still work in flight when the test kills the job
        write(folder / f"zz_long{i}.wav", 240.0, rate=44_100, seed=100 + i, channels=2)
    (folder / "bad.wav").write_bytes(b"nope")
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        command(checkpoint, folder, out, "--batch-size", "2", "--windows"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=helpers.env(),
    )
    journal = out / ".journal" / "scene.arrows"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and journal.stat().st_size > 2_000:  # a few commits in
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the job ended before it could be killed: " + proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not json.loads((out / "manifest.json").read_text())["complete"]

    resumed = embed(checkpoint, folder, out, "--batch-size", "2", "--windows")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    done_before = int(resumed.stdout.split(" already done")[0].rsplit(" ", 1)[1])
    assert 1 <= done_before < 29
    got = scene(out)  # asserts no path twice
    expected_keys = {f"clip{i:02d}.wav" for i in range(24)} | {f"zz_long{i}.wav" for i in range(4)}
    assert set(got) == expected_keys and errors(out) == ["bad.wav"]
    windows = pq.read_table(out / "windows", columns=["path", "window"]).to_pydict()
    pairs = list(zip(windows["path"], windows["window"]))
    assert len(pairs) == len(set(pairs)) == 24 * 2 + 4 * 240

    clean = tmp_path / "clean"
    assert embed(checkpoint, folder, clean, "--batch-size", "2", "--windows").returncode == 0
    reference = scene(clean)
    for key in expected_keys:
        assert_float32_close(got[key], reference[key], err_msg=key)


def test_four_devices_give_the_same_embeddings_as_one(checkpoint, folder, tmp_path):
    one, four = tmp_path / "one", tmp_path / "four"
    assert embed(checkpoint, folder, one, "--batch-size", "8").returncode == 0
    result = embed(checkpoint, folder, four, "--batch-size", "8", devices=4)
    assert result.returncode == 0, result.stderr[-3000:]
    a, b = scene(one), scene(four)
    assert set(a) == set(b) == GOOD
    for key in GOOD:
        assert_float32_close(b[key], a[key], err_msg=key)


def test_bench_embed_prints_its_ratio_last(checkpoint, folder):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ssl_audio.cli",
            "bench",
            "embed",
            "--checkpoint",
            str(checkpoint),
            "--input",
            str(folder),
            "--files",
            "7",
            "--repeats",
            "1",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        env=helpers.env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    fields = dict(item.split("=") for item in last.split()[1:])
    assert last.startswith("embed ") and set(fields) == {"ours_x_realtime", "descriptors_x_realtime", "ratio"}
    ours, ref, ratio = (float(fields[k]) for k in ("ours_x_realtime", "descriptors_x_realtime", "ratio"))
    assert ours > 0 and ref > 0 and ratio == pytest.approx(ours / ref, rel=0.02)
