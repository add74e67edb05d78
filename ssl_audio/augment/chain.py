"""The JAX augmentation chain: a pure function (batch [B, T], PRNG key) -> batch [B, T].

Each example gets its own draw of every parameter and its own coin flip per op;
the ops run batched (vmap) inside whatever jit calls the chain, with no host
round trip. Order (config.OPS): time shift -> pitch shift / time stretch -> EQ ->
reverb -> compression -> gain -> polarity (how a recording is made and mastered),
then clipping -> low-pass -> bit crush (how a copy of it is degraded), then noise
(last, so its SNR is relative to what the model hears).

A view is cut to its final length right after the stretch, not before: a view sped up by rate r reads
r x its length of input, so the loader crops `input_samples(config, view_samples)` and the chain returns
`view_samples`. (Cropping the view's own length and stretching it made every view sped up at rate r end
in (1 - 1/r) of silence, up to 20% of the view at rate 1.25: a cue to the rate that real audio never has.)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ssl_audio.augment import ops
from ssl_audio.augment.config import NOISE_DECAY_DB, validate
from ssl_audio.augment.impulse_responses import load_ir_bank


def _mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _hz(m):
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


def sample_parameters(config: ml_collections.ConfigDict, key: jax.Array, batch: int, n_irs: int) -> dict:
    """Every random choice of the chain for a batch, as arrays with a leading batch axis."""
    c = config
    # 32 keys for the ops that came first, then 32 more: an old seed's first 32 draws are unchanged.
    k = iter([*jax.random.split(key, 32), *jax.random.split(jax.random.fold_in(key, 1), 32)])
    u = lambda lo, hi, shape=(batch,): jax.random.uniform(next(k), shape, minval=lo, maxval=hi)  # noqa: E731
    flip = lambda p: jax.random.uniform(next(k), (batch,)) < p  # noqa: E731
    band_lo = np.array([_mel(b[1]) for b in ops.EQ_BANDS], np.float32)
    band_hi = np.array([_mel(b[2]) for b in ops.EQ_BANDS], np.float32)
    q_lo = np.array([b[3] for b in ops.EQ_BANDS], np.float32)
    q_hi = np.array([b[4] for b in ops.EQ_BANDS], np.float32)
    n_bands = len(ops.EQ_BANDS)
    decay_lo, decay_hi = NOISE_DECAY_DB[c.noise.color]
    return {
        "time_shift": jnp.where(flip(c.time_shift.p), u(-c.time_shift.max_fraction, c.time_shift.max_fraction), 0.0),
        "semitones": jnp.where(flip(c.pitch_shift.p), u(c.pitch_shift.min_semitones, c.pitch_shift.max_semitones), 0.0),
        "rate": jnp.where(flip(c.time_stretch.p), u(c.time_stretch.min_rate, c.time_stretch.max_rate), 1.0),
        "eq_on": flip(c.eq.p),
        "eq_centres": _hz(band_lo + (band_hi - band_lo) * jax.random.uniform(next(k), (batch, n_bands))),
        "eq_gains_db": u(c.eq.min_gain_db, c.eq.max_gain_db, (batch, n_bands)),
        "eq_qs": q_lo + (q_hi - q_lo) * jax.random.uniform(next(k), (batch, n_bands)),
        "reverb_on": flip(c.reverb.p),
        "rt60": u(c.reverb.min_rt60, c.reverb.max_rt60),
        "pre_delay": u(0.0, c.reverb.max_pre_delay_ms / 1000.0),
        "wet": u(c.reverb.min_wet, c.reverb.max_wet),
        "ir_index": jax.random.randint(next(k), (batch,), 0, max(n_irs, 1)),
        "gain_db": jnp.where(flip(c.gain.p), u(c.gain.min_gain_db, c.gain.max_gain_db), 0.0),
        "invert": flip(c.polarity.p),
        "noise_on": flip(c.noise.p),
        "snr_db": u(c.noise.min_snr_db, c.noise.max_snr_db),
        "noise_decay": u(decay_lo, decay_hi),
        "keys": jax.random.split(next(k), batch),
        # Drawn after everything above, so adding them left every earlier draw of a seed unchanged.
        "compress_on": flip(c.compression.p),
        "threshold_below_peak_db": u(c.compression.min_threshold_db, c.compression.max_threshold_db),
        # Ratio drawn log-uniformly: 2 -> 4 is as big a step as 10 -> 20.
        "ratio": jnp.exp(u(np.log(c.compression.min_ratio), np.log(c.compression.max_ratio))),
        "attack": u(c.compression.min_attack, c.compression.max_attack),
        "release": u(c.compression.min_release, c.compression.max_release),
        "clip_on": flip(c.clipping.p),
        "clip_percent": u(c.clipping.min_percent, c.clipping.max_percent),
        "clip_soft": flip(c.clipping.soft_p),
        "lowpass_on": flip(c.lowpass.p),
        "cutoff_hz": jnp.exp(u(np.log(c.lowpass.min_cutoff_hz), np.log(c.lowpass.max_cutoff_hz))),
        "crush_on": flip(c.bit_crush.p),
        "bits": jax.random.randint(next(k), (batch,), c.bit_crush.min_bits, c.bit_crush.max_bits + 1),
    }


def input_samples(config: ml_collections.ConfigDict, view_samples: int) -> int:
    """Samples of audio a view needs before the chain so that it is still real audio after the fastest
    stretch the config can draw: `view_samples x max_rate` (the view's own length when nothing speeds up)."""
    stretch = config.time_stretch
    fastest = float(stretch.max_rate) if stretch.p > 0 else 1.0
    return int(math.ceil(view_samples * max(fastest, 1.0) - 1e-9))


def make_chain(
    config: ml_collections.ConfigDict, view_samples: int | None = None
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """Builds the chain for a config. The result is pure and jit-able: chain(batch [B, T], key) -> [B, V],
    V = `view_samples` (T when not given): the first V samples of each stretched or shifted clip."""
    validate(config)
    c = ml_collections.ConfigDict(config.to_dict())  # frozen copy: later edits to `config` do not leak in
    sr = int(c.sample_rate)
    max_pitch_factor = float(2 ** (max(c.pitch_shift.max_semitones, 0.0) / 12))
    ir_bank = load_ir_bank(c.reverb.ir_dir, sr) if c.reverb.ir_dir else None
    ir_length = int(np.ceil((c.reverb.max_rt60 + c.reverb.max_pre_delay_ms / 1000.0) * sr))

    def compress(y, p):
        # The threshold follows the clip's peak, so a quiet clip is compressed as much as a loud one.
        peak_db = 20.0 * jnp.log10(jnp.maximum(jnp.max(jnp.abs(y)), 1e-10))
        ratio = p["ratio"]
        makeup = -p["threshold_below_peak_db"] * (1.0 - 1.0 / ratio) if c.compression.makeup else 0.0
        threshold = peak_db + p["threshold_below_peak_db"]
        return ops.compress(y, threshold, ratio, p["attack"], p["release"], makeup, sr)

    # An op whose probability is 0 is left out of the program (its parameters are still drawn, so a seed's
    # other draws do not move). Ops with p > 0 are computed for every example and selected with `where`:
    # under vmap a per-example branch becomes both branches anyway, and static shapes need the work done.
    on = {name: float(c[name].p) > 0 for name in c.keys() if isinstance(c[name], ml_collections.ConfigDict)}

    def when(flag: str, coin, op, y):
        return jnp.where(coin, op(y), y) if on[flag] else y

    def one(x, p):
        length = x.shape[0] if view_samples is None else int(view_samples)
        if x.shape[0] < length:
            raise ValueError(f"the chain cuts views of {length} samples from clips of {x.shape[0]}; crop longer")
        key_ir, key_noise = jax.random.split(p["keys"])
        # The shift is a fraction of the view, not of the (longer) input: the same shift either way.
        y = ops.time_shift(x, jnp.round(p["time_shift"] * length).astype(jnp.int32))
        if on["time_stretch"] or on["pitch_shift"]:
            stretched = ops.stretch_and_shift(y, p["rate"], p["semitones"], max_pitch_factor, length)
            y = jnp.where((p["rate"] != 1.0) | (p["semitones"] != 0.0), stretched, y[:length])
        else:
            y = y[:length]
        y = when("eq", p["eq_on"], lambda y: ops.parametric_eq(y, p["eq_centres"], p["eq_gains_db"], p["eq_qs"], sr), y)
        if on["reverb"]:
            if ir_bank is None:
                ir = ops.synthetic_ir(key_ir, ir_length, p["rt60"], p["pre_delay"], sr)
            else:
                ir = jnp.asarray(ir_bank)[p["ir_index"]]
            y = jnp.where(p["reverb_on"], ops.reverb(y, ir, p["wet"]), y)
        y = when("compression", p["compress_on"], lambda y: compress(y, p), y)
        y = ops.polarity(ops.gain(y, p["gain_db"]), p["invert"])
        y = when("clipping", p["clip_on"], lambda y: ops.clip(y, p["clip_percent"], p["clip_soft"]), y)
        y = when("lowpass", p["lowpass_on"], lambda y: ops.lowpass(y, p["cutoff_hz"], int(c.lowpass.order), sr), y)
        if on["bit_crush"]:
            # Triangular (TPDF) dither in quantisation steps; its key is folded in, not split off, so the
            # reverb's and noise's keys are what they were before the op existed.
            tpdf = jax.random.uniform(jax.random.fold_in(p["keys"], 1), (2, length)).sum(0) - 1.0
            y = jnp.where(p["crush_on"], ops.bit_crush(y, p["bits"], tpdf if c.bit_crush.dither else None), y)
        noise = lambda y: ops.add_noise(y, ops.colored_noise(key_noise, length, p["noise_decay"]), p["snr_db"])  # noqa: E731
        return when("noise", p["noise_on"], noise, y)

    def chain(batch: jax.Array, key: jax.Array) -> jax.Array:
        params = sample_parameters(c, key, batch.shape[0], 0 if ir_bank is None else ir_bank.shape[0])
        return jax.vmap(one)(batch, params)

    return chain
