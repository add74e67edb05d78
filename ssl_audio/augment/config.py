"""One config block describes the augmentation chain, for the JAX path and the audiomentations path alike.

Each op has a probability `p` and its ranges; `backend` picks the path:
- "jax": on the device, inside the jitted step, batched, a separate draw per example (the default);
- "audiomentations": the same chain on the CPU, in the data-loader workers (the reference).
"""

from __future__ import annotations

import math

import ml_collections

from ssl_audio.errors import BadValueError

# How the vocoder carries phase over frames (ssl_audio/augment/ops.py: phase_vocoder); "auto" picks by
# backend (`vocoder_form`).
VOCODER_FORMS = ("scan", "cumulative")
VOCODER_PHASES = ("auto", *VOCODER_FORMS)

# In the chain's order (chain.py): the production chain of a recording, then its distribution, then noise.
OPS = (
    "time_shift",
    "pitch_shift",
    "time_stretch",
    "eq",
    "reverb",
    "compression",
    "gain",
    "polarity",
    "clipping",
    "lowpass",
    "bit_crush",
    "noise",
)
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
    # whole_semitones: draw shifts from the whole numbers in the range (STONE's rolls), so a view stays on
    # the 12-tone grid its notes were on; False draws any real number in it (`draw_semitones`).
    c.pitch_shift = dict(p=0.5, min_semitones=-4.0, max_semitones=4.0, whole_semitones=False)
    c.time_stretch = dict(p=0.5, min_rate=0.8, max_rate=1.25)
    # Where those two are made (JAX path): "waveform" (the vocoder, ops.stretch_and_shift) or "bands" (a
    # shift and resampling of the model's own semitone bands, for config.model.scale="log": augment/bands.py).
    c.pitch_stretch = "waveform"
    # How the vocoder carries phase over frames: "scan" (a recurrence) or "cumulative" (every frame
    # independent; ops.phase_vocoder); "auto": whichever is faster on the device kind (docs/benchmarks.md,
    # step). Both are held to the same pitch, timing and transient figures.
    c.vocoder_phase = "auto"
    # How many clips the chain augments at a time (chain.py: `passes`): "auto" is one stratum of 16 on a CPU,
    # where each pass's frames then stay in a core's cache (docs/benchmarks.md, augment), and the whole
    # batch on an accelerator, whose lanes want all of it; "all" is the
    # whole batch; a whole number, that many (a multiple of 16 that divides each device's batch). The views
    # are the same either way up to float rounding: every draw is made for the whole batch first.
    c.clips_per_pass = "auto"
    # audiomentations' SevenBandParametricEQ: low shelf, five peaking bands, high shelf.
    c.eq = dict(p=0.5, min_gain_db=-12.0, max_gain_db=12.0)
    # Synthetic room (decaying noise) unless ir_dir names a folder of impulse responses.
    c.reverb = dict(p=0.5, min_rt60=0.2, max_rt60=1.2, max_pre_delay_ms=20.0, min_wet=0.2, max_wet=0.6, ir_dir="")
    # Dynamic range compression, as in mastering: threshold in dB below the clip's peak (audiomentations'
    # Limiter's "relative_to_signal_peak"), ratio (1e9: a limiter), attack and release as the time to settle
    # 60 dB of the way (audiomentations' definition), make-up gain that restores the peak's level.
    # Off (p=0) until the quality study measures it (docs/quality.md).
    c.compression = dict(
        p=0.0,
        min_threshold_db=-24.0,
        max_threshold_db=-2.0,
        min_ratio=2.0,
        max_ratio=20.0,
        min_attack=0.0005,
        max_attack=0.025,
        min_release=0.05,
        max_release=0.7,
        makeup=True,
    )
    c.gain = dict(p=0.5, min_gain_db=-6.0, max_gain_db=6.0)
    c.polarity = dict(p=0.5)
    # Quality degradation, each with its own probability; off until the quality study measures them.
    # Clipping of the loudest percent of samples (audiomentations' ClippingDistortion), soft (tanh) with
    # probability soft_p; band-limiting by a Butterworth low-pass (a low sample rate or a cheap codec);
    # quantisation to fewer bits (BitCrush), with triangular dither if asked.
    c.clipping = dict(p=0.0, min_percent=0.0, max_percent=20.0, soft_p=0.5)
    c.lowpass = dict(p=0.0, min_cutoff_hz=2000.0, max_cutoff_hz=7000.0, order=4)
    c.bit_crush = dict(p=0.0, min_bits=6, max_bits=12, dither=False)
    c.noise = dict(p=0.5, min_snr_db=10.0, max_snr_db=40.0, color="random")
    # Mixup (BYOL-A): a view mixed with another clip's view of the same batch, in power, at a ratio drawn
    # from [0, max_ratio]: other music heard behind the clip. On the model's bands (pitch_stretch="bands").
    # Off: at p=1 instruments fell on the demo (two seeds), the partners being the batch's own negatives
    # (docs/quality.md, lever 3g). Not in OPS: it mixes clips, not one clip.
    c.mixup = dict(p=0.0, max_ratio=0.4)
    c.lock()  # a misspelt key (config.eq.gain_rnage = 3) is an error, not a silently ignored new field
    return c


