"""A real FFT over the last axis that the SPMD partitioner splits along every other axis.

XLA's partitioner does not partition FFTs: under `jax.jit` with a batch sharded over devices, it
all-gathers the operand and computes the *global* batch's transforms on every device (jax-ml/jax#13081).
The model's front end (its STFT) did that inside every pretraining step. `rfft_rows` tells the partitioner
that rows are independent, so each device transforms its own; on one device it is `jnp.fft.rfft`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.experimental.custom_partitioning import custom_partitioning
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P


def _rfft(x: jax.Array) -> jax.Array:
    return jnp.fft.rfft(x, axis=-1)


@custom_partitioning
def _partitioned(x: jax.Array) -> jax.Array:
    return _rfft(x)


def _rows_sharding(mesh, arg_shapes) -> NamedSharding:
    # The operand's sharding with its last axis (the one transformed) whole on every device.
    (shape,) = arg_shapes
    spec = tuple(shape.sharding.spec) + (None,) * (len(shape.shape) - len(shape.sharding.spec))
    return NamedSharding(mesh, P(*spec[:-1], None))


def _partition(mesh, arg_shapes, result_shape):
    sharding = _rows_sharding(mesh, arg_shapes)
    return mesh, _rfft, sharding, (sharding,)


_partitioned.def_partition(
    infer_sharding_from_operands=lambda mesh, arg_shapes, result_shape: _rows_sharding(mesh, arg_shapes),
    partition=_partition,
    sharding_rule="... t -> ... f",
)


# custom_partitioning has no batching or differentiation rule of its own. Under vmap the rows are still
# rows (the mapped axis becomes one more leading axis); the transform is linear, so its tangent is the
# same transform, done with jnp.fft.rfft so that reverse mode can transpose it.
@jax.custom_batching.custom_vmap
def _batchable(x: jax.Array) -> jax.Array:
    return _partitioned(x)


@_batchable.def_vmap
def _batchable_vmap(axis_size, in_batched, x):
    # The mapped axis, wherever vmap put it, is at the front here: one more leading axis of rows.
    return _batchable(x), in_batched[0]


@jax.custom_jvp
def rfft_rows(x: jax.Array) -> jax.Array:
    """jnp.fft.rfft(x, axis=-1), partitioned along the leading axes."""
    return _batchable(x)


@rfft_rows.defjvp
def _rfft_rows_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return rfft_rows(x), _rfft(t)
