"""Run in a process with 4 host devices (XLA_FLAGS=--xla_force_host_platform_device_count=4):

    python -m tests.pretrain.scale_check CONFIG... [--config.KEY=VALUE...] [--controls]

for each config given (with the overrides applied to each), the augmentation chain, then one training step's
loss, gradients and batch statistics, on a 1-device mesh and on a 4-device mesh, from the same state and the
same global batch.

Everything runs in float64 (jax_enable_x64, compute_dtype float64, a float64 state). What is compared is
the *sharding*: the same sums over the global batch, split four ways. In float32 the reordered sums differ
by rounding that a deep network amplifies to ~1e-5 of the gradient's scale, and by how much depends on the
CPU's kernels (an AMD EPYC landed just above a 1e-5 tolerance that an Intel machine passed). In float64 the
same reordering costs ~1e-13, so a tolerance of 1e-9 is independent of the CPU and still far below any real
difference: a wrong sum (per-device negatives, per-device batch statistics) is off by 1e-3 or more.

The step is compared on the same augmented views: the chain is compared separately (it is per example, so
it may differ only by rounding; max-pooling encoders would turn a rounding difference in their input into a
different argmax and so a different gradient, which says nothing about the sharding). Prints one JSON line
per config with the largest differences and two negative controls: the loss, and the gradients, of a loss
that uses per-device negatives only (what a loss that skips the all-gather computes).
"""

from __future__ import annotations

import json
import sys

import jax

jax.config.update("jax_enable_x64", True)  # before any array exists

import numpy as np  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from ssl_audio.augment.views import TrainingViews, crop_samples  # noqa: E402
from ssl_audio.distributed import DATA_AXIS, batch_sharding, global_batch, make_mesh, replicated  # noqa: E402
from ssl_audio.losses import nt_xent  # noqa: E402
from ssl_audio_pretrain.config import load_config  # noqa: E402
from ssl_audio_pretrain.optimizer import make_optimizer  # noqa: E402
from ssl_audio_pretrain.state import create_state, model_graphdef, to_float64  # noqa: E402
from ssl_audio_pretrain.step import make_loss_and_grads  # noqa: E402
from tests.compiled import fft_rows  # noqa: E402


def batch_for(config, n: int | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    n, t = n or config.batch_size, crop_samples(config)  # what the loader hands the step
    time = np.arange(t) / config.sample_rate
    tones = np.sin(2 * np.pi * rng.uniform(100, 2000, (n, 1)) * time) * rng.uniform(0.1, 0.5, (n, 1))
    return {v: (tones + 0.05 * rng.standard_normal((n, t))).astype(np.float64) for v in ("view_a", "view_b")}


def augmented(config, devices, batch):
    """Both views through the augmentation chain as the step runs it, batch sharded over `devices`; and the
    most rows any FFT of its compiled program transforms."""
    mesh = make_mesh(devices)
    chain = jax.jit(
        TrainingViews(config, mesh).chain, in_shardings=(batch_sharding(mesh), None), out_shardings=batch_sharding(mesh)
    )
    b = global_batch(batch, mesh)
    keys = jax.random.split(jax.random.key(config.seed), 2)
    rows = fft_rows(chain.lower(b["view_a"], keys[0]).compile())
    return {v: np.asarray(chain(b[v], k)) for v, k in zip(("view_a", "view_b"), keys)}, rows


def local_negatives(z_a, z_b, temperature, mesh):
    """NT-Xent computed on each device's slice alone, then averaged: the multi-GPU bug."""
    per_device = jax.shard_map(
        lambda a, b: jax.lax.pmean(nt_xent(a, b, temperature)[0], DATA_AXIS)[None],
        mesh=mesh,
        in_specs=(P(DATA_AXIS), P(DATA_AXIS)),
        out_specs=P(DATA_AXIS),
    )
    return per_device(z_a, z_b)[0], {}


def loss_and_grads(config, devices, batch, contrastive_loss=None):
    """The step's loss, gradients and new batch statistics on already augmented views (`contrastive_loss`:
    a replacement for NT-Xent or DCL's, the negative control)."""
    mesh = make_mesh(devices)
    state, shardings = create_state(config, make_optimizer(config), mesh)
    state = to_float64(state)
    no_augment = config.copy_and_resolve_references()
    no_augment.augment.backend = "audiomentations"  # the step then leaves the views as they come
    gradients = jax.jit(
        make_loss_and_grads(no_augment, model_graphdef(config), mesh, contrastive_loss),
        in_shardings=(shardings, batch_sharding(mesh)),
        out_shardings=replicated(mesh),
    )
    views = global_batch(batch, mesh)
    loss, _, grads, stats = jax.device_get(gradients(state, views))
    return loss, grads, stats, fft_rows(gradients.lower(state, views).compile())


def largest_difference(a, b) -> float:
    return max(
        (float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))),
        default=0.0,  # a model without batch statistics (the conformer)
    )


