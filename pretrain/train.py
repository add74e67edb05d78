"""The pretraining loop: `train(config, workdir)`.

Read a batch (this process's shard) -> make it global over the mesh -> one jitted step -> log, checkpoint.
Everything else lives in its own module: the step's math in step.py, the state in state.py, checkpoints in
checkpointing.py, logs in metrics_log.py. Restarting the same command resumes from the last checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import signal
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from ssl_audio.augment.chain import clips_a_pass
from ssl_audio.data.pipeline import open_dataset, pretrain_loader
from ssl_audio.distributed import check_batch_divides, global_batch, make_mesh
from ssl_audio.errors import BadValueError, UsageError
from ssl_audio.text import plural
from ssl_audio_pretrain.checkpointing import Checkpoints, check_workdir, has_checkpoint
from ssl_audio_pretrain.config import ConfigError
from ssl_audio_pretrain.metrics_log import MetricsLog, plot_loss
from ssl_audio_pretrain.optimizer import make_optimizer
from ssl_audio_pretrain.state import create_state, model_graphdef
from ssl_audio_pretrain.step import (
    crop_samples,
    jit_train_step,
    make_augment,
    make_band_views,
    make_train_step,
    view_samples,
)


class NonFiniteLossError(UsageError):
    """The loss or the parameters stopped being finite; the run stopped before saving them."""


@dataclasses.dataclass
class RunResult:
    workdir: Path
    start_step: int
    final_step: int
    total_steps: int
    stopped_by: str | None  # "SIGTERM" / "SIGINT" when a signal ended the run early
    checkpoint_step: int | None
    params_fingerprint: str
    seconds: float


class StopSignal:
    """SIGTERM (preemption) and a first Ctrl-C ask the loop to save and stop; a second Ctrl-C interrupts."""

    def __init__(self):
        self.signal_name: str | None = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.signal_name == "SIGINT" and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def agreed(self, check_other_processes: bool) -> bool:
        """Whether to stop now. With several processes all must stop at the same step, so they vote."""
        local = self.signal_name is not None
        if jax.process_count() == 1 or not check_other_processes:
            return local and jax.process_count() == 1
        from jax.experimental import multihost_utils

        votes = multihost_utils.process_allgather(np.int32(local))
        if np.any(votes) and self.signal_name is None:
            self.signal_name = "SIGTERM"  # another process was told to stop
        return bool(np.any(votes))


def params_fingerprint(params) -> str:
    """sha256 of this process's replica of the parameters: equal on every process of a healthy run."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(params):
        digest.update(np.asarray(leaf.addressable_data(0)).tobytes())
    return digest.hexdigest()[:16]


def train(config: ml_collections.ConfigDict, workdir: str | Path, *, restart: bool = False) -> RunResult:
    """Runs (or resumes) the run of `config` in `workdir`. Everything that can fail on the user's input is
    checked before anything is written; a run that fails before its first checkpoint in a workdir it
    created removes that workdir, so the corrected command starts cleanly."""
    workdir = Path(workdir)
    fresh = not workdir.exists() or not any(workdir.iterdir())
    try:
        return _train(config, workdir, restart)
    except BaseException:
        if fresh and not has_checkpoint(workdir) and jax.process_index() == 0:
            shutil.rmtree(workdir, ignore_errors=True)
        raise


