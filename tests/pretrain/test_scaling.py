"""Correctness at scale: 4 devices compute what 1 device computes; 2 processes stay identical."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from tests.pretrain import helpers

pytestmark = pytest.mark.slow
CONFIGS = [f"configs/simclr_{name}.py:tiny" for name in ("logmel_cnn", "samplecnn", "transformer")] + [
    "configs/bestrq_conformer.py:tiny"  # masked prediction: masks, targets and cross-entropy over the global batch
]


def four_device_report(config: str, controls: bool, overrides: tuple[str, ...] = ()) -> dict:
    """tests/pretrain/scale_check.py for one config in a process that sees 4 CPU devices."""
    command = [sys.executable, "-m", "tests.pretrain.scale_check", config, *overrides]
    command += ["--controls"] if controls else []
    result = subprocess.run(
        command, cwd=helpers.REPO, capture_output=True, text=True, env=helpers.env(devices=4), timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# float64 rounding of a reordered sum (scale_check.py runs in float64): ~1e-13 of the values' scale on
# any CPU, so 1e-9 holds by construction; a wrong sum is off by 1e-3 of the scale or more.
RELATIVE = 1e-9


def assert_step_matches(r: dict) -> None:
    """The step on 4 devices is the step on 1, up to float64 rounding."""
    assert r["loss_4"] == pytest.approx(r["loss_1"], rel=RELATIVE)
    assert r["grad_max_abs"] <= RELATIVE * r["grad_scale"]  # the same sum over the global batch
    assert r["batch_stats_max_abs"] <= RELATIVE * r["batch_stats_scale"]  # batch norm over the global batch
    # Each device transforms its own quarter of the 2N views in the front end, not all of them (jax#13081).
    assert r["step_fft_rows_4"] <= 2 * r["batch_size"] // 4


@pytest.mark.parametrize("config", CONFIGS)
def test_four_devices_compute_what_one_device_computes(config):
    """One subprocess per encoder (xdist spreads them); the first also checks the augmentation chain, which
    every config shares, and the negative control."""
    controls = config == CONFIGS[0]
    r = four_device_report(config, controls)
    assert_step_matches(r)
    if controls:
        assert r["augment_max_abs"] <= RELATIVE * r["augment_scale"]  # the chain is per example
        # With whole strata on every device (64 clips, 16 a device) each device augments its own shard, and
        # still makes the views one device makes.
        assert r["sharded_augment_max_abs"] <= RELATIVE * r["sharded_augment_scale"]
        assert r["sharded_augment_fft_rows_4"] <= 16
        # The negative control: the multi-GPU bug (negatives from each device's slice only) is caught by the
        # same comparison, by many orders of magnitude.
        assert abs(r["local_negatives_loss_4"] - r["loss_1"]) > 1e6 * RELATIVE * r["loss_1"]
        assert r["local_negatives_grad_max_abs"] > 1e6 * RELATIVE * r["grad_scale"]


def test_per_view_batch_norm_on_four_devices_computes_what_one_device_computes():
    """batch_norm=per_view takes each view's statistics over that view's global batch, which on 4 devices is
    sharded four ways: the same loss, gradients and running statistics as on 1 device."""
    r = four_device_report(CONFIGS[0], controls=False, overrides=("--config.batch_norm=per_view",))
    assert r["batch_norm"] == "per_view"  # the step that was compared is the per-view one
    assert_step_matches(r)


def test_band_domain_views_on_four_devices_compute_what_one_device_computes():
    """Pitch and stretch on the semitone bands (augment.pitch_stretch=bands) and mixup's partners are drawn
    per example from the step's key: sharding the batch changes neither the views nor the step."""
    r = four_device_report(CONFIGS[0], controls=False, overrides=(*helpers.BANDS, "--config.augment.mixup.p=0.5"))
    assert r["pitch_stretch"] == "bands" and r["mixup_p"] == 0.5  # the step compared is the band-domain one
    assert_step_matches(r)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_end_with_identical_parameters(prepared, tmp_path):
    """jax.distributed on localhost with CPU (gloo) collectives: one data shard per process, one workdir."""
    address = f"localhost:{_free_port()}"
    workdir = tmp_path / "run"
    processes = [
        subprocess.Popen(
            helpers.command(
                workdir,
                prepared,
                "--config.total_steps=6",
                "--config.log_every_steps=2",
                "--config.checkpoint_every_steps=3",
                "--coordinator-address",
                address,
                "--num-processes",
                "2",
                "--process-id",
                str(i),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=helpers.env(),
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=400) for p in processes]
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
    fingerprints = [out.split("params_fingerprint=")[1].split()[0] for out, _ in outputs]
    assert fingerprints[0] == fingerprints[1]
    assert "over 2 device(s) in 2 process(es)" in outputs[0][0]
    assert sorted(helpers.losses(workdir)) == [2, 4, 6]
    assert (workdir / "checkpoints" / "6" / "data" / "process_1-of-2.json").exists()  # each shard's position
