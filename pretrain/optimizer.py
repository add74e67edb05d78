"""The optimizer a config asks for: gradient clipping, then AdamW or LARS on a warmup + cosine schedule."""

from __future__ import annotations

import jax
import ml_collections
import optax

REFERENCE_BATCH = 256  # optimizer.lr is the peak rate at this batch; SimCLR's linear scaling rule does the rest


def peak_learning_rate(config: ml_collections.ConfigDict) -> float:
    return config.optimizer.lr * config.batch_size / REFERENCE_BATCH


def learning_rate_schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=peak_learning_rate(config),
        warmup_steps=config.optimizer.warmup_steps,
        decay_steps=config.total_steps,
        end_value=0.0,
    )


def decay_mask(params):
    """Weight decay on kernels and embeddings only: biases and normalisation scales/offsets (1-D) are exempt."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
    o = config.optimizer
    schedule = learning_rate_schedule(config)
    if o.name == "adamw":
        inner = optax.adamw(schedule, b1=o.b1, b2=o.b2, weight_decay=o.weight_decay, mask=decay_mask)
    else:
        inner = optax.lars(
            schedule,
            weight_decay=o.weight_decay,
            weight_decay_mask=decay_mask,
            trust_ratio_mask=decay_mask,
            momentum=o.momentum,
        )
    return optax.chain(optax.clip_by_global_norm(o.grad_clip_norm), inner)
