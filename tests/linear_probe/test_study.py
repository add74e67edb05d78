"""`python -m linear_probe.study`: a study row from several pretraining seeds, resumable by rerunning."""

from __future__ import annotations

import json

import pytest

from linear_probe import study
from tests.pretrain import helpers

pytestmark = pytest.mark.slow


def test_a_row_over_two_seeds_and_a_rerun_that_redoes_nothing(prepared, tmp_path, monkeypatch, capsys):
    for key, value in helpers.env(1).items():
        monkeypatch.setenv(key, value)
    name, data_dir = prepared
    argv = ["tiny steps", "--seeds", "0,1", "--config", helpers.TINY, "--dataset", name, "--data-dir", data_dir,
            "--out", str(tmp_path), "--", "--config.total_steps=2", "--config.optimizer.warmup_steps=1"]  # fmt: skip
    assert study.main(argv) == 0
    out = capsys.readouterr().out
    assert "| tiny steps | 2 | " in out
    losses = []
    for seed in (0, 1):
        unit = tmp_path / f"tiny-steps-s{seed}"
        results = json.loads((unit / "probe" / "results.json").read_text())
        assert "pretrained" in results["tasks"]["genre"]["by_features"]
        config = json.loads((unit / "pretrain" / "config.json").read_text())
        assert config["seed"] == seed and config["total_steps"] == 2
        losses.append((unit / "pretrain" / "metrics.jsonl").read_text())
    assert losses[0] != losses[1], "two seeds trained the same run"

    stamp = (tmp_path / "tiny-steps-s0" / "probe" / "results.json").stat().st_mtime_ns
    assert study.main(argv) == 0  # complete seeds are not run again
    assert (tmp_path / "tiny-steps-s0" / "probe" / "results.json").stat().st_mtime_ns == stamp
    rows = (tmp_path / "rows.md").read_text().splitlines()
    assert len(rows) == 4 and rows[0] == rows[2] and rows[1].startswith("<!-- python -m linear_probe.study")


def test_only_config_overrides_after_the_separator(tmp_path):
    with pytest.raises(SystemExit):
        study.main(["x", "--out", str(tmp_path), "--", "--seed=1"])
