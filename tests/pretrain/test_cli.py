"""`ssl-audio pretrain` and `ssl-audio bench step` from the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.pretrain import helpers


def test_unknown_config_key_is_one_line_and_nothing_is_written(prepared, tmp_path):
    result = helpers.run(tmp_path / "run", prepared, "--config.model.widht=3")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ssl-audio pretrain: error: config.model.widht: unknown key; the keys are those of "
        f"{helpers.REPO / 'configs' / 'simclr_logmel_cnn.py'}"]
    assert not (tmp_path / "run").exists()


def test_missing_dataset_says_how_to_build_it(tmp_path):
    result = helpers.run(tmp_path / "run", ("nosuch", str(tmp_path / "tfds")))
    assert result.returncode == 2
    assert "dataset 'nosuch' not found" in result.stderr and "ssl-audio prepare" in result.stderr


def test_overrides_are_refused_by_commands_without_a_config(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ssl_audio.cli", "scan", str(tmp_path), "--config.x=1"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "unrecognized arguments: --config.x=1" in result.stderr


@pytest.mark.slow
def test_bench_step_prints_its_figures_last(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ssl_audio.cli", "bench", "step", "--config", helpers.TINY,
                             "--devices", "2", "--repeats", "1", "--peak-tflops", "1"],
                            capture_output=True, text=True, env=helpers.env(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    fields = dict(item.split("=") for item in last.split()[1:])
    assert last.startswith("step ") and set(fields) == {"steps_per_s", "clips_per_s", "tflops_per_s", "mfu",
                                                       "augment_share"}
    assert float(fields["steps_per_s"]) > 0 and float(fields["clips_per_s"]) == pytest.approx(
        8 * float(fields["steps_per_s"]), rel=0.01)
    assert 0 < float(fields["mfu"]) < 1 and 0 <= float(fields["augment_share"]) <= 1
    assert "on 2 x cpu" in result.stdout
