"""Pitch shift and time stretch in the band domain: views made on the model's own semitone bands.

On bands spaced evenly in log frequency (config.model.scale = "log"), a pitch shift of s semitones is a
move of s x bins_per_octave / 12 bands along the frequency axis, and a time stretch at rate r reads frame
t of the view from frame r t of the input: a gather and a linear interpolation per example, where the
waveform path (ops.stretch_and_shift) runs a phase vocoder and a resampler, 85-90% of the demo's whole
augmentation (docs/benchmarks.md). The same ranges and the same coins as the waveform path: pitch on with
probability pitch_shift.p, stretch with time_stretch.p, independently.

What differs from the waveform path, and why it is acceptable for views: the shift and stretch act on
the magnitudes after the other ops (EQ, reverb, noise are moved with the music, as if applied before),
and the phase is gone, so nothing of a vocoder's phasiness or transient smearing enters the view. The
front end computes `margin` extra bands below and above the plan (frontend.log_filterbank_with_margin),
so a shifted view is read from audio, not from padding; bands past the Nyquist frequency are silence, as
in a waveform shifted down. Interpolation is of power, not of log power: the filterbank's triangles are
themselves a linear interpolation of power in log frequency, so a shift by a fraction of a band reads
what a band centred there would have read.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_collections

from ssl_audio.augment.config import draw_semitones
from ssl_audio.errors import BadValueError
from ssl_audio.models.frontend import LOG_FLOOR, n_frames


def uses_bands(augment: ml_collections.ConfigDict) -> bool:
    """Whether a config's pitch shift and time stretch run in the band domain (only on the JAX path)."""
    return augment.backend == "jax" and augment.pitch_stretch == "bands"


class BandViews:
    """sample(key, batch) draws each example's semitones and rate (and, with augment.mixup.p > 0, its mixup
    partner and ratio); apply(bands, params) makes the views, [B, input frames, n_mels + 2 margin] log bands
    -> [B, view frames, n_mels]."""

    def __init__(self, augment: ml_collections.ConfigDict, model: ml_collections.ConfigDict, view_samples: int):
        from ssl_audio import models  # noqa: F401  (registers the encoders)
        from ssl_audio.models.registry import ENCODERS

        if model.scale != "log" or not hasattr(ENCODERS.get(model.name), "from_spectrogram"):
            raise BadValueError(
                "config.augment.pitch_stretch: 'bands' needs an encoder with log-frequency bands "
                f"(config.model.scale='log'; this model has {model.get('scale', 'no bands')!r}); "
                "use --config.augment.pitch_stretch=waveform"
            )
        self.config = ml_collections.ConfigDict(augment.to_dict())
        self.bands_per_semitone = int(model.bins_per_octave) / 12.0
        p = self.config.pitch_shift
        widest = max(abs(float(p.min_semitones)), abs(float(p.max_semitones))) if p.p > 0 else 0.0
        # Bands on either side the front end adds so a view shifted by `widest` semitones is read from audio.
        self.margin = int(math.ceil(widest * self.bands_per_semitone - 1e-9))
        self.n_bands = int(model.n_mels)
        self.view_frames = n_frames(view_samples, int(model.hop))

    def sample(self, key: jax.Array, batch: int) -> dict[str, jax.Array]:
        c = self.config
        k_pitch, k_stretch, k_semitones, k_rate = jax.random.split(key, 4)
        pitch_on = jax.random.uniform(k_pitch, (batch,)) < c.pitch_shift.p
        stretch_on = jax.random.uniform(k_stretch, (batch,)) < c.time_stretch.p
        semitones = draw_semitones(k_semitones, (batch,), c.pitch_shift)
        rate = jax.random.uniform(k_rate, (batch,), minval=c.time_stretch.min_rate, maxval=c.time_stretch.max_rate)
        params = {"semitones": jnp.where(pitch_on, semitones, 0.0), "rate": jnp.where(stretch_on, rate, 1.0)}
        mixup = c.mixup
        if mixup["p"] > 0:  # its own key: the draws above are the same with mixup on or off
            params |= mix_partners(jax.random.fold_in(key, 1), batch, mixup["p"], mixup["max_ratio"])
        return params

    def apply(self, bands: jax.Array, params: dict[str, jax.Array]) -> jax.Array:
        if bands.shape[-1] != self.n_bands + 2 * self.margin:
            raise ValueError(
                f"band views need {self.n_bands} + 2 x {self.margin} bands (the front end's margin); "
                f"got {bands.shape[-1]}"
            )
        if bands.shape[1] < self.view_frames:
            raise ValueError(f"band views cut {self.view_frames} frames from {bands.shape[1]}; crop longer")
        one = lambda x, s, r: shift_and_stretch(  # noqa: E731
            x, s * self.bands_per_semitone, r, margin=self.margin, n_bands=self.n_bands, n_out=self.view_frames
        )
        views = jax.vmap(one)(bands, params["semitones"], params["rate"])
        return mix(views, params["mix_partner"], params["mix_ratio"]) if "mix_ratio" in params else views


