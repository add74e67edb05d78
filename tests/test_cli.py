import subprocess
import sys

import pytest

from ssl_audio.cli import COMMANDS, build_parser, main

# Commands that decode audio files: DecodeError's hints name --min-seconds and --silence-dbfs.
DECODING = ("scan", "prepare", "embed", "augment-preview")


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
    lines = [line for line in result.stderr.splitlines() if line.strip()]
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
    again = run("info", "--dataset", "demo", "--data-dir", str(tfds_dir), "--plot", str(tmp_path / "labels.png"))
    assert again.returncode == 2 and "--plot" in again.stderr and "--overwrite" in again.stderr


def _subparsers(parser):
    return next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices


def _flags(parser) -> set[str]:
    return {opt for action in parser._actions for opt in action.option_strings}


def test_cli_is_a_table_and_each_job_owns_its_flags():
    parser = build_parser(every_command=True)
    commands = _subparsers(parser)
    assert set(commands) == set(COMMANDS)
    for name in DECODING:  # every hint a DecodeError gives names a flag that command has
        assert {"--min-seconds", "--silence-dbfs"} <= _flags(commands[name]), name
    bench = _subparsers(commands["bench"])
    assert set(bench) == {"augment", "step", "conv", "embed", "listing", "decode", "memory", "input"}
    for name in ("prepare", "embed"):  # the one-flag switch to Beam, and its options
        assert {"--runner", "--beam-option"} <= _flags(commands[name]), name
    assert "--runner" in _flags(bench["embed"])
    assert "--config" not in _flags(bench["augment"]) and "--checkpoint" not in _flags(bench["step"])
    assert "--window-seconds" in _flags(commands["export-savedmodel"]) and "--config" in _flags(
        commands["augment-preview"]
    )


@pytest.mark.parametrize(
    "command,flag",
    [("probe", "--task"), ("probe", "--head"), ("probe", "--mode"), ("info", "--data-dir"), ("prepare", "--layout")],
)
def test_help_states_defaults(command, flag):
    parser = _subparsers(build_parser(command))[command]
    action = next(a for a in parser._actions if flag in a.option_strings)
    assert "default" in action.help, (command, flag, action.help)


def test_a_usage_error_is_one_line_and_a_bug_keeps_its_traceback(tmp_path, monkeypatch, capsys):
    assert main(["scan", str(tmp_path / "nowhere"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a directory" in err[0]

    import ssl_audio.commands.scan as scan  # where the command looks the job up

    def broken(*args, **kwargs):
        raise ValueError("an internal bug, not the user's fault")

    monkeypatch.setattr(scan, "scan_folder", broken)
    with pytest.raises(ValueError, match="internal bug"):
        main(["scan", str(tmp_path), "--quiet"])


def test_counts_are_worded_for_one(tmp_path, tone):
    tone(tmp_path / "a.wav")
    result = run("scan", str(tmp_path), "--quiet")
    assert result.returncode == 0 and "1 audio file," in result.stdout


def test_config_prints_overridable_keys():
    result = run("config", "configs/simclr_logmel_cnn.py:tiny", "--config.batch_size=4")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "--config.batch_size=4" in lines and "--config.model.name='logmel_cnn'" in lines
    assert all(line.startswith("--config.") for line in lines)
