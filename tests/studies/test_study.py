"""`python -m studies.study`: a study row from several pretraining seeds, resumable by rerunning."""

from __future__ import annotations

import json

import pytest

from studies import study
from tests.pretrain import helpers

pytestmark = pytest.mark.slow


def test_a_row_is_made_per_seed_and_a_rerun_redoes_nothing(prepared, tmp_path, monkeypatch, capsys):
    for key, value in helpers.env(1).items():
        monkeypatch.setenv(key, value)
    name, data_dir = prepared
    # One seed keeps the suite short; the row's mean ± sd over several is studies.study_table's, tested there.
    argv = ["tiny steps", "--seeds", "1", "--config", helpers.TINY, "--dataset", name, "--data-dir", data_dir,
            "--out", str(tmp_path), "--", "--config.total_steps=2", "--config.optimizer.warmup_steps=1"]  # fmt: skip
    assert study.main(argv) == 0
    assert "| tiny steps | 1 | " in capsys.readouterr().out
    unit = tmp_path / "tiny-steps-s1"
    results = json.loads((unit / "probe" / "results.json").read_text())
    assert "pretrained" in results["tasks"]["genre"]["by_features"]
    config = json.loads((unit / "pretrain" / "config.json").read_text())
    assert config["seed"] == 1 and config["total_steps"] == 2  # the seed and the overrides reached the run

    stamp = (unit / "probe" / "results.json").stat().st_mtime_ns
    assert study.main(argv) == 0  # a complete seed is not run again
    assert (unit / "probe" / "results.json").stat().st_mtime_ns == stamp
    rows = (tmp_path / "rows.md").read_text().splitlines()
    assert len(rows) == 4 and rows[0] == rows[2] and rows[1].startswith("<!-- python -m studies.study")


def test_only_config_overrides_after_the_separator(tmp_path):
    with pytest.raises(SystemExit):
        study.main(["x", "--out", str(tmp_path), "--", "--seed=1"])