def _train(config: ml_collections.ConfigDict, workdir: Path, restart: bool) -> RunResult:
    began = time.perf_counter()
    mesh = make_mesh()
    check_batch_divides(config.batch_size, mesh)
    handle = open_dataset(
        config.dataset, config.data_dir, sample_rate=config.sample_rate, data_dir_flag="--config.data_dir"
    )
    if config.split not in handle.splits:
        raise ConfigError(
            f"config.split: dataset {config.dataset!r} has no split {config.split!r}; it has "
            f"{', '.join(handle.splits)} (e.g. --config.split=train)"
        )
    cpu_augment = None
    if config.augment.backend == "audiomentations":
        from ssl_audio.augment.reference import AudiomentationsViews

        cpu_augment = AudiomentationsViews(config.augment, view_samples(config))
    else:
        make_augment(config)  # loads the IR folder, if any: its errors come before anything is written
        try:  # a pass size that does not fit each device's batch, too
            clips_a_pass(config.augment, config.batch_size, mesh)
        except BadValueError as err:
            raise ConfigError(f"config.{err}") from None
        make_band_views(config)  # band-domain views on a model without log bands: named before anything is written
    loader = pretrain_loader(
        handle,
        split=config.split,
        global_batch_size=config.batch_size,
        crop_seconds=config.crop_seconds,
        crop_samples=crop_samples(config),
        seed=config.seed,
        worker_count=config.data_workers,
        augment=cpu_augment,
    )
    check_workdir(workdir, config, restart=restart)  # after everything that can fail on bad input
    data = iter(loader)

    tx = make_optimizer(config)
    state, shardings = create_state(config, tx, mesh)
    checkpoints = Checkpoints(workdir, config.keep_checkpoints)
    start = checkpoints.latest_step() or 0
    log = MetricsLog(workdir, start_step=start, total_steps=config.total_steps, progress=config.progress)
    n_params = sum(x.size for x in jax.tree.leaves(state["params"]))
    log.message(
        f"pretrain: {config.model.name} ({n_params:,} parameters) on {config.dataset}/{config.split} "
        f"({plural(len(handle.source(config.split)), 'clip')}); global batch {config.batch_size} over "
        f"{mesh.size} device(s) in {jax.process_count()} process(es); {config.total_steps} steps -> {workdir}"
    )
    if start:
        state = checkpoints.restore(start, state, data)
        log.message(f"pretrain: resuming from the checkpoint at step {start} in {checkpoints.directory}")

    step_fn = jit_train_step(make_train_step(config, model_graphdef(config), tx, mesh), shardings, mesh)
    saved = start or None
    last_loss = None
    pending: list[tuple[int, dict]] = []  # metrics (on device) of steps not yet logged
    clock, timed_steps = None, 0
    step = start
    try:
        with StopSignal() as stop:
            for step in range(start + 1, config.total_steps + 1):
                batch = global_batch(next(data), mesh)
                state, metrics = step_fn(state, batch)
                pending.append((step, metrics))
                if clock is None:  # the first step compiles: time from its end
                    jax.block_until_ready(metrics)
                    clock = time.perf_counter()
                else:
                    timed_steps += 1
                if len(pending) >= 2:  # one step behind, so the device is never left idle
                    _verify(*pending[-2], saved, checkpoints)
                log.advance()
                is_log_step = step % config.log_every_steps == 0 or step == config.total_steps
                stopping = stop.agreed(check_other_processes=is_log_step)
                if is_log_step or stopping:
                    host = jax.device_get(pending)
                    for s, m in host:
                        _verify(s, m, saved, checkpoints)
                    now = time.perf_counter()
                    record = {"step": step, **_mean(host)}
                    if timed_steps:
                        record["step_time_s"] = (now - clock) / timed_steps
                        record["clips_per_s"] = config.batch_size / record["step_time_s"]
                    log.write(record)
                    last_loss = record["loss"]
                    pending, clock, timed_steps = [], now, 0
                if step % config.checkpoint_every_steps == 0 or step == config.total_steps or stopping:
                    s, m = pending[-1] if pending else (step, None)
                    if m is not None:
                        _verify(s, jax.device_get(m), saved, checkpoints)
                    checkpoints.save(step, state, data, loss=last_loss if last_loss is not None else np.nan)
                    saved = step
                if stopping:
                    checkpoints.wait()
                    log.message(
                        f"pretrain: {stop.signal_name} received: saved the checkpoint at step {step} in "
                        f"{checkpoints.directory}; rerun the same command to resume"
                    )
                    break
            stopped_by = stop.signal_name if step < config.total_steps else None
    finally:
        checkpoints.wait()
        checkpoints.close()
        log.close()
    plot_loss(workdir)
    return RunResult(
        workdir=workdir,
        start_step=start,
        final_step=step,
        total_steps=config.total_steps,
        stopped_by=stopped_by,
        checkpoint_step=saved,
        params_fingerprint=params_fingerprint(state["params"]),
        seconds=time.perf_counter() - began,
    )


def _mean(host: list[tuple[int, dict]]) -> dict:
    """Loss and accuracy averaged over the logged steps; rates and norms as of the last one."""
    last = host[-1][1]
    return {
        "loss": float(np.mean([m["loss"] for _, m in host])),
        "pos_top1": float(np.mean([m["pos_top1"] for _, m in host])),
        "learning_rate": float(last["learning_rate"]),
        "grad_norm": float(last["grad_norm"]),
    }


def _verify(step: int, metrics: dict, saved: int | None, checkpoints: Checkpoints) -> None:
    loss = float(metrics["loss"])
    if np.isfinite(loss) and bool(metrics["params_finite"]):
        return
    checkpoints.wait()
    what = f"the loss is {loss}" if not np.isfinite(loss) else "the parameters are no longer finite"
    kept = (
        f"the last good checkpoint is step {saved} in {checkpoints.directory}"
        if saved
        else "no checkpoint was saved before it"
    )
    raise NonFiniteLossError(
        f"step {step}: {what}, so the run stopped; {kept}. Lower config.optimizer.lr or "
        f"config.optimizer.grad_clip_norm, or check the data, then rerun"
    )
