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
        f"{helpers.REPO / 'configs' / 'simclr_logmel_cnn.py'}"
    ]
    assert not (tmp_path / "run").exists()


def test_missing_dataset_says_how_to_build_it(tmp_path):
    result = helpers.run(tmp_path / "run", ("nosuch", str(tmp_path / "tfds")))
    assert result.returncode == 2
    assert "dataset 'nosuch' not found" in result.stderr and "ssl-audio prepare" in result.stderr


def test_overrides_are_refused_by_commands_without_a_config(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ssl_audio.cli", "scan", str(tmp_path), "--config.x=1"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "unrecognized arguments: --config.x=1" in result.stderr


def test_bench_counts_flops_where_the_backend_cannot_analyse_a_lowered_step():
    """GPU plugins (PJRT's C API) raise NotImplementedError for a lowered program's cost analysis; the step's
    FLOPs then come from XLA's CPU cost model of the same module, convolutions included."""
    import jax
    import jax.numpy as jnp

    from ssl_audio.bench.step import step_flops

    lowered = jax.jit(lambda x, w: jax.lax.conv(x, w, (1, 1), "VALID").sum()).lower(
        jnp.ones((4, 3, 16, 16)), jnp.ones((8, 3, 3, 3))
    )

    class PluginLowered:  # what a GPU plugin's lowered step answers
        def cost_analysis(self):
            raise NotImplementedError("Lowered.cost_analysis not implemented on platform 'cuda'")

        def compiler_ir(self, dialect):
            return lowered.compiler_ir(dialect)

    conv_flops = 2 * 4 * 14 * 14 * 8 * 3 * 3 * 3  # multiply-adds of the convolution alone
    assert conv_flops <= step_flops(lowered) < 1.1 * conv_flops
    assert step_flops(PluginLowered()) == step_flops(lowered)


def test_bench_step_prints_its_figures_last(prepared, tmp_path):
    name, data_dir = prepared
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ssl_audio.cli",
            "bench",
            "step",
            "--config",
            helpers.TINY,
            "--devices",
            "2",
            "--repeats",
            "1",
            "--rounds",
            "1",
            "--peak-tflops",
            "1",
            "--versus",
            "augment.eq.p=0",
            # The vocoder off: its compile was most of this test's time, and the figures' mechanics are the
            # same with any chain (the EQ, still on, is what --versus changes).
            "--config.augment.pitch_shift.p=0",
            "--config.augment.time_stretch.p=0",
            # pretrain's own loop on the prepared dataset, taking turns with the step alone.
            "--end-to-end",
            "2",
            f"--config.dataset={name}",
            f"--config.data_dir={data_dir}",
        ],
        capture_output=True,
        text=True,
        env=helpers.env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    fields = dict(item.split("=") for item in last.split()[1:])
    assert last.startswith("step ") and set(fields) == {
        "steps_per_s",
        "clips_per_s",
        "tflops_per_s",
        "mfu",
        "augment_share",
        "end_to_end_ratio",
    }
    assert 0 < float(fields["end_to_end_ratio"]) < 2 and "end to end (pretrain's loop" in result.stdout
    assert float(fields["steps_per_s"]) > 0 and float(fields["clips_per_s"]) == pytest.approx(
        8 * float(fields["steps_per_s"]), rel=0.01
    )
    assert 0 < float(fields["mfu"]) < 1 and 0 <= float(fields["augment_share"]) <= 1
    assert "on 2 x cpu" in result.stdout
    # The same step with the EQ off, timed in the same process: its time, the ratio and its own share.
    versus = next(line for line in result.stdout.splitlines() if line.strip().startswith("versus "))
    ratio = float(versus.split("this step is ")[1].split("x")[0])
    assert "versus augment.eq.p=0: step " in versus and ratio > 0
    share = float(versus.split("augmenting there: ")[1].split("= ")[1].split("%")[0])
    assert 0 <= share <= 100


