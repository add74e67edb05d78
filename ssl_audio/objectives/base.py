"""What every pretraining objective tells the job that runs it. The step, the state, the loop's checkpoints
and the read-out ask the objective (`ssl_audio.objectives.get(config.objective)`) instead of branching on
its name: its model, the state it keeps beside the parameters, its loss and metrics, and what it updates
after each optimizer step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import ml_collections
from flax import nnx

State = dict[str, Any]
Batch = dict[str, jax.Array]
# (state, batch) -> (loss, metrics, grads, new batch_stats)
LossAndGrads = Callable[[State, Batch], tuple[jax.Array, dict, Any, dict]]


class Objective:
    """An objective by name. Subclasses set `name` and implement `build_model` and `loss_and_grads`."""

    name: str = ""

    def build_model(self, config: ml_collections.ConfigDict, *, seed: int = 0) -> nnx.Module:
        """The pretraining model; its `.encoder` is what downstream jobs read out (registry.read_out)."""
        raise NotImplementedError

    def extra_state(self, config: ml_collections.ConfigDict, params: dict) -> State:
        """Entries of the train state beside step, params, batch_stats, opt_state and rng (an EMA target, a
        quantizer): made at step 0 from the config and the seed, checkpointed with the rest."""
        return {}

    def loss_and_grads(self, config: ml_collections.ConfigDict, graphdef: nnx.GraphDef, mesh=None) -> LossAndGrads:
        raise NotImplementedError

    def after_update(self, config: ml_collections.ConfigDict, state: State, params: dict) -> State:
        """Extra entries changed by an optimizer step that produced `params` (BYOL: the target's EMA); an
        entry not returned (a frozen quantizer) is carried over as it is."""
        return {}

    def data_statistics(self, config: ml_collections.ConfigDict, batches) -> State | None:
        """Entries of the extra state measured on training data before step 0 (None: nothing to measure);
        `batches` yields loader batches. A resumed run restores them from its checkpoint instead."""
        return None
