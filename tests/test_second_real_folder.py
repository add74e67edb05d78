"""The second real-folder trial's silent wrong results and its blocker, reproduced through the CLI and the
API: verdicts from two test files, int16 audio taken as float, Ctrl-C recorded as a bad file, and prepare
crashing on a split with no usable file."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.test_real_folder import music, run


def labelled_folder(root: Path, test_files: int, test_seconds: float = 6.0) -> Path:
    """12 train and 4 validation files of 2 s, and `test_files` files of `test_seconds` (cut into segments by
    prepare), with a class column `pack` and a value column `loudness_db`, splits given."""
    rows = []
    for split, n, seconds in (("train", 12, 2.0), ("validation", 4, 2.0), ("test", test_files, test_seconds)):
        for i in range(n):
            name = f"{split}_{i}.wav"
            music(root / name, seconds, seed=len(rows))
            rows.append({"path": name, "split": split, "pack": f"p{i % 2}", "loudness_db": f"{-10 - i:.1f}"})
    with open(root / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


# ------------------------------------------------------------------------- 1. no verdict from two files


def test_the_bootstrap_gives_no_verdict_below_the_minimum_and_none_from_a_failed_head():
    from ssl_audio_linear_probe.bootstrap import HEAD_FAILED, MIN_ITEMS, TOO_FEW, compare_all, paired_bootstrap

    y = np.array([0, 1])
    right, wrong = np.eye(2)[y], np.eye(2)[1 - y]
    two = paired_bootstrap("class", "accuracy", y, right, wrong, resamples=100)
    assert two["items"] == 2 and two["verdict"] == TOO_FEW and two["low"] == two["high"] == 1.0
    y = np.arange(MIN_ITEMS) % 2
    enough = paired_bootstrap("class", "accuracy", y, np.eye(2)[y], np.eye(2)[1 - y], resamples=100)
    assert enough["items"] == MIN_ITEMS and enough["verdict"] == "better"

    v = np.linspace(0, 1, 40)
    pairs = compare_all(
        "value", "r2", v, {"pretrained": v[:, None] * 0.9, "mfcc": -5 * v[:, None]}, failed=["mfcc"], resamples=100
    )
    assert pairs["pretrained-mfcc"]["verdict"] == HEAD_FAILED and pairs["pretrained-mfcc"]["failed"] == ["mfcc"]


def test_a_negative_r2_is_a_failed_head():
    from ssl_audio_linear_probe.run import head_failure

    assert "R² -2.199 < 0" in head_failure("value", "r2", {"r2": -2.199})
    assert (
        head_failure("value", "r2", {"r2": 0.4}) is None and head_failure("class", "accuracy", {"accuracy": 0}) is None
    )


@pytest.mark.slow
def test_probe_on_two_test_files_counts_files_and_segments_and_declares_nothing(tmp_path, checkpoint):
    data_dir = tmp_path / "tfds"
    root = labelled_folder(tmp_path / "music", test_files=2)
    prep = run(
        "prepare", "--input", str(root), "--name", "two", "--data-dir", str(data_dir), "--workers", "1",
        "--segment-seconds", "2", "--column", "pack=class", "--column", "loudness_db=value",
    )  # fmt: skip
    assert prep.returncode == 0, prep.stderr
    out = tmp_path / "probe"
    probe = run(
        "probe", "--checkpoint", str(checkpoint), "--dataset", "two", "--data-dir", str(data_dir), "--out",
        str(out), "--quiet", "--cache-dir", str(tmp_path / "cache"), "--workers", "1",
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["split_counts"]["test"] == {"files": 2, "segments": 6}
    assert results["group_by"] is None  # no artist column: the report says so instead of "artists held out"
    report = (out / "report.md").read_text()
    assert "**test** split (2 files (6 segments); no grouping column" in report
    assert "artists held out" not in report and "too few test files to compare (2 < 20)" in report
    assert "probe: test split 2 files (6 segments)" in probe.stdout
    lines = [line for line in probe.stdout.splitlines() if line.startswith("two ")]
    assert len(lines) == 2
    for line in lines:  # no interval, no verdict: the difference and why
        assert "better" not in line and "worse" not in line and "[" not in line
    for task in results["tasks"].values():
        for c in task["comparisons"].values():
            assert c["items"] == 2 and c["verdict"] in ("too few items", "head failed")
        for kind, r in task["by_features"].items():  # an R² below 0 is reported as a failure, never compared
            failed = task["kind"] == "value" and r["test"]["r2"] < 0
            assert bool(r.get("failed")) == failed, (kind, r["test"])
            if failed:
                assert f"{kind} head" in report
                assert all(c["verdict"] == "head failed" for p, c in task["comparisons"].items() if kind in p)

    # 7. a grouping column the dataset does not have: one line, naming the columns it has
    bad = run(
        "probe", "--checkpoint", str(checkpoint), "--dataset", "two", "--data-dir", str(data_dir), "--out",
        str(tmp_path / "p2"), "--group-by", "composer",
    )  # fmt: skip
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "--group-by composer: dataset 'two' has no such column" in bad.stderr
    assert not (tmp_path / "p2").exists()


# ------------------------------------------------------------------------- 2. integer PCM


@pytest.fixture(scope="module")
def embedding_model(checkpoint):
    import ssl_audio

    return ssl_audio.load_model(str(checkpoint))


@pytest.mark.parametrize(
    "dtype, to_int",
    [
        (np.int16, lambda x: np.round(x * 32767).astype(np.int16)),
        (np.int32, lambda x: np.round(x * (2**31 - 1)).astype(np.int32)),
        (np.uint8, lambda x: np.round(x * 127 + 128).astype(np.uint8)),
        (np.int8, lambda x: np.round(x * 127).astype(np.int8)),
    ],
)
def test_integer_pcm_is_scaled_by_its_full_range_in_the_api_and_hear(embedding_model, dtype, to_int):
    from ssl_audio import hear

    rng = np.random.default_rng(0)
    t = np.arange(16_000 * 3) / 16_000
    audio = (0.5 * np.sin(2 * np.pi * 330 * t) + 0.05 * rng.normal(size=t.size)).clip(-0.99, 0.99)
    pcm = to_int(audio)
    assert pcm.dtype == dtype
    step = 1 / 127 if dtype in (np.uint8, np.int8) else 1e-4  # quantisation at 8 bits moves the embedding a little
    float_e = embedding_model.embed(audio.astype(np.float32), 16_000).scene
    int_e = embedding_model.embed(pcm, 16_000).scene
    cosine = float(float_e @ int_e / np.linalg.norm(float_e) / np.linalg.norm(int_e))
    assert cosine > 1 - 10 * step and np.linalg.norm(int_e) == pytest.approx(np.linalg.norm(float_e), rel=20 * step)

    m = hear.HearModel(embedding_model)
    a = hear.get_scene_embeddings(audio[None].astype(np.float32), m)
    b = hear.get_scene_embeddings(pcm[None], m)
    assert np.linalg.norm(b) == pytest.approx(np.linalg.norm(a), rel=20 * step)


def test_other_integer_types_are_refused_in_one_line(embedding_model):
    from ssl_audio import hear
    from ssl_audio.errors import BadValueError

    with pytest.raises(BadValueError, match="audio of dtype int64: give float samples"):
        embedding_model.embed(np.zeros(16_000, np.int64), 16_000)
    with pytest.raises(BadValueError, match="HEAR audio of dtype uint16"):
        hear.get_scene_embeddings(np.zeros((1, 16_000), np.uint16), hear.HearModel(embedding_model))


# ------------------------------------------------------------------------- 3. Ctrl-C inside a decode


@pytest.mark.parametrize("k", range(5))
def test_an_interrupt_swallowed_inside_the_kth_decode_stops_embed_and_records_nothing(
    embedding_model, tmp_path, monkeypatch, k
):
    """soundfile runs Python callbacks inside cffi, which prints and drops a KeyboardInterrupt raised there:
    the decode then fails as if the file were truncated. Here the k-th decode receives SIGINT and swallows
    it, as cffi does; the job must stop with KeyboardInterrupt, record no bad file, and its rerun finish."""
    import ssl_audio.embed.export as export_module

    for i in range(5):
        music(tmp_path / "in" / f"f{i}.wav", 1.5, seed=i)
    real, calls = export_module.decode_file, []

    def decode_swallowing_sigint(path, options):
        calls.append(path)
        if len(calls) == k + 1:
            try:
                signal.getsignal(signal.SIGINT)(signal.SIGINT, None)  # what the signal does, in this thread
            except KeyboardInterrupt:
                pass  # swallowed, as cffi does inside soundfile's read callback
            raise export_module.DecodeError(path, "truncated (what the short read looked like)")
        return real(path, options)

    monkeypatch.setattr(export_module, "decode_file", decode_swallowing_sigint)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        export_module.export(embedding_model, tmp_path / "in", out, workers=1, progress=False)
    errors = out / "errors.tsv"
    assert not errors.exists() or len(errors.read_text().strip().splitlines()) <= 1  # the header alone
    monkeypatch.setattr(export_module, "decode_file", real)
    again = export_module.export(embedding_model, tmp_path / "in", out, workers=1, progress=False)
    assert again.failed == 0 and again.done_before + again.embedded == 5


# ------------------------------------------------------------------------- 4. a split with no usable file


def _split_folder(root: Path, bad_test: dict[str, bytes | None]) -> Path:
    rows = []
    for i in range(4):
        music(root / f"tr{i}.wav", 1.5, seed=i)
        rows.append((f"tr{i}.wav", "train" if i < 3 else "validation"))
    for name, content in bad_test.items():
        if content is None:  # a readable header over silence: found only by decoding
            sf.write(str(root / name), np.zeros(16_000, np.float32), 16_000)
        else:
            (root / name).write_bytes(content)
        rows.append((name, "test"))
    (root / "labels.csv").write_text(
        "path,split,genre\n" + "".join(f"{p},{s},g{i % 2}\n" for i, (p, s) in enumerate(rows))
    )
    return root


@pytest.mark.parametrize(
    "bad_test, found_before_writing",
    [({"empty.wav": b"", "text.mp3": b"not audio at all"}, True), ({"quiet.wav": None, "empty.wav": b""}, False)],
)
def test_prepare_refuses_a_split_with_no_usable_file_in_one_line(tmp_path, bad_test, found_before_writing):
    root = _split_folder(tmp_path / "music", bad_test)
    data_dir = tmp_path / "tfds"
    r = run(
        "prepare",
        "--input",
        str(root),
        "--name",
        "empty_test",
        "--data-dir",
        str(data_dir),
        "--workers",
        "1",
        "--quiet",
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "the test split has no usable file: 2 files, every one bad" in r.stderr
    assert "empty.wav: empty file" in r.stderr
    if found_before_writing:
        assert "text.mp3" in r.stderr
    else:
        assert "quiet.wav: silent" in r.stderr
    assert not data_dir.exists()  # nothing left that blocks the rerun


def test_a_folder_of_only_bad_files_is_one_line(tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "a.wav").write_bytes(b"")
    sf.write(str(root / "b.wav"), np.zeros(16_000, np.float32), 16_000)
    r = run(
        "prepare",
        "--input",
        str(root),
        "--name",
        "bad",
        "--data-dir",
        str(tmp_path / "tfds"),
        "--workers",
        "1",
        "--quiet",
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    assert "the train split has no usable file" in r.stderr and "b.wav: silent" in r.stderr


# ------------------------------------------------------------------------- 6. antiphase stereo


def test_antiphase_stereo_is_not_silent_and_the_kept_channel_is_named(tmp_path):
    from ssl_audio.audio.decode import DecodeOptions, decode_file

    t = np.arange(32_000) / 16_000
    x = 0.25 * np.sin(2 * np.pi * 220 * t)
    sf.write(
        str(tmp_path / "anti.wav"), np.stack([x, -x * 0.99999], axis=1).astype(np.float32), 16_000, subtype="FLOAT"
    )
    audio, note = decode_file(tmp_path / "anti.wav", DecodeOptions())
    assert np.abs(audio).max() == pytest.approx(0.25, rel=1e-3)
    assert "the channels cancel when downmixed" in note and "kept channel 1 alone" in note
    sf.write(str(tmp_path / "wide.wav"), np.stack([x, 0.5 * x], axis=1).astype(np.float32), 16_000, subtype="FLOAT")
    audio, note = decode_file(tmp_path / "wide.wav", DecodeOptions())
    assert note == "" and np.abs(audio).max() == pytest.approx(0.75 * 0.25, rel=1e-3)


# ------------------------------------------------------------------------- 5. a read-only output folder


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder nobody can write into, root included: chmod for a user, the immutable attribute for root
    (whom permission bits do not stop)."""
    import os

    folder = tmp_path / "read_only"
    folder.mkdir()
    (folder / "earlier.txt").write_text("a user's file")
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
        assert made.returncode == 0, f"chattr +i (root needs it to make a folder read-only): {made.stderr}"
    else:
        folder.chmod(0o555)
    yield folder
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o755)


