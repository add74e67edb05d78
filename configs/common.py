"""Every pretraining key, declared once with its default and what it does; each config file fills in the
model block and its budgets, ssl_audio/augment/config.py declares the augment block. A run saved before a
key existed is read through ssl_audio/saved_config.py, which fills it with what the code did then."""

from __future__ import annotations

import ml_collections

from ssl_audio.augment.config import default_config as default_augment_config
from ssl_audio.data.location import default_data_dir
from ssl_audio.errors import BadValueError
from ssl_audio.objectives.best_rq import default_config as default_best_rq_config

VARIANTS = ("", "demo", "tiny")


def parse_variant(arg: str | None, extra: tuple[str, ...] = ()) -> str:
    """The variant after the config path's colon; `extra`: the config file's own variants (e.g. music)."""
    variant = (arg or "").strip()
    if variant not in VARIANTS + extra:
        known = ", ".join([":demo", ":tiny", *(f":{v}" for v in extra)])
        raise BadValueError(f"config variant {variant!r} unknown; use one of: full (no suffix), {known}")
    return variant


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    # Data: a dataset built by `ssl-audio prepare`. data_dir's default is prepare's, probe's and info's too
    # ($TFDS_DATA_DIR or ~/tensorflow_datasets); `make demo` passes its own.
    c.dataset = "demo"
    c.data_dir = default_data_dir()
    c.split = "train"
    c.sample_rate = 16_000
    c.crop_seconds = 3.0  # each view is an independent crop of this length from the same clip
    # grain worker processes per host, or "auto": none on a CPU, where the step needs the cores (reading in
    # the training process kept up best on 2 cores), half the host's cores beside an accelerator
    # (docs/benchmarks.md, input). With workers, a batch is made by one worker from its share of the records.
    c.data_workers = "auto"
    c.seed = 0

    c.batch_size = 256  # global: clips per step over all devices and hosts (2 views each)
    c.total_steps = 100_000

    c.model = ml_collections.ConfigDict()  # filled in by each config file
    c.compute_dtype = "float32"  # or "bfloat16": activations in bf16, parameters and loss in float32
    c.temperature = 0.1
    # "nt_xent" (SimCLR), "dcl" (the positive out of the denominator), "byol" (no negatives: a predictor
    # and an EMA target network; ssl_audio/losses.py) or "best_rq" (masked prediction, below); by name in
    # ssl_audio/objectives/. byol_tau: the target's decay at step 0, cosine to 1.
    c.objective = "nt_xent"
    c.byol_tau = 0.996
    # "joint": both views in one batch-norm batch (SimCLR's global BN); "per_view": each view's batch its
    # own statistics, so a clip and its positive never share a normalisation batch (the BN leak MoCo
    # shuffles away). Contrastive objectives only; docs/quality.md, lever 2d.
    c.batch_norm = "joint"
    # objective "best_rq": its block (mask, codebooks, statistics) is declared in ssl_audio/objectives/best_rq.py
    c.best_rq = default_best_rq_config()

    c.optimizer = dict(
        name="adamw",  # or "lars" (SimCLR's choice for very large batches)
        lr=3e-4,  # peak learning rate at batch 256; scaled linearly with batch_size
        warmup_steps=1000,
        weight_decay=1e-5,  # not applied to biases and normalisation scales
        b1=0.9,
        b2=0.999,  # AdamW moments
        momentum=0.9,  # LARS
        grad_clip_norm=1.0,
    )

    c.augment = default_augment_config()

    # Run control: these may change between a run and its resumption; nothing else may.
    c.log_every_steps = 50
    c.checkpoint_every_steps = 1000
    c.keep_checkpoints = 3  # the last N, plus the one with the lowest logged loss
    c.progress = True
    return c


def make_demo(c: ml_collections.ConfigDict, lr: float) -> None:
    """Budgets shared by every demo variant: about 10 minutes on 2 CPU cores, many small steps.

    `lr` is still quoted at batch 256, so the demo's batch of 32 trains at lr / 8; the higher rate reaches
    the lower one's loss in a third of the steps (docs/benchmarks.md, step).
    """
    c.crop_seconds = 2.0
    c.batch_size = 32
    c.total_steps = 600
    c.optimizer.lr = lr
    c.optimizer.warmup_steps = 50
    c.log_every_steps = 10
    c.checkpoint_every_steps = 100


def make_tiny(c: ml_collections.ConfigDict) -> None:
    """Settings shared by every tiny variant: seconds on 2 CPU cores, still exercising every part."""
    c.crop_seconds = 1.0
    c.batch_size = 8
    c.total_steps = 20
    c.optimizer.warmup_steps = 5
    c.log_every_steps = 5
    c.checkpoint_every_steps = 10
