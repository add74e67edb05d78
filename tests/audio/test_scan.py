import json
import subprocess
import sys

import numpy as np
import soundfile as sf

from ssl_audio.audio.decode import DecodeOptions
from ssl_audio.audio.scan import find_audio_files, scan_folder


def _messy_folder(root, tone):
    tone(root / "good" / "a.wav", seconds=2.0, rate=44_100, channels=2)
    tone(root / "good" / "b.flac", seconds=3.0, rate=16_000, fmt="FLAC")
    tone(root / "low.wav", seconds=2.0, rate=8_000)
    (root / "empty.wav").write_bytes(b"")
    (root / "corrupt.mp3").write_bytes(b"ID3" + b"\x00garbage" * 50)
    sf.write(root / "silent.wav", np.zeros(32_000, np.float32), 16_000)
    tone(root / "short.wav", seconds=0.3)
    (root / "notes.txt").write_text("not audio")
    (root / ".hidden.wav").write_bytes(b"")


def test_scan_counts_hours_rates_and_every_bad_file(tmp_path, tone):
    _messy_folder(tmp_path, tone)
    summary = scan_folder(tmp_path, DecodeOptions(), workers=1, progress=False)
    assert summary.files == 7  # .txt and hidden files are not audio
    assert summary.usable == 3
    assert abs(summary.hours * 3600 - 7.0) < 0.01
    assert summary.sample_rates == {44_100: 1, 16_000: 3, 8_000: 1}
    assert summary.channels[2] == 1
    assert summary.below_target_rate == 1
    reasons = {entry["path"].rsplit("/", 1)[1]: entry["reason"] for entry in summary.bad}
    assert set(reasons) == {"empty.wav", "corrupt.mp3", "silent.wav", "short.wav"}
    assert "empty" in reasons["empty.wav"] and "silent" in reasons["silent.wav"]
    assert "too short" in reasons["short.wav"] and "corrupt" in reasons["corrupt.mp3"]


def test_parallel_scan_matches_serial(tmp_path, tone):
    _messy_folder(tmp_path, tone)
    one = scan_folder(tmp_path, workers=1, progress=False)
    two = scan_folder(tmp_path, workers=2, progress=False)
    assert one == two


def test_find_audio_files_is_sorted_and_recursive(tmp_path, tone):
    for name in ("z.wav", "a/b.wav", "a/c/d.ogg"):
        tone(tmp_path / name, fmt="OGG" if name.endswith("ogg") else None)
    assert [p.relative_to(tmp_path).as_posix() for p in find_audio_files(tmp_path)] == ["a/b.wav", "a/c/d.ogg", "z.wav"]


def test_scan_cli_prints_one_line_per_bad_file_and_writes_json(tmp_path, tone):
    _messy_folder(tmp_path / "music", tone)
    report = tmp_path / "report.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ssl_audio.cli",
            "scan",
            str(tmp_path / "music"),
            "--quiet",
            "--workers",
            "1",
            "--json",
            str(report),
            "--strict",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1  # --strict: bad files present
    bad_lines = [line for line in run.stdout.splitlines() if line.strip().startswith("bad:")]
    assert len(bad_lines) == 4 and any("empty.wav: empty file" in line for line in bad_lines)
    assert json.loads(report.read_text())["usable"] == 3


def test_scan_cli_on_missing_folder_is_one_line_error(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "ssl_audio.cli", "scan", str(tmp_path / "nowhere")], capture_output=True, text=True
    )
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "not a directory" in run.stderr