def largest(tree) -> float:
    return max((float(np.max(np.abs(np.asarray(x)))) for x in jax.tree.leaves(tree)), default=0.0)


BAND_STAGE = ("pitch_stretch", "mixup")  # augment keys of the stage inside the step, after the front end


def main(specs: list[str], overrides: list[str], controls: bool) -> None:
    assert len(jax.devices()) >= 4, "run with XLA_FLAGS=--xla_force_host_platform_device_count=4"
    from ssl_audio.augment.config import default_config

    for spec in specs:
        config = load_config(spec, overrides)
        config.compute_dtype = "float64"
        # The chain is compared for one config only (--controls): so every config must use the default one.
        # The band stage may differ (where pitch and stretch are made, mixup): band views are inside the
        # step, which is what every run compares.
        waveform = lambda c: {k: v for k, v in c.to_dict().items() if k not in BAND_STAGE}  # noqa: E731
        assert waveform(config.augment) == waveform(default_config()), f"{spec}: not the default chain"
        views1, _ = augmented(config, jax.devices()[:1], batch_for(config))
        assert all(v.dtype == np.float64 for v in views1.values()), "the chain left float64"
        loss1, grads1, stats1, _ = loss_and_grads(config, jax.devices()[:1], views1)
        loss4, grads4, stats4, step_rows4 = loss_and_grads(config, jax.devices()[:4], views1)
        assert all(g.dtype == np.float64 for g in jax.tree.leaves(grads1)), "the step left float64"
        report = {
            "config": spec,
            "overrides": overrides,
            "batch_norm": config.batch_norm,
            "batch_size": config.batch_size,
            "pitch_stretch": config.augment.pitch_stretch,
            "mixup_p": config.augment.mixup.p,
            "loss_1": float(loss1),
            "loss_4": float(loss4),
            "grad_max_abs": largest_difference(grads1, grads4),
            "grad_scale": largest(grads1),
            "batch_stats_max_abs": largest_difference(stats1, stats4),
            "batch_stats_scale": largest(stats1),
            "step_fft_rows_4": step_rows4,  # the front end's STFT, when the encoder has one
        }
        if controls:
            # The chain, once: every config here shares the default augment block, so one comparison covers
            # them (the chain compiles in ~10 s per mesh on 2 cores).
            views4, _ = augmented(config, jax.devices()[:4], batch_for(config))
            report["augment_max_abs"] = largest_difference(views1, views4)
            report["augment_scale"] = largest(views1)
            # At 16 examples a device (whole strata), each device augments its own shard (make_chain's mesh).
            wide = batch_for(config, 64)
            (wide1, _), (wide4, rows4) = (augmented(config, jax.devices()[:n], wide) for n in (1, 4))
            report["sharded_augment_max_abs"] = largest_difference(wide1, wide4)
            report["sharded_augment_scale"] = largest(wide1)
            report["sharded_augment_fft_rows_4"] = rows4
            # The negative control, once: the same step with per-device negatives on 4 devices.
            mesh4 = make_mesh(jax.devices()[:4])
            wrong = lambda a, b, t, mesh, mesh4=mesh4: local_negatives(a, b, t, mesh4)
            loss_local, grads_local, _, _ = loss_and_grads(config, jax.devices()[:4], views1, wrong)
            report["local_negatives_loss_4"] = float(loss_local)
            report["local_negatives_grad_max_abs"] = largest_difference(grads1, grads_local)
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    main(
        [a for a in args if not a.startswith("--")],
        [a for a in args if a.startswith("--config.")],  # applied to every config, e.g. --config.batch_norm=per_view
        controls="--controls" in args,
    )
