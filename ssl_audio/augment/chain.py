"""The JAX augmentation chain: a pure function (batch [B, T], PRNG key) -> batch [B, T].

Each example gets its own draw of every parameter and its own coin per op; the
ops run batched (vmap) inside whatever jit calls the chain, with no host round
trip. A costly op is computed only for the examples whose coin can say yes, a
fixed number per stratum of 16 (`_exact_coins`, `on_subset`), so shapes stay
static and the work an op's p = 0.5 would throw away is not done.

Order (config.OPS): time shift -> pitch shift / time stretch -> EQ -> reverb -> compression -> gain ->
polarity (how a recording is made and mastered), then clipping -> low-pass -> bit crush (how a copy of it
is degraded), then noise (last, so its SNR is relative to what the model hears).

A view is cut to its final length right after the stretch, not before: a view sped up by rate r reads
r x its length of input, so the loader crops `input_samples(config, view_samples)` and the chain returns
`view_samples`. (Cropping the view's own length and stretching it made every view sped up at rate r end
in (1 - 1/r) of silence, up to 20% of the view at rate 1.25: a cue to the rate that real audio never has.)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from ssl_audio.augment import ops
from ssl_audio.augment.config import NOISE_DECAY_DB, draw_semitones, validate, vocoder_form
from ssl_audio.augment.impulse_responses import load_ir_bank
from ssl_audio.distributed import DATA_AXIS
from ssl_audio.errors import BadValueError


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def mel_to_hz(m):
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


# Ops that cost real work run only on the examples whose coin said yes, and for static shapes the number
# of those examples must be fixed: in each stratum of STRATUM consecutive examples, exactly floor(p * S) get
# the op, one more with probability frac(p * S) (`_exact_coins`). Each example's chance is still p, but the
# op is computed for ceil(p * S) examples of S instead of all S (under vmap a per-example `where` computes
# both branches for every example: at the defaults' p = 0.5 half of that work was thrown away). Strata, not
# the whole batch, so that the gathers stay inside one device's shard when the batch is split over devices
# (a per-device batch that is a multiple of 16), and draws do not depend on the device count.
STRATUM = 16
SUBSET_OPS = ("vocoder", "eq", "reverb", "compression", "clipping", "lowpass", "noise")


def stratum_size(batch: int) -> int:
    """The largest divisor of `batch` not above STRATUM."""
    return max(d for d in range(1, min(batch, STRATUM) + 1) if batch % d == 0)


def subset_size(p: float, batch: int) -> int:
    """Examples of each stratum an op of probability p is computed for."""
    return min(stratum_size(batch), int(math.ceil(p * stratum_size(batch) - 1e-9)))


def _exact_coins(key: jax.Array, batch: int, p: float) -> tuple[jax.Array, jax.Array]:
    """(on [B] bool, slot [B] int32): each example's place in a random order of its stratum, and whether
    its op is on. Slots below floor(p S) are on; slot floor(p S) is on with probability frac(p S); the
    rest are off. So P(on) = p for every example, and only slots < `subset_size` are ever on."""
    s = stratum_size(batch)
    expected = float(p) * s
    full = int(math.floor(expected + 1e-9))
    k_order, k_extra = jax.random.split(key)
    keys = jax.random.split(k_order, batch // s)
    # slot[i] = rank of example i in its stratum's random permutation.
    slot = jax.vmap(lambda k: jnp.argsort(jax.random.permutation(k, s)))(keys).reshape(batch).astype(jnp.int32)
    on = slot < full
    if expected - full > 1e-9:
        extra = jax.random.uniform(k_extra, (batch // s,)) < expected - full
        on = on | ((slot == full) & jnp.repeat(extra, s))
    return on, slot


def probability(config: ml_collections.ConfigDict, op: str) -> float:
    """The chance that a SUBSET_OPS op runs on an example."""
    if op == "vocoder":
        return 1.0 - (1.0 - float(config.pitch_shift.p)) * (1.0 - float(config.time_stretch.p))
    return float(config[op].p)


def sample_parameters(config: ml_collections.ConfigDict, key: jax.Array, batch: int, n_irs: int) -> dict:
    """Every random choice of the chain for a batch, as arrays with a leading batch axis."""
    c = config
    k = iter([*jax.random.split(key, 32), *jax.random.split(jax.random.fold_in(key, 1), 32)])
    u = lambda lo, hi, shape=(batch,): jax.random.uniform(next(k), shape, minval=lo, maxval=hi)  # noqa: E731
    flip = lambda p: jax.random.uniform(next(k), (batch,)) < p  # noqa: E731
    exact = lambda p: _exact_coins(next(k), batch, p)  # noqa: E731
    band_lo = np.array([hz_to_mel(b[1]) for b in ops.EQ_BANDS], np.float32)
    band_hi = np.array([hz_to_mel(b[2]) for b in ops.EQ_BANDS], np.float32)
    q_lo = np.array([b[3] for b in ops.EQ_BANDS], np.float32)
    q_hi = np.array([b[4] for b in ops.EQ_BANDS], np.float32)
    n_bands = len(ops.EQ_BANDS)
    decay_lo, decay_hi = NOISE_DECAY_DB[c.noise.color]
    # Pitch shift and time stretch share one vocoder, needed when either coin says yes (probability q).
    # The vocoder's coin is exact; given it, pitch is on with pp / q, and stretch always when pitch is off,
    # else with ps: so P(pitch) = pp, P(stretch) = ps, independently, as two separate coins would give.
    pp, ps, q = float(c.pitch_shift.p), float(c.time_stretch.p), probability(c, "vocoder")
    vocoder_on, vocoder_slot = exact(q)
    pitch_on = vocoder_on & (jax.random.uniform(next(k), (batch,)) < (pp / q if q > 0 else 0.0))
    stretch_on = vocoder_on & (~pitch_on | (jax.random.uniform(next(k), (batch,)) < ps))
    params = {
        "time_shift": jnp.where(flip(c.time_shift.p), u(-c.time_shift.max_fraction, c.time_shift.max_fraction), 0.0),
        "vocoder_on": vocoder_on,
        "vocoder_slot": vocoder_slot,
        "semitones": jnp.where(pitch_on, draw_semitones(next(k), (batch,), c.pitch_shift), 0.0),
        "rate": jnp.where(stretch_on, u(c.time_stretch.min_rate, c.time_stretch.max_rate), 1.0),
    }
    params["eq_on"], params["eq_slot"] = exact(c.eq.p)
    params |= {
        "eq_centres": mel_to_hz(band_lo + (band_hi - band_lo) * jax.random.uniform(next(k), (batch, n_bands))),
        "eq_gains_db": u(c.eq.min_gain_db, c.eq.max_gain_db, (batch, n_bands)),
        "eq_qs": q_lo + (q_hi - q_lo) * jax.random.uniform(next(k), (batch, n_bands)),
    }
    params["reverb_on"], params["reverb_slot"] = exact(c.reverb.p)
    params |= {
        "rt60": u(c.reverb.min_rt60, c.reverb.max_rt60),
        "pre_delay": u(0.0, c.reverb.max_pre_delay_ms / 1000.0),
        "wet": u(c.reverb.min_wet, c.reverb.max_wet),
        "ir_index": jax.random.randint(next(k), (batch,), 0, max(n_irs, 1)),
        "gain_db": jnp.where(flip(c.gain.p), u(c.gain.min_gain_db, c.gain.max_gain_db), 0.0),
        "invert": flip(c.polarity.p),
    }
    params["noise_on"], params["noise_slot"] = exact(c.noise.p)
    params |= {
        "snr_db": u(c.noise.min_snr_db, c.noise.max_snr_db),
        "noise_decay": u(decay_lo, decay_hi),
        "keys": jax.random.split(next(k), batch),
    }
    params["compression_on"], params["compression_slot"] = exact(c.compression.p)
    params |= {
        "threshold_below_peak_db": u(c.compression.min_threshold_db, c.compression.max_threshold_db),
        # Ratio drawn log-uniformly: 2 -> 4 is as big a step as 10 -> 20.
        "ratio": jnp.exp(u(np.log(c.compression.min_ratio), np.log(c.compression.max_ratio))),
        "attack": u(c.compression.min_attack, c.compression.max_attack),
        "release": u(c.compression.min_release, c.compression.max_release),
    }
    params["clipping_on"], params["clipping_slot"] = exact(c.clipping.p)
    params |= {
        "clip_percent": u(c.clipping.min_percent, c.clipping.max_percent),
        "clip_soft": flip(c.clipping.soft_p),
    }
    params["lowpass_on"], params["lowpass_slot"] = exact(c.lowpass.p)
    params |= {
        "cutoff_hz": jnp.exp(u(np.log(c.lowpass.min_cutoff_hz), np.log(c.lowpass.max_cutoff_hz))),
        "crush_on": flip(c.bit_crush.p),
        "bits": jax.random.randint(next(k), (batch,), c.bit_crush.min_bits, c.bit_crush.max_bits + 1),
    }
    return params


def on_subset(y: jax.Array, params: dict, op: str, size: int, fn, cut: int | None = None) -> jax.Array:
    """y [B, T] -> [B, T'] (T' = cut or T): fn(example, its params) for the examples whose `op` coin is on,
    computed for the `size` examples of each stratum in slots < size only; the rest pass through (cut)."""
    kept = y if cut is None else y[:, :cut]
    if size == 0:
        return kept
    b = y.shape[0]
    s = stratum_size(b)
    g = b // s
    head = jnp.argsort(params[f"{op}_slot"].reshape(g, s), axis=1)[:, :size]  # [G, size]: example per slot
    take = jax.vmap(lambda a, i: a[i])  # inside each stratum

    def gather(a):
        return take(a.reshape(g, s, *a.shape[1:]), head).reshape(g * size, *a.shape[1:])

    picked = jax.tree.map(gather, params)
    rows = gather(y)
    done = jax.vmap(fn)(rows, picked)
    done = jnp.where(picked[f"{op}_on"][:, None], done, rows if cut is None else rows[:, :cut])
    put = jax.vmap(lambda a, i, d: a.at[i].set(d, unique_indices=True))
    return put(kept.reshape(g, s, -1), head, done.reshape(g, size, -1)).reshape(kept.shape)


def shards_whole_strata(batch: int, mesh: jax.sharding.Mesh) -> bool:
    """Whether splitting `batch` over the mesh's data axis gives every device whole strata, so that the
    chain can run on each shard alone (make_chain) and draw what it draws on one device."""
    n = mesh.shape[DATA_AXIS]
    return n > 1 and batch % n == 0 and (batch // n) % stratum_size(batch) == 0


def passes(setting: str, batch: int, platform: str) -> int:
    """Clips per pass of the chain over a batch (or one device's shard) of `batch` clips, for
    augment.clips_per_pass: "auto" is one stratum on a CPU and the whole batch elsewhere, "all" the whole
    batch. A pass holds whole strata, so its subsets are the ones the whole batch would pick."""
    s = stratum_size(batch)
    if setting == "all" or (setting == "auto" and platform != "cpu"):
        return batch
    n = s if setting == "auto" else int(setting)
    if n % s or batch % n:
        raise BadValueError(
            f"augment.clips_per_pass: {n} clips a pass must be a multiple of {s} that divides each device's "
            f"batch of {batch}; try --config.augment.clips_per_pass=auto"
        )
    return n


def clips_a_pass(config: ml_collections.ConfigDict, batch: int, mesh: jax.sharding.Mesh | None = None) -> int:
    """Clips per pass of the chain for `config` over a global batch of `batch` on `mesh` (each device's shard
    when it augments its own: `shards_whole_strata`), on this process's backend."""
    per_device = batch // mesh.shape[DATA_AXIS] if mesh is not None and shards_whole_strata(batch, mesh) else batch
    return passes(str(config.clips_per_pass), per_device, jax.default_backend())


def in_passes(fn: Callable, per_pass: int) -> Callable:
    """fn(*args), args arrays or pytrees of them with a leading batch axis, run on `per_pass` clips at a time
    (`jax.lax.map`), each pass with its own rows of every argument. Why: on a CPU the chain is bound by
    memory, not arithmetic (docs/benchmarks.md, the FFT floor): a batch of 64 3-s clips has 63 MB of complex
    frames, which every elementwise step streams from RAM; 16 clips' frames (16 MB) largely stay in cache
    from one step to the next."""

    def run(*args):
        batch = jax.tree.leaves(args)[0].shape[0]
        n = batch // per_pass
        if n <= 1:
            return fn(*args)
        split = lambda a: a.reshape(n, per_pass, *a.shape[1:])  # noqa: E731
        out = jax.lax.map(lambda xs: fn(*xs), jax.tree.map(split, args))
        return jax.tree.map(lambda a: a.reshape(batch, *a.shape[2:]), out)

    return run


def input_samples(config: ml_collections.ConfigDict, view_samples: int) -> int:
    """Samples of audio a view needs before the chain so that it is still real audio after the fastest
    stretch the config can draw: `view_samples x max_rate` (the view's own length when nothing speeds up)."""
    stretch = config.time_stretch
    fastest = float(stretch.max_rate) if stretch.p > 0 else 1.0
    return int(math.ceil(view_samples * max(fastest, 1.0) - 1e-9))


def make_chain(
    config: ml_collections.ConfigDict,
    view_samples: int | None = None,
    *,
    cut: bool = True,
    mesh: jax.sharding.Mesh | None = None,
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """Builds the chain for a config. The result is pure and jit-able: chain(batch [B, T], key) -> [B, V],
    V = `view_samples` (T when not given): the first V samples of each stretched or shifted clip. With
    cut=False the views keep the input's T samples (a later stage cuts them: band-domain views, bands.py);
    the time shift is still a fraction of `view_samples`.

    With a `mesh` whose data axis splits the batch into whole strata (`shards_whole_strata`), each device
    augments its own shard (`jax.shard_map`): the same views as on one device, since every draw is made for
    the global batch first and each op works per example or per stratum. Left to the compiler (jit with a
    sharded batch), the strata's gathers made XLA all-gather the batch and run every op for the *global*
    batch on every device: N devices each did N times their share of the augmentation."""
    validate(config)
    c = ml_collections.ConfigDict(config.to_dict())  # frozen copy: later edits to `config` do not leak in
    sr = int(c.sample_rate)
    max_pitch_factor = float(2 ** (max(c.pitch_shift.max_semitones, 0.0) / 12))
    phase = vocoder_form(c.vocoder_phase, jax.default_backend())
    ir_bank = load_ir_bank(c.reverb.ir_dir, sr) if c.reverb.ir_dir else None
    ir_length = int(np.ceil((c.reverb.max_rt60 + c.reverb.max_pre_delay_ms / 1000.0) * sr))

    def compress(y, p):
        # The threshold follows the clip's peak, so a quiet clip is compressed as much as a loud one.
        peak_db = 20.0 * jnp.log10(jnp.maximum(jnp.max(jnp.abs(y)), 1e-10))
        ratio = p["ratio"]
        makeup = -p["threshold_below_peak_db"] * (1.0 - 1.0 / ratio) if c.compression.makeup else 0.0
        threshold = peak_db + p["threshold_below_peak_db"]
        return ops.compress(y, threshold, ratio, p["attack"], p["release"], makeup, sr)

    def reverb(y, p):
        if ir_bank is None:
            ir = ops.synthetic_ir(jax.random.split(p["keys"])[0], ir_length, p["rt60"], p["pre_delay"], sr)
        else:
            ir = jnp.asarray(ir_bank)[p["ir_index"]]
        return ops.reverb(y, ir, p["wet"])

    def noise(y, p):
        key_noise = jax.random.split(p["keys"])[1]
        return ops.add_noise(y, ops.colored_noise(key_noise, y.shape[0], p["noise_decay"]), p["snr_db"])

    def cheap(y, p):
        return ops.polarity(ops.gain(y, p["gain_db"]), p["invert"])

    def crush(y, p):
        # Triangular (TPDF) dither in quantisation steps, from a key folded in (not split off the reverb's
        # and noise's keys, which stay what they were before the op existed).
        tpdf = jax.random.uniform(jax.random.fold_in(p["keys"], 1), (2, y.shape[0])).sum(0) - 1.0
        return jnp.where(p["crush_on"], ops.bit_crush(y, p["bits"], tpdf if c.bit_crush.dither else None), y)

    def chain(batch: jax.Array, key: jax.Array) -> jax.Array:
        b = batch.shape[0]
        length = batch.shape[1] if view_samples is None else int(view_samples)
        if batch.shape[1] < length:
            raise ValueError(f"the chain cuts views of {length} samples from clips of {batch.shape[1]}; crop longer")
        # Drawn for the global batch, so a device count changes no draw; then sizes of each stratum's subset.
        p = sample_parameters(c, key, b, 0 if ir_bank is None else ir_bank.shape[0])
        size = {op: subset_size(probability(c, op), b) for op in SUBSET_OPS}
        augment = in_passes(functools.partial(apply, length=length, size=size), clips_a_pass(c, b, mesh))
        if mesh is None or not shards_whole_strata(b, mesh):
            return augment(batch, p)
        spec = jax.sharding.PartitionSpec(DATA_AXIS)
        return jax.shard_map(augment, mesh=mesh, in_specs=(spec, spec), out_specs=spec)(batch, p)

    def apply(batch: jax.Array, p: dict, length: int, size: dict) -> jax.Array:
        """The ops on a batch (or one device's shard of it) and its examples' draws."""
        out_length = length if cut else batch.shape[1]

        # The costly ops run on a fixed-size subset of each stratum; one whose probability is 0 has size 0 and
        # is left out of the program (its parameters are still drawn, so a seed's other draws do not move).
        # The cheap per-sample ones (shift, gain, polarity, bit crush) run on every example.
        def subset(y, op, fn, cut=None):
            return on_subset(y, p, op, size[op], fn, cut)

        def stretch(x, q):
            return ops.stretch_and_shift(x, q["rate"], q["semitones"], max_pitch_factor, out_length, phase)

        # The shift is a fraction of the view, not of the (longer) input: the same shift either way.
        y = jax.vmap(ops.time_shift)(batch, jnp.round(p["time_shift"] * length).astype(jnp.int32))
        y = subset(y, "vocoder", stretch, cut=out_length)
        y = subset(y, "eq", lambda x, q: ops.parametric_eq(x, q["eq_centres"], q["eq_gains_db"], q["eq_qs"], sr))
        y = subset(y, "reverb", reverb)
        y = subset(y, "compression", compress)
        y = jax.vmap(cheap)(y, p)
        y = subset(y, "clipping", lambda x, q: ops.clip(x, q["clip_percent"], q["clip_soft"]))
        y = subset(y, "lowpass", lambda x, q: ops.lowpass(x, q["cutoff_hz"], int(c.lowpass.order), sr))
        if float(c.bit_crush.p) > 0:
            y = jax.vmap(crush)(y, p)
        return subset(y, "noise", noise)

    return chain
