"""The train state: one pytree of plain arrays, created directly with its shardings.

    {"step": int32, "params": {...}, "batch_stats": {...}, "opt_state": ..., "rng": uint32[2]}
    (+ the objective's own entries: "target_params" for byol, the EMA target network, never given a
    gradient; "quantizer" for best_rq, its frozen projections, codebooks and feature statistics)

`params` and `batch_stats` are the model's nnx.Param and other variables as pure nested dicts, so the
state checkpoints, shards and donates like any pytree; `graphdef` (static) turns them back into the model.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax import nnx

from ssl_audio import objectives
from ssl_audio.distributed import replicated
from ssl_audio.models.variables import split_model
from ssl_audio.objectives import build_model

State = dict[str, Any]


def model_graphdef(config: ml_collections.ConfigDict) -> nnx.GraphDef:
    """The model's structure without allocating its parameters."""
    abstract = nnx.eval_shape(lambda: build_model(config, seed=config.seed))
    return split_model(abstract)[0]


def initial_state(config: ml_collections.ConfigDict, tx: optax.GradientTransformation) -> State:
    _, params, batch_stats = split_model(build_model(config, seed=config.seed))
    state = {
        "step": jnp.zeros((), jnp.int32),
        "params": params,
        "batch_stats": batch_stats,
        "opt_state": tx.init(params),
        "rng": jax.random.key_data(jax.random.key(config.seed)),
    }
    state.update(objectives.get(config.objective).extra_state(config, params))
    return state


def create_state(
    config: ml_collections.ConfigDict, tx: optax.GradientTransformation, mesh: jax.sharding.Mesh
) -> tuple[State, Any]:
    """(state, shardings): initialised inside jit so every process builds its replica on its own devices."""
    shape = jax.eval_shape(lambda: initial_state(config, tx))
    shardings = jax.tree.map(lambda _: replicated(mesh), shape)
    state = jax.jit(lambda: initial_state(config, tx), out_shardings=shardings)()
    return state, shardings


def to_float64(state: State) -> State:
    """Every float32 leaf as float64: with compute_dtype float64 (and jax_enable_x64), a step whose only
    rounding is float64's, for numerical checks that must not depend on the CPU."""
    return jax.tree.map(lambda x: x.astype(jnp.float64) if x.dtype == jnp.float32 else x, state)


def abstract_state(state: State) -> State:
    """Shapes, dtypes and shardings of a state: what a checkpoint restores into."""
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