def mix_partners(key: jax.Array, batch: int, p: float, max_ratio: float) -> dict[str, jax.Array]:
    """Mixup's draws: each example's partner, another example of its stratum (chain.STRATUM: so a batch
    sharded over devices mixes inside each device's shard, as the chain's subsets do), never itself; and
    its ratio, uniform in [0, max_ratio] where its coin (probability p) says yes, else 0. The two views of
    a clip draw their partners independently: a partner both views shared would be a cue to match them by."""
    from ssl_audio.augment.chain import stratum_size

    size = stratum_size(batch)
    k_coin, k_ratio, k_partner = jax.random.split(key, 3)
    own = jnp.arange(batch)
    offset = jax.random.randint(k_partner, (batch,), 1, max(size, 2))  # 1 .. size - 1: never itself
    partner = (own // size) * size + (own % size + offset) % size
    ratio = jax.random.uniform(k_ratio, (batch,), maxval=max_ratio)
    on = jax.random.uniform(k_coin, (batch,)) < p
    return {"mix_partner": partner, "mix_ratio": jnp.where(on & (size > 1), ratio, 0.0)}


def mix(views: jax.Array, partner: jax.Array, ratio: jax.Array) -> jax.Array:
    """[B, frames, bands] log views, each mixed with its partner's in power: log((1 - r) e^x + r e^y),
    BYOL-A's log-mixup-exp (a sum of powers is what two sounds played together give, on average)."""
    r = ratio.astype(jnp.float32)[:, None, None]
    power = (1.0 - r) * jnp.exp(views.astype(jnp.float32)) + r * jnp.exp(views[partner].astype(jnp.float32))
    return jnp.log(jnp.maximum(power, LOG_FLOOR)).astype(views.dtype)


def _lerp_index(position: jax.Array, size: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Neighbours (i, i + 1) and weight of each fractional position, clamped to [0, size - 1]."""
    position = jnp.clip(position, 0.0, size - 1.0)
    low = jnp.floor(position)
    weight = position - low
    low = low.astype(jnp.int32)
    return low, jnp.minimum(low + 1, size - 1), weight.astype(jnp.float32)


def shift_and_stretch(
    bands: jax.Array, shift: jax.Array, rate: jax.Array, *, margin: int, n_bands: int, n_out: int
) -> jax.Array:
    """One example: [frames, n_bands + 2 margin] log bands -> [n_out, n_bands], the content moved up by
    `shift` bands (fractional allowed, |shift| <= margin) and played `rate` times faster (frame t of the
    output is frame r t of the input). Shift 0 and rate 1 give the plan's own bands (to float rounding)."""
    power = jnp.exp(bands.astype(jnp.float32))
    t0, t1, wt = _lerp_index(jnp.arange(n_out, dtype=jnp.float32) * rate, bands.shape[0])
    power = power[t0] * (1.0 - wt)[:, None] + power[t1] * wt[:, None]
    # Output band f shows what was at band f - shift: input column margin + f - shift.
    f0, f1, wf = _lerp_index(margin + jnp.arange(n_bands, dtype=jnp.float32) - shift, bands.shape[1])
    power = power[:, f0] * (1.0 - wf) + power[:, f1] * wf
    return jnp.log(jnp.maximum(power, LOG_FLOOR)).astype(bands.dtype)


def waveform_config(augment: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """The config the waveform chain runs with when pitch and stretch are made in the band domain: the
    same, with those two ops off (their coins are the band views')."""
    c = ml_collections.ConfigDict(augment.to_dict())
    c.pitch_shift.p = 0.0
    c.time_stretch.p = 0.0
    c.lock()
    return c
