"""Pretraining objectives by name (`config.objective`), like encoders: each says what model it trains, what
state it keeps beside the parameters, its loss and metrics (base.py). The step, the state, checkpoints and
the read-out ask the objective; none of them branches on its name.

- contrastive.py: two augmented views pulled together: nt_xent, dcl, byol (their math: ssl_audio/losses.py);
- best_rq.py: masked prediction of a frozen random quantizer's codes (quantizer.py).
"""

from __future__ import annotations

import ml_collections
from flax import nnx

from ssl_audio.errors import UsageError
from ssl_audio.objectives.base import Objective
from ssl_audio.objectives.best_rq import BestRQ
from ssl_audio.objectives.contrastive import CONTRASTIVE

OBJECTIVES: dict[str, Objective] = {**CONTRASTIVE, "best_rq": BestRQ()}


def get(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise UsageError(f"config.objective: unknown {name!r}; choose one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def build_model(config: ml_collections.ConfigDict, *, seed: int = 0) -> nnx.Module:
    """The model a pretraining config trains, freshly initialised; its `.encoder` is what is read out."""
    return get(config.objective).build_model(config, seed=seed)