def test_a_read_only_output_folder_is_one_line_naming_it(read_only_folder, tmp_path, checkpoint):
    music(tmp_path / "in" / "a.wav", 1.5, seed=1)
    scan = run("scan", str(tmp_path / "in"), "--quiet", "--json", str(read_only_folder / "scan.json"))
    embed = run(
        "embed", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "in"), "--output",
        str(read_only_folder / "emb"), "--quiet",
    )  # fmt: skip
    for r in (scan, embed):
        assert r.returncode == 2, r.stderr[-2000:]
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
        assert str(read_only_folder) in lines[0] and "choose a folder you can write" in lines[0]
    assert sorted(p.name for p in read_only_folder.iterdir()) == ["earlier.txt"]  # nothing touched


def test_an_unrelated_os_error_keeps_its_traceback(monkeypatch):
    import errno

    from ssl_audio import cli
    from ssl_audio.commands import scan

    def broken(args):
        raise OSError(errno.EIO, "Input/output error", "/dev/sdz")

    monkeypatch.setattr(scan, "run", broken)
    with pytest.raises(OSError, match="Input/output error"):
        cli.main(["scan", "/nowhere"])


# ------------------------------------------------------------------------- 8. files and segments counted apart


def test_prepare_and_info_count_files_apart_from_segments(tmp_path):
    root = tmp_path / "music"
    for i in range(3):
        music(root / f"good{i}.wav", 2.0 if i else 6.0, seed=i)  # good0: 3 segments of 2 s
    sf.write(str(root / "silent.wav"), np.zeros(16_000 * 10, np.float32), 16_000)  # 5 silent segments
    data_dir = tmp_path / "tfds"
    prep = run("prepare", "--input", str(root), "--name", "seg", "--data-dir", str(data_dir), "--segment-seconds", "2")
    assert prep.returncode == 0, prep.stderr[-2000:]
    assert "splits: train 3 files (5 segments)" in prep.stdout
    assert "bad files skipped: 1" in prep.stdout and prep.stdout.count("  bad: ") == 1
    assert "silent.wav: 5 segments bad, the first: segment 0.0-2.0 s is silent" in prep.stdout
    info = run("info", "--dataset", "seg", "--data-dir", str(data_dir))
    assert info.returncode == 0 and "splits: train 3 files (5 segments)" in info.stdout, info.stderr[-2000:]


