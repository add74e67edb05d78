"""One config block describes the augmentation chain, for the JAX path and the audiomentations path alike.

Each op has a probability `p` and its ranges; `backend` picks the path:
- "jax": on the device, inside the jitted step, batched, a separate draw per example (the default);
- "audiomentations": the same chain on the CPU, in the data-loader workers (the reference).
"""

from __future__ import annotations

import ml_collections

from ssl_audio.errors import BadValueError

OPS = ("time_shift", "pitch_shift", "time_stretch", "eq", "reverb", "gain", "polarity", "noise")
# Noise colour -> range of its power slope in dB per octave (0 white, 3 pink, 6 brown; "random" spans
# violet to brown, as audiomentations' AddColorNoise does by default).
NOISE_DECAY_DB = {"white": (0.0, 0.0), "pink": (3.0, 3.0), "brown": (6.0, 6.0), "random": (-6.0, 6.0)}
NOISE_COLORS = tuple(NOISE_DECAY_DB)


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.backend = "jax"
    c.sample_rate = 16_000
    # Random circular-free time shift, as a fraction of the clip (zero-filled).
    c.time_shift = dict(p=0.5, max_fraction=0.1)
    # Pitch shift (semitones, duration kept) and time stretch (rate, pitch kept): one phase vocoder.
    c.pitch_shift = dict(p=0.5, min_semitones=-4.0, max_semitones=4.0)
    c.time_stretch = dict(p=0.5, min_rate=0.8, max_rate=1.25)
    # audiomentations' SevenBandParametricEQ: low shelf, five peaking bands, high shelf.
    c.eq = dict(p=0.5, min_gain_db=-12.0, max_gain_db=12.0)
    # Synthetic room (decaying noise) unless ir_dir names a folder of impulse responses.
    c.reverb = dict(p=0.5, min_rt60=0.2, max_rt60=1.2, max_pre_delay_ms=20.0, min_wet=0.2, max_wet=0.6, ir_dir="")
    c.gain = dict(p=0.5, min_gain_db=-6.0, max_gain_db=6.0)
    c.polarity = dict(p=0.5)
    c.noise = dict(p=0.5, min_snr_db=10.0, max_snr_db=40.0, color="random")
    c.lock()  # a misspelt key (config.eq.gain_rnage = 3) is an error, not a silently ignored new field
    return c


def all_ops(config: ml_collections.ConfigDict, p: float = 1.0) -> ml_collections.ConfigDict:
    """A copy with every op's probability set to p (benchmarks and tests run the full chain)."""
    c = ml_collections.ConfigDict(config.to_dict())
    for name in OPS:
        c[name].p = p
    c.lock()
    return c


def validate(c: ml_collections.ConfigDict) -> None:
    """Raises ValueError naming the key for anything out of range."""

    def check(ok: bool, key: str, why: str):
        if not ok:
            raise BadValueError(f"augment.{key}: {why}")

    _check_keys(c.to_dict(), default_config().to_dict(), "augment")
    check(c.backend in ("jax", "audiomentations"), "backend", f"must be 'jax' or 'audiomentations', got {c.backend!r}")
    for name in OPS:
        check(0.0 <= c[name].p <= 1.0, f"{name}.p", f"must be in [0, 1], got {c[name].p}")
    check(
        c.pitch_shift.min_semitones <= c.pitch_shift.max_semitones
        and max(abs(c.pitch_shift.min_semitones), abs(c.pitch_shift.max_semitones)) <= 12,
        "pitch_shift",
        "needs min_semitones <= max_semitones, both within +-12",
    )
    check(
        0.25 <= c.time_stretch.min_rate <= c.time_stretch.max_rate <= 4.0,
        "time_stretch",
        "needs 0.25 <= min_rate <= max_rate <= 4",
    )
    check(c.eq.min_gain_db <= c.eq.max_gain_db, "eq", "needs min_gain_db <= max_gain_db")
    check(0.05 <= c.reverb.min_rt60 <= c.reverb.max_rt60 <= 5.0, "reverb", "needs 0.05 <= min_rt60 <= max_rt60 <= 5 s")
    check(0.0 <= c.reverb.min_wet <= c.reverb.max_wet <= 1.0, "reverb", "needs 0 <= min_wet <= max_wet <= 1")
    check(c.noise.min_snr_db <= c.noise.max_snr_db, "noise", "needs min_snr_db <= max_snr_db")
    check(c.noise.color in NOISE_COLORS, "noise.color", f"must be one of {', '.join(NOISE_COLORS)}")
    check(0.0 <= c.time_shift.max_fraction < 1.0, "time_shift.max_fraction", "must be in [0, 1)")
    if c.reverb.ir_dir:
        import os

        folder = os.path.expanduser(c.reverb.ir_dir)
        check(
            os.path.isdir(folder),
            "reverb.ir_dir",
            f"{c.reverb.ir_dir} is not a folder; give a folder of impulse-response files (WAV/FLAC), or "
            f"leave it empty ('') for synthetic rooms",
        )


def _check_keys(given: dict, known: dict, prefix: str) -> None:
    for key, value in given.items():
        if key not in known:
            raise BadValueError(f"{prefix}.{key}: unknown key; known keys here are {', '.join(sorted(known))}")
        if isinstance(value, dict) and isinstance(known[key], dict):
            _check_keys(value, known[key], f"{prefix}.{key}")
