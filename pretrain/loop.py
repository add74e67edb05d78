"""The training loop every job runs: pretraining (train.py) and fine-tuning (linear_probe/finetune.py).

    for each step: this process's batch -> global over the mesh -> the jitted step
        every log step:        metrics to the log (metrics.jsonl, TensorBoard, progress bar), evaluation
        every checkpoint step: state and data iterator saved (Orbax, checkpointing.py)

SIGTERM (preemption) and a first Ctrl-C save a checkpoint and stop; rerunning resumes. A loss or parameters
that stop being finite stop the run by name before they are saved (the NaN guard). The job owns the step,
the state and what a logged record holds; the loop owns the order of things.
"""

from __future__ import annotations

import dataclasses
import hashlib
import signal
import time
from collections.abc import Callable, Iterator

import jax
import numpy as np

from ssl_audio.distributed import global_batch
from ssl_audio.errors import UsageError
from ssl_audio_pretrain.checkpointing import Checkpoints
from ssl_audio_pretrain.metrics_log import MetricsLog


class NonFiniteLossError(UsageError):
    """The loss or the parameters stopped being finite; the run stopped before saving them."""


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


@dataclasses.dataclass
class Loop:
    """What a job tells the loop. `step_fn(state, batch) -> (state, metrics)` is jitted already; its metrics
    hold at least `loss` and `params_finite`."""

    total_steps: int
    log_every_steps: int
    checkpoint_every_steps: int
    batch_size: int  # global clips per step, for the clips/s figure
    summarise: Callable[[list[dict]], dict]  # the host metrics of the steps since the last record -> record
    # At each log step (not at a stop between them): more of the record, e.g. a validation score.
    evaluate: Callable[[int, dict], dict] | None = None
    # The number a checkpoint is ranked by (lowest kept besides the latest), from the last record.
    score: Callable[[dict], float] = lambda record: record["loss"]
    nan_hint: str = "lower the learning rate or the gradient clip, or check the data, then rerun"


@dataclasses.dataclass
class LoopEnd:
    state: dict
    step: int  # the last step run
    stopped_by: str | None  # "SIGTERM" / "SIGINT" when a signal ended the run early
    saved: int | None  # the last step checkpointed


def run_loop(
    loop: Loop,
    state: dict,
    step_fn,
    data: Iterator,
    mesh: jax.sharding.Mesh,
    *,
    start: int,
    checkpoints: Checkpoints,
    log: MetricsLog,
    name: str,
) -> LoopEnd:
    """Steps start+1 .. total_steps of a run whose state and data iterator are at `start`."""
    saved = start or None
    last_score = None
    pending: list[tuple[int, dict]] = []  # metrics (on device) of steps not yet logged
    clock, timed_steps = None, 0
    step = start
    try:
        with StopSignal() as stop:
            for step in range(start + 1, loop.total_steps + 1):
                batch = global_batch(next(data), mesh)
                state, metrics = step_fn(state, batch)
                pending.append((step, metrics))
                if clock is None:  # the first step compiles: time from its end
                    jax.block_until_ready(metrics)
                    clock = time.perf_counter()
                else:
                    timed_steps += 1
                if len(pending) >= 2:  # one step behind, so the device is never left idle
                    _verify(*pending[-2], saved, checkpoints, loop.nan_hint)
                log.advance()
                is_log_step = step % loop.log_every_steps == 0 or step == loop.total_steps
                stopping = stop.agreed(check_other_processes=is_log_step)
                if is_log_step or stopping:
                    host = jax.device_get(pending)
                    for s, m in host:
                        _verify(s, m, saved, checkpoints, loop.nan_hint)
                    now = time.perf_counter()
                    record = {"step": step, **loop.summarise(host)}
                    if timed_steps:
                        record["step_time_s"] = (now - clock) / timed_steps
                        record["clips_per_s"] = loop.batch_size / record["step_time_s"]
                    if is_log_step and loop.evaluate is not None:
                        record.update(loop.evaluate(step, state))
                    log.write(record)
                    last_score = loop.score(record)
                    pending, clock, timed_steps = [], time.perf_counter(), 0
                if step % loop.checkpoint_every_steps == 0 or step == loop.total_steps or stopping:
                    s, m = pending[-1] if pending else (step, None)
                    if m is not None:
                        _verify(s, jax.device_get(m), saved, checkpoints, loop.nan_hint)
                    checkpoints.save(step, state, data, loss=last_score if last_score is not None else np.nan)
                    saved = step
                if stopping:
                    checkpoints.wait()
                    log.message(
                        f"{name}: {stop.signal_name} received: saved the checkpoint at step {step} in "
                        f"{checkpoints.directory}; rerun the same command to resume"
                    )
                    break
            stopped_by = stop.signal_name if step < loop.total_steps else None
    finally:
        checkpoints.wait()
        checkpoints.close()
        log.close()
    return LoopEnd(state=state, step=step, stopped_by=stopped_by, saved=saved)


def params_fingerprint(params) -> str:
    """sha256 of this process's replica of the parameters: equal on every process of a healthy run."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(params):
        digest.update(np.asarray(leaf.addressable_data(0)).tobytes())
    return digest.hexdigest()[:16]


def _verify(step: int, metrics: dict, saved: int | None, checkpoints: Checkpoints, hint: str) -> None:
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
    raise NonFiniteLossError(f"step {step}: {what}, so the run stopped; {kept}. {hint[0].upper()}{hint[1:]}")
