"""Checkpoints of a run: the train state *and* the data iterator, so a resumed run is the same run.

Orbax `CheckpointManager` (asynchronous: training goes on while a checkpoint is written) with a
`Composite` of two items: `state` (params, optimizer state, step, RNG) and `data` (grain's iterator
position, one file per process). It keeps the last `keep_checkpoints` steps plus the one with the lowest
logged loss. The run's config is written to WORKDIR/config.json at the start; a workdir whose config
differs in anything but run-control keys is refused, so a checkpoint is never resumed under another model.
"""

from __future__ import annotations

import json
from pathlib import Path

import grain
import jax
import ml_collections
import orbax.checkpoint as ocp

from ssl_audio.errors import SslAudioError
from ssl_audio.pretrained import CHECKPOINT_DIR, CONFIG_FILE
from pretrain.config import differences, to_json
from pretrain.state import State, abstract_state



class WorkdirMismatchError(SslAudioError):
    """The workdir holds a run of another config."""


def check_workdir(workdir: Path, config: ml_collections.ConfigDict) -> None:
    """Writes WORKDIR/config.json for a new run; for an existing one, refuses a different config."""
    path = workdir / CONFIG_FILE
    current = to_json(config)
    if path.exists():
        saved = json.loads(path.read_text())
        diff = differences(saved, current)
        if diff:
            shown = "; ".join(f"config.{k} is {a!r} there, {b!r} here" for k, a, b in diff[:3])
            more = f" (and {len(diff) - 3} more)" if len(diff) > 3 else ""
            raise WorkdirMismatchError(
                f"{workdir} holds a run of another config: {shown}{more}. Use a new --workdir, or resume that "
                f"run with the config in {path}")
        return
    if (workdir / CHECKPOINT_DIR).exists() and any((workdir / CHECKPOINT_DIR).iterdir()):
        raise WorkdirMismatchError(f"{workdir} holds checkpoints but no {CONFIG_FILE}, so they cannot be checked "
                                   f"against this config; use a new --workdir")
    if jax.process_index() == 0:
        workdir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, indent=2) + "\n")


class Checkpoints:
    def __init__(self, workdir: Path, keep: int):
        policy = ocp.checkpoint_managers.AnyPreservationPolicy([
            ocp.checkpoint_managers.LatestN(keep),
            ocp.checkpoint_managers.BestN(get_metric_fn=lambda m: m["loss"], reverse=True, n=1),  # lowest loss
        ])
        options = ocp.CheckpointManagerOptions(preservation_policy=policy, enable_async_checkpointing=True,
                                               cleanup_tmp_directories=True)
        self.directory = (workdir / CHECKPOINT_DIR).absolute()
        self.manager = ocp.CheckpointManager(
            self.directory, options=options,
            item_handlers={"state": ocp.StandardCheckpointHandler(), "data": grain.checkpoint.CheckpointHandler()})

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: State, data_iterator, loss: float) -> None:
        self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                        data=grain.checkpoint.CheckpointSave(data_iterator)),
                          metrics={"loss": float(loss)}, force=True)

    def restore(self, step: int, state: State, data_iterator) -> State:
        """The state at `step` (laid out like `state`); moves `data_iterator` to where it was then."""
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state(state)),
            data=grain.checkpoint.CheckpointRestore(data_iterator)))
        return restored["state"]

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
