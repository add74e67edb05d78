import subprocess
import sys

import pytest

COMMANDS = ("synth", "scan", "prepare", "info", "bench", "augment-preview")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ssl_audio.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_top_level_help_lists_every_command():
    result = run("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_explains_itself(command):
    result = run(command, "--help")
    assert result.returncode == 0 and "usage: ssl-audio " + command in result.stdout
    assert len(result.stdout) > 400


def test_labels_error_is_one_line_naming_the_row(tmp_path, tone):
    tone(tmp_path / "a.wav")
    (tmp_path / "labels.csv").write_text("path,genre\na.wav,rock\nmissing.wav,jazz\n")
    result = run("prepare", "--input", str(tmp_path), "--name", "x", "--data-dir", str(tmp_path / "tfds"))
    assert result.returncode == 2
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and "labels.csv:3 (missing.wav)" in lines[0] and "does not exist" in lines[0]


def test_synth_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    result = run("synth", "--out", str(tmp_path), "--clips", "1", "--quiet")
    assert result.returncode == 2 and "refusing" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"


@pytest.mark.slow
def test_demo_chain_synth_prepare_info(tmp_path):
    audio, tfds_dir = tmp_path / "audio", tmp_path / "tfds"
    synth = run("synth", "--out", str(audio), "--clips", "40", "--seconds", "3", "--workers", "2", "--quiet")
    assert synth.returncode == 0, synth.stderr
    assert "synth: 40 clips of 3 s" in synth.stdout and "clips/s" in synth.stdout
    prep = run("prepare", "--input", str(audio), "--name", "demo", "--data-dir", str(tfds_dir), "--workers", "2")
    assert prep.returncode == 0, prep.stderr
    assert "prepare: built" in prep.stdout and "bad files skipped: 0" in prep.stdout
    again = run("prepare", "--input", str(audio), "--name", "demo", "--data-dir", str(tfds_dir))
    assert "prepare: reused" in again.stdout
    info = run("info", "--dataset", "demo", "--data-dir", str(tfds_dir), "--plot", str(tmp_path / "labels.png"))
    assert info.returncode == 0, info.stderr
    assert "none shared between splits" in info.stdout and "genre (class, 10)" in info.stdout
    assert "pretraining view: view_a/view_b (4, 16000) float32" in info.stdout
    assert (tmp_path / "labels.png").stat().st_size > 10_000