# ------------------------------------------------------------------------- 14. an empty folder, one answer


def test_an_empty_folder_is_the_same_one_line_for_scan_prepare_and_embed(tmp_path, checkpoint):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("not audio")
    results = [
        run("scan", str(empty)),
        run("prepare", "--input", str(empty), "--name", "e", "--data-dir", str(tmp_path / "tfds")),
        run("embed", "--checkpoint", str(checkpoint), "--input", str(empty), "--output", str(tmp_path / "out")),
    ]
    for r in results:
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
        assert "no audio files found" in r.stderr and str(empty) in r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "tfds").exists()


def test_a_missing_file_of_a_list_names_where_it_was_looked_for(tmp_path, checkpoint):
    lists = tmp_path / "lists"
    lists.mkdir()
    music(tmp_path / "audio" / "a.wav", 1.5, seed=3)
    (lists / "files.txt").write_text("../audio/a.wav\naudio/b.wav\n")  # relative to the list's folder
    r = run(
        "embed", "--checkpoint", str(checkpoint), "--input", str(lists / "files.txt"), "--output", str(tmp_path / "o")
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1 file embedded" in r.stdout
    errors = (tmp_path / "o" / "errors.tsv").read_text()
    assert f"looked for {lists / 'audio' / 'b.wav'}" in errors


# ------------------------------------------------------------------------- 12. a UTF-8 label for a Latin-1 name


def test_a_utf8_labels_csv_names_a_latin1_file(tmp_path):
    import os

    root = tmp_path / "music"
    root.mkdir()
    latin1 = os.fsdecode("Café Müsik.wav".encode("latin-1"))  # the bytes an old share holds
    with open(os.path.join(root, latin1), "wb") as f:
        sf.write(f, np.sin(np.arange(32_000) / 16_000 * 2 * np.pi * 330).astype(np.float32) * 0.3, 16_000, format="WAV")
    for i in range(3):
        music(root / f"other{i}.wav", 2.0, seed=i)
    rows = ["Café Müsik.wav,ambient"] + [f"other{i}.wav,{'ambient' if i else 'rock'}" for i in range(3)]
    (root / "labels.csv").write_text("path,genre\n" + "\n".join(rows) + "\n", encoding="utf-8")
    r = run(
        "prepare", "--input", str(root), "--name", "latin", "--data-dir", str(tmp_path / "tfds"), "--splits",
        "1,0,0", "--quiet",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert "train 4 files" in r.stdout and "bad files skipped: 0" in r.stdout


# ------------------------------------------------------------------------- 11. embed's progress in seconds


def test_embed_progress_counts_seconds_of_audio_so_its_eta_holds_for_unequal_files(tmp_path, checkpoint):
    import re

    music(tmp_path / "in" / "short.wav", 1.0, seed=1)
    music(tmp_path / "in" / "long.wav", 20.0, seed=2)
    (tmp_path / "in" / "bad.wav").write_bytes(b"")
    r = run("embed", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr[-2000:]
    bars = re.findall(r"(\d+)/(\d+) s of audio \[[^\]]*?(\d+\.\d)/3 files", r.stderr)
    assert bars, r.stderr[-2000:]
    done, total, files = bars[-1]
    assert int(total) == 21 and int(done) == 21 and float(files) == 3.0  # the whole 21 s, every file


# ------------------------------------------------------------------------- 10. what a noted file was


def test_embeds_summary_says_what_each_noted_file_was(tmp_path, checkpoint):
    music(tmp_path / "in" / "short.wav", 0.4, seed=1)
    whole = music(tmp_path / "cut_src.wav", 4.0, seed=2).read_bytes()
    (tmp_path / "in" / "cut.wav").write_bytes(whole[: len(whole) // 2])  # a copy that stopped half-way
    r = run("embed", "--checkpoint", str(checkpoint), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 files embedded with a note" in r.stdout
    assert "short.wav: too short (0.40 s < minimum" in r.stdout
    assert "cut.wav: truncated: 2.0 s decoded of the 4.0 s its header declares" in r.stdout
    assert "shorter than --min-seconds" not in r.stdout  # a truncated file is not called short
