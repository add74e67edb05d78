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


@custom_partitioning
def rfft_rows(x: jax.Array) -> jax.Array:
    """jnp.fft.rfft(x, axis=-1), partitioned along the leading axes."""
    return jnp.fft.rfft(x, axis=-1)


def _rows_sharding(mesh, arg_shapes) -> NamedSharding:
    # The operand's sharding with its last axis (the one transformed) whole on every device.
    (shape,) = arg_shapes
    spec = tuple(shape.sharding.spec) + (None,) * (len(shape.shape) - len(shape.sharding.spec))
    return NamedSharding(mesh, P(*spec[:-1], None))


def _partition(mesh, arg_shapes, result_shape):
    sharding = _rows_sharding(mesh, arg_shapes)
    return mesh, lambda x: jnp.fft.rfft(x, axis=-1), sharding, (sharding,)


rfft_rows.def_partition(
    infer_sharding_from_operands=lambda mesh, arg_shapes, result_shape: _rows_sharding(mesh, arg_shapes),
    partition=_partition,
    sharding_rule="... t -> ... f",
)
