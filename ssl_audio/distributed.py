"""Processes, devices and how arrays are laid out over them.

One mesh over every device of every process, with a single `data` axis: batches are sharded along it,
parameters and optimizer state are replicated. Code above this module writes global arrays and `jax.jit`;
XLA inserts the collectives (gradient all-reduce, the all-gather of projections in the loss).
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ssl_audio.errors import BadValueError

DATA_AXIS = "data"


def initialize(
    coordinator_address: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Joins a multi-process job when one is described; a no-op for a single process.

    Arguments win over the environment (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID); with
    neither, JAX detects SLURM, Open MPI and similar launchers itself when they run more than one task.
    Must run before anything touches a device.
    """
    address = coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS")
    count = num_processes or _env_int("JAX_NUM_PROCESSES")
    index = process_id if process_id is not None else _env_int("JAX_PROCESS_ID")
    launched = _env_int("SLURM_NTASKS") or _env_int("OMPI_COMM_WORLD_SIZE")
    if not address and not (launched and launched > 1):
        return
    # CPU devices of different processes talk through gloo; GPUs use NCCL whatever this says.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if address:
        jax.distributed.initialize(coordinator_address=address, num_processes=count, process_id=index)
    else:
        jax.distributed.initialize()


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else None


def make_mesh(devices: list | None = None) -> Mesh:
    """A 1-D data-parallel mesh over `devices` (default: every device of every process)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def global_batch(local: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """This process's slice of the batch -> global arrays sharded over the mesh's data axis."""
    sharding = batch_sharding(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local.items()}


def check_batch_divides(batch_size: int, mesh: Mesh) -> None:
    if batch_size % mesh.size:
        raise BadValueError(
            f"config.batch_size: {batch_size} clips do not split evenly over {mesh.size} devices; "
            f"use a multiple of {mesh.size}"
        )
