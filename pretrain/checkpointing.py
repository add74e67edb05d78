"""Checkpoints of a run: the train state *and* the data iterator, so a resumed run is the same run.

Orbax `CheckpointManager` (asynchronous: training goes on while a checkpoint is written) with a
`Composite` of two items: `state` (params, optimizer state, step, RNG) and `data` (grain's iterator
position, one file per process). It keeps the last `keep_checkpoints` steps plus the one with the lowest
logged loss. The run's config is written to WORKDIR/config.json at the start; a workdir whose config
differs in anything but run-control keys is refused, so a checkpoint is never resumed under another model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import grain
import jax
import ml_collections
import orbax.checkpoint as ocp

from ssl_audio.errors import UsageError
from ssl_audio.pretrained import CHECKPOINT_DIR, CONFIG_FILE
from ssl_audio.saved_config import upgrade
from ssl_audio_pretrain.config import differences, to_json
from ssl_audio_pretrain.state import State, abstract_state


class WorkdirMismatchError(UsageError):
    """The workdir holds a run of another config."""


# What `ssl-audio pretrain` writes into a workdir: all of it goes with --restart, nothing else does.
RUN_FILES = (CONFIG_FILE, CHECKPOINT_DIR, "metrics.jsonl", "tensorboard", "loss.png")


def has_checkpoint(workdir: Path) -> bool:
    directory = workdir / CHECKPOINT_DIR
    return directory.is_dir() and any(p.name.isdigit() for p in directory.iterdir())


def check_workdir(
    workdir: Path, config: ml_collections.ConfigDict, *, restart: bool = False, upgrade_saved=upgrade
) -> None:
    """Writes WORKDIR/config.json for a new run; a workdir that holds a *checkpoint* of another config is
    refused (a run that failed before its first checkpoint left nothing worth protecting, so a corrected
    command simply starts). `restart` deletes an earlier run's files first (and only those). `upgrade_saved`:
    how a config saved by an earlier version is brought up to date (a pretraining config's; None: as saved)."""
    path = workdir / CONFIG_FILE
    current = to_json(config)
    if restart:
        if jax.process_index() == 0:
            for name in RUN_FILES:
                target = workdir / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
    elif has_checkpoint(workdir):
        if not path.exists():
            raise WorkdirMismatchError(
                f"{workdir} holds checkpoints but no {CONFIG_FILE}, so they cannot be "
                f"checked against this config; use a new --workdir, or --restart to "
                f"delete them and start over"
            )
        saved = json.loads(path.read_text())
        diff = differences(upgrade_saved(saved) if upgrade_saved else saved, current)
        if diff:
            shown = "; ".join(f"config.{k} is {a!r} there, {b!r} here" for k, a, b in diff[:3])
            more = f" (and {len(diff) - 3} more)" if len(diff) > 3 else ""
            raise WorkdirMismatchError(
                f"{workdir} holds a run of another config: {shown}{more}. Use a new --workdir, resume that run "
                f"with --config {path}, or pass --restart to delete it and start over"
            )
        return
    if jax.process_index() == 0:
        workdir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, indent=2) + "\n")


class Checkpoints:
    def __init__(self, workdir: Path, keep: int):
        policy = ocp.checkpoint_managers.AnyPreservationPolicy(
            [
                ocp.checkpoint_managers.LatestN(keep),
                ocp.checkpoint_managers.BestN(get_metric_fn=lambda m: m["loss"], reverse=True, n=1),  # lowest loss
            ]
        )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=policy, enable_async_checkpointing=True, cleanup_tmp_directories=True
        )
        self.directory = (workdir / CHECKPOINT_DIR).absolute()
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=options,
            item_handlers={"state": ocp.StandardCheckpointHandler(), "data": grain.checkpoint.CheckpointHandler()},
        )

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: State, data_iterator, loss: float) -> None:
        self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), data=grain.checkpoint.CheckpointSave(data_iterator)
            ),
            metrics={"loss": float(loss)},
            force=True,
        )

    def restore(self, step: int, state: State, data_iterator) -> State:
        """The state at `step` (laid out like `state`); moves `data_iterator` to where it was then."""
        restored = self.manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state(state)),
                data=grain.checkpoint.CheckpointRestore(data_iterator),
            ),
        )
        return restored["state"]

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
