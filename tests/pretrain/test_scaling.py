"""Correctness at scale: 4 devices compute what 1 device computes; 2 processes stay identical."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from tests.pretrain import helpers

pytestmark = pytest.mark.slow
CONFIGS = [f"configs/simclr_{name}.py:tiny" for name in ("logmel_cnn", "samplecnn", "transformer")]


@pytest.fixture(scope="module")
def four_device_report():
    """tests/pretrain/scale_check.py in a process that sees 4 CPU devices."""
    result = subprocess.run([sys.executable, "-m", "tests.pretrain.scale_check", *CONFIGS], cwd=helpers.REPO,
                            capture_output=True, text=True, env=helpers.env(devices=4), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return {r["config"]: r for r in map(json.loads, result.stdout.strip().splitlines())}


# Tests sharing a module fixture run on one xdist worker (`--dist loadgroup`), so the fixture runs once.
@pytest.mark.xdist_group("four_devices")
@pytest.mark.parametrize("config", CONFIGS)
def test_four_devices_give_the_loss_and_gradients_of_one(four_device_report, config):
    r = four_device_report[config]
    assert r["loss_4"] == pytest.approx(r["loss_1"], abs=1e-5)
    assert r["grad_max_abs"] <= 1e-5 * max(1.0, r["grad_scale"])       # float32 rounding, not a different sum
    assert r["batch_stats_max_abs"] <= 1e-5                             # batch norm over the global batch
    assert r["augment_max_abs"] <= 1e-5 * r["augment_scale"]            # the chain is per example


@pytest.mark.xdist_group("four_devices")
def test_negatives_come_from_the_global_batch(four_device_report):
    r = four_device_report[CONFIGS[0]]
    assert r["global_negatives_loss_4"] == pytest.approx(r["global_negatives_loss"], abs=1e-5)
    # The check can fail: per-device negatives (no all-gather) give a clearly different loss.
    assert abs(r["local_negatives_loss_4"] - r["global_negatives_loss"]) > 0.1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_end_with_identical_parameters(prepared, tmp_path):
    """jax.distributed on localhost with CPU (gloo) collectives: one data shard per process, one workdir."""
    address = f"localhost:{_free_port()}"
    workdir = tmp_path / "run"
    processes = [subprocess.Popen(
        helpers.command(workdir, prepared, "--config.total_steps=6", "--config.log_every_steps=2",
                        "--config.checkpoint_every_steps=3", "--coordinator-address", address,
                        "--num-processes", "2", "--process-id", str(i)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=helpers.env()) for i in range(2)]
    outputs = [p.communicate(timeout=400) for p in processes]
    for p, (out, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
    fingerprints = [out.split("params_fingerprint=")[1].split()[0] for out, _ in outputs]
    assert fingerprints[0] == fingerprints[1]
    assert "over 2 device(s) in 2 process(es)" in outputs[0][0]
    assert sorted(helpers.losses(workdir)) == [2, 4, 6]
    assert (workdir / "checkpoints" / "6" / "data" / "process_1-of-2.json").exists()  # each shard's position