def draw_semitones(key, shape: tuple[int, ...], pitch_shift: ml_collections.ConfigDict):
    """Each example's pitch shift in semitones, before its coin: uniform over [min_semitones, max_semitones],
    or over the whole numbers in it with whole_semitones. The one draw both JAX paths make (chain.py, the
    vocoder; bands.py, the band views). Whole shifts keep every note of a view on a band of its own: a shift
    of 2.5 semitones spreads each note over two bands of semitone-spaced features, half a semitone out of
    tune with the grid the model's filters are learned on."""
    import jax  # here, not at the top: configs are loaded and checked without JAX
    import jax.numpy as jnp

    lo, hi = float(pitch_shift.min_semitones), float(pitch_shift.max_semitones)
    if pitch_shift.whole_semitones:
        return jax.random.randint(key, shape, math.ceil(lo), math.floor(hi) + 1).astype(jnp.float32)
    return jax.random.uniform(key, shape, minval=lo, maxval=hi)


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
    domain = c.pitch_stretch
    check(
        domain in ("waveform", "bands"),
        "pitch_stretch",
        f"must be 'waveform' (phase vocoder) or 'bands' (the model's semitone bands), got {domain!r}",
    )
    check(
        domain == "waveform" or c.backend == "jax",
        "pitch_stretch",
        "'bands' views are made on the device: needs backend 'jax' (--config.augment.backend=jax)",
    )
    phase = c.vocoder_phase
    check(
        phase in VOCODER_PHASES,
        "vocoder_phase",
        f"must be one of {', '.join(VOCODER_PHASES)} (e.g. --config.augment.vocoder_phase=auto), got {phase!r}",
    )
    per_pass = str(c.clips_per_pass)
    check(
        per_pass in ("auto", "all") or (per_pass.isdigit() and int(per_pass) > 0),
        "clips_per_pass",
        f"must be 'auto', 'all' or a whole number of clips (e.g. --config.augment.clips_per_pass=16), got {per_pass!r}",
    )
    whole = c.pitch_shift.whole_semitones
    check(isinstance(whole, bool), "pitch_shift.whole_semitones", f"must be True or False, got {whole!r}")
    check(
        not whole or c.backend == "jax",
        "pitch_shift.whole_semitones",
        "audiomentations draws real-valued shifts; use --config.augment.backend=jax or "
        "--config.augment.pitch_shift.whole_semitones=False",
    )
    check(
        not whole or math.floor(c.pitch_shift.max_semitones) >= math.ceil(c.pitch_shift.min_semitones),
        "pitch_shift.whole_semitones",
        "no whole number of semitones lies between min_semitones and max_semitones; widen the range",
    )
    mixup = c.mixup
    check(0.0 <= mixup["p"] <= 1.0, "mixup.p", f"must be in [0, 1], got {mixup['p']}")
    check(0.0 < mixup["max_ratio"] <= 0.5, "mixup.max_ratio", f"must be in (0, 0.5], got {mixup['max_ratio']}")
    check(
        mixup["p"] == 0 or domain == "bands",
        "mixup",
        "views are mixed on the model's bands: needs --config.augment.pitch_stretch=bands, "
        "or turn it off with --config.augment.mixup.p=0",
    )
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
    k = c.compression
    check(
        k.min_threshold_db <= k.max_threshold_db <= 0.0,
        "compression",
        "needs min_threshold_db <= max_threshold_db <= 0",
    )
    check(1.0 <= k.min_ratio <= k.max_ratio, "compression", "needs 1 <= min_ratio <= max_ratio")
    check(0.0 < k.min_attack <= k.max_attack <= 1.0, "compression", "needs 0 < min_attack <= max_attack <= 1 s")
    check(0.0 < k.min_release <= k.max_release <= 10.0, "compression", "needs 0 < min_release <= max_release <= 10 s")
    check(
        0.0 <= c.clipping.min_percent <= c.clipping.max_percent < 100.0,
        "clipping",
        "needs 0 <= min_percent <= max_percent < 100",
    )
    check(0.0 <= c.clipping.soft_p <= 1.0, "clipping.soft_p", f"must be in [0, 1], got {c.clipping.soft_p}")
    check(
        0.0 < c.lowpass.min_cutoff_hz <= c.lowpass.max_cutoff_hz < c.sample_rate / 2,
        "lowpass",
        f"needs 0 < min_cutoff_hz <= max_cutoff_hz < {c.sample_rate / 2:g} (half the sample rate)",
    )
    check(
        isinstance(c.lowpass.order, int) and 1 <= c.lowpass.order <= 16,
        "lowpass.order",
        f"must be a whole number of poles in 1..16, got {c.lowpass.order!r}",
    )
    check(
        isinstance(c.bit_crush.min_bits, int)
        and isinstance(c.bit_crush.max_bits, int)
        and 2 <= c.bit_crush.min_bits <= c.bit_crush.max_bits <= 24,
        "bit_crush",
        "needs whole numbers 2 <= min_bits <= max_bits <= 24",
    )
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


def vocoder_form(phase: str, platform: str) -> str:
    """The vocoder's form for augment.vocoder_phase on a backend (jax.default_backend()): "auto" is the scan
    on a CPU and the cumulative form on an accelerator, whose thousands of lanes it keeps busy without a
    240-step recurrence (an H200's full step 1.08x faster). On 2-core CPUs the cumulative form was 1.9x
    as slow in the tiny config's step, and since the 2026-12-04 cheaper peak search and overlap-add
    (which it leans on more) within 2%: the scan, Laroche & Dolson's own recurrence, stays there."""
    if phase != "auto":
        return phase
    return "scan" if platform == "cpu" else "cumulative"
