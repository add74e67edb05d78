"""Pretraining: `train(config, workdir)`.

Checks the config and data, builds the state and the jitted step, and hands them to the training loop that
fine-tuning runs too (loop.py). Everything else lives in its own module: the step's math in step.py, the
state in state.py, checkpoints in checkpointing.py, logs in metrics_log.py. Restarting the same command
resumes from the last checkpoint.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from ssl_audio import objectives
from ssl_audio.augment.chain import clips_a_pass
from ssl_audio.augment.views import TrainingViews, crop_samples, view_samples
from ssl_audio.data.pipeline import loader_workers, open_dataset, pretrain_loader
from ssl_audio.distributed import check_batch_divides, make_mesh
from ssl_audio.errors import BadValueError
from ssl_audio.text import plural
from ssl_audio_pretrain.checkpointing import Checkpoints, check_workdir, has_checkpoint
from ssl_audio_pretrain.config import ConfigError
from ssl_audio_pretrain.loop import Loop, params_fingerprint, run_loop
from ssl_audio_pretrain.metrics_log import MetricsLog, plot_loss
from ssl_audio_pretrain.optimizer import make_optimizer
from ssl_audio_pretrain.state import create_state, model_graphdef
from ssl_audio_pretrain.step import jit_train_step, make_train_step


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


def config_loader(config: ml_collections.ConfigDict, handle, *, augment=None, worker_count: int | None = None, **shard):
    """The pretraining loader a config reads with (its split, batch, crops, seed and data workers); the one
    definition that `pretrain` and the benchmarks of its input share. `worker_count` overrides data_workers."""
    workers = loader_workers(config.data_workers, jax.default_backend()) if worker_count is None else worker_count
    return pretrain_loader(
        handle,
        split=config.split,
        global_batch_size=config.batch_size,
        crop_seconds=config.crop_seconds,
        crop_samples=crop_samples(config),
        seed=config.seed,
        worker_count=workers,
        augment=augment,
        **shard,
    )


def measure_before_step_0(config: ml_collections.ConfigDict, state: dict, loader, log) -> dict:
    """What the objective measures on training data before the first step (BEST-RQ: each codebook's feature
    statistics), placed into its state entries; a resumed run has them in its checkpoint already."""
    began = time.perf_counter()
    measured = objectives.get(config.objective).data_statistics(config, iter(loader))
    if not measured:
        return state

    def place(into: dict, values: dict) -> None:  # measured leaves replace the state's, on its devices
        for key, value in values.items():
            if isinstance(value, dict):
                place(into[key], value)
            else:
                into[key] = jax.device_put(np.asarray(value, into[key].dtype), into[key].sharding)

    place(state, measured)
    log.message(
        f"pretrain: {config.objective} measured its statistics on the training data before step 0 "
        f"({time.perf_counter() - began:.1f} s)"
    )
    return state


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
        TrainingViews(config)  # loads the IR folder and checks band views: errors before anything is written
        try:  # a pass size that does not fit each device's batch, too
            clips_a_pass(config.augment, config.batch_size, mesh)
        except BadValueError as err:
            raise ConfigError(f"config.{err}") from None
    loader = config_loader(config, handle, augment=cpu_augment)
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
    else:
        state = measure_before_step_0(config, state, loader, log)

    step_fn = jit_train_step(make_train_step(config, model_graphdef(config), tx, mesh), shardings, mesh)
    loop = Loop(
        total_steps=config.total_steps,
        log_every_steps=config.log_every_steps,
        checkpoint_every_steps=config.checkpoint_every_steps,
        batch_size=config.batch_size,
        summarise=logged_means,
        nan_hint="lower config.optimizer.lr or config.optimizer.grad_clip_norm, or check the data, then rerun",
    )
    end = run_loop(loop, state, step_fn, data, mesh, start=start, checkpoints=checkpoints, log=log, name="pretrain")
    plot_loss(workdir)
    return RunResult(
        workdir=workdir,
        start_step=start,
        final_step=end.step,
        total_steps=config.total_steps,
        stopped_by=end.stopped_by,
        checkpoint_step=end.saved,
        params_fingerprint=params_fingerprint(end.state["params"]),
        seconds=time.perf_counter() - began,
    )


def logged_means(host: list[tuple[int, dict]]) -> dict:
    """Every metric the objective reports (loss, pos_top1, masked accuracy, code perplexity) averaged over the
    logged steps; the learning rate and gradient norm as of the last one."""
    last = host[-1][1]
    means = {
        key: float(np.mean([m[key] for _, m in host]))
        for key in last
        if key not in ("learning_rate", "grad_norm", "params_finite")
    }
    return {**means, "learning_rate": float(last["learning_rate"]), "grad_norm": float(last["grad_norm"])}
