"""Runs saved by earlier versions resume and embed: a checkpoint and config.json kept as a fixture.

tests/fixtures/run_8ab7c1a is `ssl-audio pretrain` of the tiny config at commit 8ab7c1a (before the
redesign: pretrain/, configs/ imported under their own names, keys read with fallbacks), on the tests' `prepared`
dataset, 6 steps with a checkpoint every 2, logging every step; its checkpoints after step 2 are left out,
as a run killed after that checkpoint leaves them. Its metrics.jsonl is the uninterrupted run's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ssl_audio.saved_config import ADDED_SINCE, upgrade
from tests.pretrain import helpers

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_8ab7c1a"
# The command that made it, less --config.data_dir (where the data is may change between a run's sessions).
OVERRIDES = (
    "--config.total_steps=6",
    "--config.optimizer.warmup_steps=1",
    "--config.log_every_steps=1",
    "--config.checkpoint_every_steps=2",
    "--config.keep_checkpoints=3",
)


def _node(config: dict, key: str):
    *parents, leaf = key.split(".")
    for part in parents:
        config = config[part]
    return config, leaf


@pytest.mark.slow
def test_a_run_saved_before_the_redesign_resumes_on_its_own_trajectory(prepared, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(FIXTURE, workdir)
    expected = helpers.losses(FIXTURE)
    resumed = helpers.run(workdir, prepared, *OVERRIDES)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from the checkpoint at step 2" in resumed.stdout
    got = helpers.losses(workdir)
    assert sorted(got) == list(range(1, 7))
    for step in range(3, 7):  # the data iterator and the state went on from step 2: the same batches, losses
        assert got[step] == pytest.approx(expected[step], rel=1e-3), step


def test_a_config_saved_before_keys_existed_is_upgraded_to_what_the_code_did_then(tmp_path):
    saved = json.loads((FIXTURE / "config.json").read_text())
    older = json.loads(json.dumps(saved))
    for key in ADDED_SINCE:  # as a run saved before any of them existed would hold it
        node, leaf = _node(older, key)
        node.pop(leaf, None)  # a key added after the fixture was saved is absent already
    upgraded = upgrade(older)
    for key, value in ADDED_SINCE.items():
        node, leaf = _node(upgraded, key)
        assert node[leaf] == (value() if callable(value) else value), key
    # keys that are there are kept, whatever their value (blocks added after the fixture are filled in)
    assert {k: v for k, v in upgrade(saved).items() if k in saved} == saved
    # Every reader goes through the upgrade: the config loads and checks, the encoder loads and embeds.
    old_run = tmp_path / "old"
    shutil.copytree(FIXTURE, old_run)
    (old_run / "config.json").write_text(json.dumps(older))
    from ssl_audio.pretrained import load_encoder
    from ssl_audio_pretrain.config import load_config

    config = load_config(str(old_run / "config.json"))
    assert config.objective == "nt_xent" and config.augment.pitch_stretch == "waveform"
    encoder = load_encoder(old_run)
    assert encoder.readout == "embedding" and encoder.step == 2
