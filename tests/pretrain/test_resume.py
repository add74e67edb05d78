"""Nothing lost: a killed run resumes exactly; SIGTERM saves and exits 0; a NaN stops the run by name."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.pretrain import helpers

pytestmark = pytest.mark.slow
EVERY_STEP = ("--config.total_steps=40", "--config.log_every_steps=1", "--config.checkpoint_every_steps=5")


@pytest.fixture(scope="module")
def reference_run(prepared, tmp_path_factory):
    """An uninterrupted 40-step run, logging every step."""
    workdir = tmp_path_factory.mktemp("reference") / "run"
    result = helpers.run(workdir, prepared, *EVERY_STEP)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result


@pytest.mark.xdist_group("reference_run")
def test_uninterrupted_run_leaves_checkpoints_logs_and_plot(reference_run):
    workdir, result = reference_run
    losses = helpers.losses(workdir)
    assert sorted(losses) == list(range(1, 41))
    assert (workdir / "loss.png").stat().st_size > 10_000
    assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert steps[-3:] == [30, 35, 40]  # the last 3 kept (plus, maybe, the best one)
    assert len(steps) <= 4
    assert "pretrain: step 40/40" in result.stdout


@pytest.mark.xdist_group("reference_run")
def test_killed_run_resumes_with_the_same_loss_at_every_later_step(prepared, reference_run, tmp_path):
    workdir = tmp_path / "run"
    process = subprocess.Popen(
        helpers.command(workdir, prepared, *EVERY_STEP),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=helpers.env(),
    )
    deadline = time.time() + 240
    while not (workdir / "checkpoints" / "10").exists():  # orbax renames a checkpoint into place when complete
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    killed_at = max(helpers.losses(workdir))
    assert killed_at < 40, "the run finished before it could be killed"

    resumed = helpers.run(workdir, prepared, *EVERY_STEP)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from the checkpoint at step" in resumed.stdout
    start = int(resumed.stdout.split("resuming from the checkpoint at step ")[1].split()[0])
    assert 10 <= start < 40
    expected, got = helpers.losses(reference_run[0]), helpers.losses(workdir)
    assert sorted(got) == list(range(1, 41))  # one line per step, the recomputed ones replaced
    for step in range(start + 1, 41):
        assert got[step] == pytest.approx(expected[step], abs=1e-6), step


def test_sigterm_saves_a_checkpoint_and_exits_zero(prepared, tmp_path):
    workdir = tmp_path / "run"
    process = subprocess.Popen(
        helpers.command(
            workdir,
            prepared,
            "--config.total_steps=400",
            "--config.log_every_steps=1",
            "--config.checkpoint_every_steps=1000",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=helpers.env(),
    )
    deadline = time.time() + 240
    while not ((workdir / "metrics.jsonl").exists() and len(helpers.losses(workdir)) >= 3):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    assert "SIGTERM received: saved the checkpoint at step" in out
    step = int(out.split("saved the checkpoint at step ")[1].split()[0])
    assert 3 <= step < 400
    assert (workdir / "checkpoints" / str(step)).is_dir()
    assert "(stopped by SIGTERM)" in out


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(prepared, tmp_path):
    # A learning rate no network survives: the parameters blow up within a few steps.
    workdir = tmp_path / "run"
    result = helpers.run(
        workdir,
        prepared,
        "--config.optimizer.lr=1e30",
        "--config.optimizer.warmup_steps=0",
        "--config.checkpoint_every_steps=1",
        "--config.log_every_steps=1",
    )
    assert result.returncode == 2, result.stderr[-3000:]
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("ssl-audio pretrain: error: step ")
    bad_step = int(message.split("step ")[1].split(":")[0])
    assert "the last good checkpoint is step" in message or "no checkpoint was saved" in message
    # A run that never saved a checkpoint in a workdir it created leaves no workdir (nothing to resume).
    checkpoints = workdir / "checkpoints"
    kept = sorted(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit()) if checkpoints.exists() else []
    assert kept or not workdir.exists()
    assert all(step < bad_step for step in kept)
    if kept:
        assert f"the last good checkpoint is step {max(kept)}" in message


@pytest.mark.xdist_group("reference_run")
def test_workdir_of_another_config_is_refused_and_left_alone(prepared, reference_run):
    workdir, _ = reference_run
    before = sorted(p.name for p in (workdir / "checkpoints").iterdir())
    result = helpers.run(workdir, prepared, *EVERY_STEP, "--config.temperature=0.5")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"ssl-audio pretrain: error: {workdir} holds a run of another config: config.temperature is 0.1 there, "
        f"0.5 here. Use a new --workdir, resume that run with --config {workdir / 'config.json'}, or pass "
        f"--restart to delete it and start over"
    )
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == before


@pytest.mark.xdist_group("reference_run")
def test_finished_run_rerun_does_nothing(prepared, reference_run):
    workdir, _ = reference_run
    result = helpers.run(workdir, prepared, *EVERY_STEP)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "nothing left to do; the run was already at step 40 of 40" in result.stdout
    assert "step 40/40 in" not in result.stdout  # as if it had trained
    assert sorted(helpers.losses(workdir)) == list(range(1, 41))
