"""Runs saved by earlier versions: `upgrade(saved)` fills the pretraining keys added since they were saved.

Every key's default is declared once, where its block is (configs/common.py for the run, each config file
for its model, ssl_audio/augment/config.py for the augmentation). A WORKDIR/config.json written before a key
existed lacks it; the value filled in here is what the code did before the key existed (often not today's
default), so an old run resumes, and embeds, exactly as it trained. Every reader of a saved config goes
through `upgrade`, so no code reads a key with a fallback of its own.
"""

from __future__ import annotations

import copy


def _best_rq() -> dict:
    import json

    from ssl_audio.objectives.best_rq import default_config

    return json.loads(default_config().to_json())  # as a saved config holds it (lists, not tuples)


def _off(op: str) -> dict:
    from ssl_audio.augment.config import default_config

    return {**default_config()[op].to_dict(), "p": 0.0}


# key -> its value in runs saved before it existed (a callable: made when needed).
ADDED_SINCE = {
    "objective": "nt_xent",  # SimCLR's loss came first
    "byol_tau": 0.996,  # read by byol only, which runs from before the key cannot be
    "batch_norm": "joint",  # per-view statistics came later
    "best_rq": _best_rq,  # read by best_rq only, which runs from before the block cannot be
    "model.scale": "mel",  # the log-frequency front end came later
    "model.f_min": 0.0,
    "model.bins_per_octave": 12,  # read with scale "log" only
    "model.stem_channels": 0,  # the stem came later
    "model.stem_kernel": [3, 13],  # read with a stem only (JSON: a list)
    "model.readout": "embedding",  # the encoder's output, before other read-outs existed
    "augment.pitch_stretch": "waveform",  # band-domain views came later
    "augment.vocoder_phase": "scan",  # the recurrence, before the cumulative form
    "augment.clips_per_pass": "all",  # the whole batch in one pass, before passes
    "augment.pitch_shift.whole_semitones": False,  # any real shift, before whole semitones
    "augment.mixup": lambda: {"p": 0.0, "max_ratio": 0.4},  # none, before mixup
    **{f"augment.{op}": (lambda op=op: _off(op)) for op in ("compression", "clipping", "lowpass", "bit_crush")},
}


# Keys added to one encoder's block: filled in only for runs of that encoder (another has no such argument).
ENCODER_KEYS = {
    "model.scale": "logmel_cnn",
    "model.f_min": "logmel_cnn",
    "model.bins_per_octave": "logmel_cnn",
    "model.stem_channels": "logmel_cnn",
    "model.stem_kernel": "logmel_cnn",
}


def upgrade(saved: dict) -> dict:
    """A copy of a saved config (as JSON) with every key added since filled in; present keys are kept."""
    config = copy.deepcopy(saved)
    encoder = (config.get("model") or {}).get("name")
    for key, value in ADDED_SINCE.items():
        if key in ENCODER_KEYS and ENCODER_KEYS[key] != encoder:
            continue
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf not in node:
            node[leaf] = value() if callable(value) else copy.deepcopy(value)
    return config