def _one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def _pretrain_in_process(capsys, workdir, dataset, *overrides) -> str:
    """`ssl-audio pretrain` through the CLI's main() in this process (no interpreter start-up per case): the
    single stderr line of a usage error."""
    from ssl_audio.cli import main

    argv = helpers.command(workdir, dataset, *overrides)[3:]  # drop python -m ssl_audio.cli
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    "bad,key",
    [
        ("--config.batch_size=64", "--config.batch_size="),  # more clips per batch than the dataset has
        ("--config.model.name=foo", "config.model.name"),
        ("--config.augment.reverb.ir_dir=/nonexistent", "config.augment.reverb.ir_dir"),
        ("--config.model.channels=abc", "config.model.channels"),
        ("--config.split=nosuch", "config.split"),
        ("--config.augment.clips_per_pass=3", "config.augment.clips_per_pass: 3 clips a pass"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_and_leaves_no_workdir(prepared, tmp_path, capsys, bad, key):
    """The hardening trial: each of these failed after writing config.json, which then locked the workdir."""
    workdir = tmp_path / "run"
    line = _pretrain_in_process(capsys, workdir, prepared, bad)
    assert line.startswith("ssl-audio pretrain: error: ") and key in line, line
    if "ir_dir" in bad:
        assert "impulse-response" in line
    assert not workdir.exists()


@pytest.mark.slow
def test_after_a_failed_start_the_fixed_command_runs_resumes_from_its_record_and_restarts(prepared, tmp_path, capsys):
    import shutil

    workdir = tmp_path / "run"
    _pretrain_in_process(capsys, workdir, prepared, "--config.batch_size=64")
    assert not workdir.exists()
    ok = helpers.run(
        workdir,
        prepared,
        "--config.total_steps=4",
        "--config.checkpoint_every_steps=2",
        "--config.optimizer.warmup_steps=1",
    )
    assert ok.returncode == 0, ok.stderr[-3000:]
    shutil.rmtree(workdir / "checkpoints" / "4")  # as if killed after the step-2 checkpoint
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ssl_audio.cli",
            "pretrain",
            "--config",
            str(workdir / "config.json"),
            "--workdir",
            str(workdir),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=helpers.env(),
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from the checkpoint at step 2" in resumed.stdout
    assert "pretrain: step 4/4" in resumed.stdout and max(helpers.losses(workdir)) == 4

    # Now the workdir holds a checkpoint: another config is refused, naming the ways out, until --restart.
    other = ("--config.batch_size=4", "--config.total_steps=2", "--config.optimizer.warmup_steps=1")
    line = _one_line(helpers.run(workdir, prepared, *other))
    assert "holds a run of another config" in line and "--restart" in line and "config.json" in line
    restarted = helpers.run(workdir, prepared, *other, "--restart")
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert '"batch_size": 4' in (workdir / "config.json").read_text() and max(helpers.losses(workdir)) == 2


def test_configs_that_are_not_configs_are_one_line(tmp_path):
    for spec in ("configs/common.py", str(tmp_path / "nope.py")):
        result = subprocess.run(
            [sys.executable, "-m", "ssl_audio.cli", "config", spec], capture_output=True, text=True, cwd=helpers.REPO
        )
        assert "--config" in _one_line(result), spec


def test_print_config_lists_the_keys_without_a_workdir():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ssl_audio.cli",
            "pretrain",
            "--config",
            helpers.TINY,
            "--print-config",
            "--config.temperature=0.2",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "--config.temperature=0.2" in result.stdout.splitlines()


def test_bench_timing_flags_below_one_are_one_line():
    for command in ("step", "conv"):
        result = subprocess.run(
            [sys.executable, "-m", "ssl_audio.cli", "bench", command, "--config", helpers.TINY, "--rounds", "0"],
            capture_output=True,
            text=True,
            env=helpers.env(),
            timeout=120,
        )
        assert result.returncode == 2 and "--rounds 0: give a whole number of at least 1" in _one_line(result)
