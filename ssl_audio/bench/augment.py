"""`ssl-audio bench augment`: the JAX chain against audiomentations and pedalboard on the same clips.

Clips are real music from the embedded generator. Both paths run every op at
p=1. audiomentations runs in as many worker processes as there are cores (what
a data loader would do), so the ratio compares the two paths on the same
hardware; its single-process rate is printed too. The full chains take turns
for --rounds rounds and each keeps its fastest, as `bench step` times steps. The last line is the figure:
`augment jax_clips_per_s=... audiomentations_clips_per_s=... ratio=...`, then
pedalboard's rate and the ratio to it (the same chain in Spotify's compiled library, the fastest CPU
path a user would pick), run the same way.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ssl_audio.bench.timing import add_timing_arguments, check_timing_arguments, fastest
from ssl_audio.commands.flags import positive_int
from ssl_audio.errors import BadValueError
from ssl_audio.parallel import default_workers


def music_clips(batch: int, seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    from ssl_audio.synth.compose import compose, plan_clip
    from ssl_audio.synth.personas import make_personas
    from ssl_audio.synth.render import render

    personas = make_personas(seed, 2)
    clips = []
    for i in range(batch):
        plan = plan_clip(i, seed, personas, seconds)
        midi, _ = compose(plan)
        clips.append(render(midi, seconds, sample_rate, plan.arousal))
    return np.stack(clips)


def jax_op_timings(
    clips: np.ndarray, config, repeats: int, rounds: int = 1, per_pass: int | None = None
) -> dict[str, float]:
    """Seconds per batch for each op alone (vmapped, jitted, over `per_pass` clips at a time), with mid-range
    parameters; the ops take turns for `rounds` rounds and each keeps its fastest (ssl_audio.bench.timing.fastest)."""
    import jax
    import jax.numpy as jnp

    from ssl_audio.augment import ops
    from ssl_audio.augment.chain import in_passes

    per_pass = per_pass or len(clips)
    x = jnp.asarray(clips)
    t = x.shape[1]
    b = min(per_pass, x.shape[0])  # the parameters of one pass (every pass has the same)
    sr = config.sample_rate
    keys = jax.random.split(jax.random.key(0), b)
    ir_len = int(math.ceil((config.reverb.max_rt60 + config.reverb.max_pre_delay_ms / 1000) * sr))
    max_pf = float(2 ** (max(config.pitch_shift.max_semitones, 0.0) / 12))
    centres = jnp.asarray([[60.0, 140, 300, 650, 1400, 3000, 6400]] * b)
    gains = jnp.full((b, 7), 6.0)
    qs = jnp.full((b, 7), 0.9)
    fns = {
        "pitch_shift+time_stretch": lambda x: jax.vmap(lambda v: ops.stretch_and_shift(v, 1.1, 2.0, max_pf))(x),
        "eq": lambda x: jax.vmap(lambda v, c, g, q: ops.parametric_eq(v, c, g, q, sr))(x, centres, gains, qs),
        "reverb": lambda x: jax.vmap(lambda v, k: ops.reverb(v, ops.synthetic_ir(k, ir_len, 0.7, 0.01, sr), 0.4))(
            x, keys
        ),
        "noise": lambda x: jax.vmap(lambda v, k: ops.add_noise(v, ops.colored_noise(k, t, 3.0), 20.0))(x, keys),
        "gain+polarity+shift": lambda x: jax.vmap(lambda v: ops.polarity(ops.gain(ops.time_shift(v, 800), 3.0), True))(
            x
        ),
        "compression": lambda x: jax.vmap(lambda v: ops.compress(v, -20.0, 4.0, 0.01, 0.2, 6.0, sr))(x),
        "clipping": lambda x: jax.vmap(lambda v: ops.clip(v, 10.0, True))(x),
        "lowpass": lambda x: jax.vmap(lambda v: ops.lowpass(v, 4000.0, config.lowpass.order, sr))(x),
        "bit_crush": lambda x: jax.vmap(lambda v: ops.bit_crush(v, 8))(x),
    }
    turns = {name: {"run": lambda jitted=jax.jit(in_passes(fn, per_pass)): jitted(x)} for name, fn in fns.items()}
    return fastest(turns, repeats, rounds)


def vocoder_timings(clips: np.ndarray, repeats: int, rounds: int = 1, per_pass: int | None = None) -> dict[str, float]:
    """Seconds per batch of the phase vocoder alone, over `per_pass` clips at a time: the chain's scan over
    frames, and the parallel form (taking turns for `rounds` rounds, each keeping its fastest)."""
    import jax
    import jax.numpy as jnp

    from ssl_audio.augment import ops
    from ssl_audio.augment.chain import in_passes

    spec = jax.jit(jax.vmap(ops.stft))(jnp.asarray(clips))
    n_out = int(math.ceil(clips.shape[1] * 2 ** (4 / 12) / ops.HOP)) + 4
    factor = jnp.full((clips.shape[0],), 1.1)
    turns = {}
    for name, form in (("scan", "scan"), ("parallel", "cumulative")):  # augment.vocoder_phase's two forms
        vocoder = jax.vmap(lambda s, f, form=form: ops.phase_vocoder(s, f, n_out, form))
        jitted = jax.jit(in_passes(vocoder, per_pass or len(clips)))
        turns[name] = {"run": lambda jitted=jitted: jitted(spec, factor)}
    return fastest(turns, repeats, rounds)


def chain_ffts(config, batch: int, samples: int) -> list[tuple]:
    """Every FFT the chain for `config` computes on a batch [batch, samples], read off its jaxpr (so the list
    is the chain's own, never a second copy of its sizes): (input shape, dtype, fft_type, fft_lengths) once
    per transform, an FFT inside a scan once per step. The chain has no FFT inside any other loop."""
    import jax
    import jax.numpy as jnp
    from jax.extend.core import jaxprs_in_params

    from ssl_audio.augment.chain import make_chain

    found = []

    def walk(jaxpr, times: int) -> None:
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "fft":
                aval = eqn.invars[0].aval
                found.extend(
                    [(aval.shape, aval.dtype, eqn.params["fft_type"], tuple(eqn.params["fft_lengths"]))] * times
                )
            inner = times * (eqn.params["length"] if eqn.primitive.name == "scan" else 1)
            for sub in jaxprs_in_params(eqn.params):
                walk(sub, inner)

    walk(jax.make_jaxpr(make_chain(config))(jnp.zeros((batch, samples), jnp.float32), jax.random.key(0)).jaxpr, 1)
    return found


def fft_floor(ffts: list[tuple]):
    """A callable that computes the chain's FFTs (`chain_ffts`'s list) and nothing else, each on its own input of
    the chain's shapes: what the chain cannot go below on this backend at its present transform sizes, however
    cheap its other work becomes (the FFT library XLA calls is the one cost no rewrite of an op's elementwise
    arithmetic removes)."""
    import jax

    rng = np.random.default_rng(0)
    inputs = []
    for shape, dtype, _, _ in ffts:
        values = rng.standard_normal(shape, dtype=np.float32)
        if np.issubdtype(dtype, np.complexfloating):
            values = values + 1j * rng.standard_normal(shape, dtype=np.float32)
        inputs.append(jax.numpy.asarray(values, dtype))
    # Arguments, not constants (XLA would fold a constant's FFT away), and every output returned (none is dead).
    transforms = jax.jit(lambda *xs: [jax.lax.fft(x, t, n) for x, (_, _, t, n) in zip(xs, ffts)])
    return lambda: transforms(*inputs)


_CHAIN = None  # this worker process's CPU chain: (clip, sample rate) -> clip


def _make_chain(library: str, config_dict: dict):
    """The CPU reference chain `library` ("audiomentations" or "pedalboard"): chain(clip, sample_rate)."""
    import ml_collections

    config = ml_collections.ConfigDict(config_dict)
    if library == "pedalboard":
        return PedalboardChain(config)
    from ssl_audio.augment.reference import build_compose

    compose = build_compose(config)
    return lambda clip, sample_rate: compose(samples=clip, sample_rate=sample_rate)


def _init_chain(library: str, config_dict: dict) -> None:
    """Builds the chain in a worker process, for `_augment_one`."""
    global _CHAIN
    _CHAIN = _make_chain(library, config_dict)


def _augment_one(args: tuple[np.ndarray, int]) -> np.ndarray:
    clip, sample_rate = args
    return _CHAIN(clip, sample_rate)


# --------------------------------------------------------------------------- pedalboard, the second reference


class PedalboardChain:
    """The same chain with Spotify's pedalboard (compiled C++: Rubber Band for stretch and pitch in one call,
    JUCE's filters, compressor and convolution), parameters drawn per clip from the config's ranges, each
    op applied with its probability (all of them at the benchmark's default p=1). What has no pedalboard op
    is numpy, as audiomentations does it: the time shift and the coloured noise. Its low-pass is JUCE's
    first-order filter (6 dB/octave, not the config's order), its clipping is hard. A speed reference only:
    its ops are not parity-tested."""

    def __init__(self, config, seed: int = 0):
        import pedalboard as pb
        import soundfile as sf

        from ssl_audio.augment.reference import ir_folder

        self.pb, self.c, self.rng = pb, config, np.random.default_rng(seed)
        folder = ir_folder(config)
        self.irs = [sf.read(os.path.join(folder, f), dtype="float32")[0] for f in sorted(os.listdir(folder))]

    def __call__(self, clip: np.ndarray, sample_rate: int) -> np.ndarray:
        from ssl_audio.augment.chain import hz_to_mel, mel_to_hz
        from ssl_audio.augment.config import NOISE_DECAY_DB
        from ssl_audio.augment.ops import EQ_BANDS

        pb, c, rng, n = self.pb, self.c, self.rng, clip.shape[0]
        on = lambda name: rng.uniform() < float(c[name].p)  # noqa: E731  (each op's coin, as the chain's)
        y = clip
        if on("time_shift"):
            shift = int(round(rng.uniform(-c.time_shift.max_fraction, c.time_shift.max_fraction) * n))
            y = np.zeros_like(clip)
            if shift >= 0:
                y[shift:] = clip[: n - shift]
            else:
                y[:shift] = clip[-shift:]
        stretch, pitch = on("time_stretch"), on("pitch_shift")
        if stretch or pitch:
            y = pb.time_stretch(
                y,
                sample_rate,
                stretch_factor=rng.uniform(c.time_stretch.min_rate, c.time_stretch.max_rate) if stretch else 1.0,
                pitch_shift_in_semitones=(
                    rng.uniform(c.pitch_shift.min_semitones, c.pitch_shift.max_semitones) if pitch else 0.0
                ),
            )[0][:n]
            y = np.pad(y, (0, n - y.shape[0]))
        plugins = []
        if on("eq"):
            for kind, lo, hi, q_lo, q_hi in EQ_BANDS:
                centre = float(mel_to_hz(rng.uniform(hz_to_mel(lo), hz_to_mel(hi))))
                gain, q = rng.uniform(c.eq.min_gain_db, c.eq.max_gain_db), rng.uniform(q_lo, q_hi)
                cls = {"low_shelf": pb.LowShelfFilter, "peak": pb.PeakFilter, "high_shelf": pb.HighShelfFilter}[kind]
                plugins.append(cls(cutoff_frequency_hz=centre, gain_db=gain, q=q))
        if on("reverb"):
            ir = self.irs[rng.integers(len(self.irs))]
            mix = rng.uniform(c.reverb.min_wet, c.reverb.max_wet)
            plugins.append(pb.Convolution(ir, mix=mix, sample_rate=sample_rate))
        k = c.compression
        if on("compression"):
            peak_db = 20 * np.log10(np.max(np.abs(y)) + 1e-10)
            plugins.append(
                pb.Compressor(
                    threshold_db=float(peak_db + rng.uniform(k.min_threshold_db, k.max_threshold_db)),
                    ratio=float(np.exp(rng.uniform(np.log(k.min_ratio), np.log(k.max_ratio)))),
                    attack_ms=1000 * rng.uniform(k.min_attack, k.max_attack),
                    release_ms=1000 * rng.uniform(k.min_release, k.max_release),
                )
            )
        if on("gain"):
            plugins.append(pb.Gain(gain_db=rng.uniform(c.gain.min_gain_db, c.gain.max_gain_db)))
        if on("polarity"):
            plugins.append(pb.Invert())
        if on("clipping"):
            plugins.append(pb.Clipping(threshold_db=-3.0))
        if on("lowpass"):
            cutoff = rng.uniform(c.lowpass.min_cutoff_hz, c.lowpass.max_cutoff_hz)
            plugins.append(pb.LowpassFilter(cutoff_frequency_hz=cutoff))
        if on("bit_crush"):
            plugins.append(pb.Bitcrush(bit_depth=float(rng.integers(c.bit_crush.min_bits, c.bit_crush.max_bits + 1))))
        board = pb.Pedalboard(plugins)
        y = board(y[None, :], sample_rate)[0] if plugins else y
        if not on("noise"):
            return y.astype(np.float32)
        # Coloured noise as audiomentations' AddColorNoise makes it: white noise shaped by one rFFT pair.
        lo, hi = NOISE_DECAY_DB[c.noise.color]
        spectrum = np.fft.rfft(rng.standard_normal(n))
        freqs = np.maximum(np.fft.rfftfreq(n), 1.0 / n)
        noise = np.fft.irfft(spectrum * freqs ** (-rng.uniform(lo, hi) / (20 * np.log10(2.0))), n)
        snr = rng.uniform(c.noise.min_snr_db, c.noise.max_snr_db)
        scale = np.sqrt(np.mean(y**2) / (np.mean(noise**2) * 10 ** (snr / 10) + 1e-20))
        return (y + scale * noise).astype(np.float32)


def _pedalboard_available() -> bool:
    try:
        import pedalboard  # noqa: F401
    except ImportError:
        return False
    return True


class CpuChain:
    """A CPU reference chain ("audiomentations" or "pedalboard") over `clips`: its rate in this process, and
    a pool of `workers` processes (what a data loader would run), kept open so that its passes can take
    turns with the JAX chain's (`run`) and worker start-up is never timed."""

    def __init__(self, library: str, config, clips: np.ndarray, workers: int):
        self.initargs = (library, config.to_dict())
        self.items = [(c, config.sample_rate) for c in clips]
        self.workers = workers
        self.pool = None
        self.here = _make_chain(*self.initargs)  # the chain in this process

    def _pass_here(self) -> list:
        return [self.here(*item) for item in self.items]

    def single_rate(self) -> float:
        """Clips/s in this process: one pass after a warm-up pass."""
        return len(self.items) / fastest({"here": {"run": self._pass_here}}, 1, 1)["here"]

    def __enter__(self) -> CpuChain:
        if self.workers > 1:
            # An executor, not multiprocessing.Pool (a worker that dies makes a Pool wait forever; see
            # parallel.py).
            self.pool = ProcessPoolExecutor(
                self.workers, mp_context=mp.get_context("spawn"), initializer=_init_chain, initargs=self.initargs
            )
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def one_pass(self) -> list:
        if self.pool is None:
            return self._pass_here()
        return list(self.pool.map(_augment_one, self.items, chunksize=4))


def audiomentations_op_timings(compose, clips: np.ndarray, config) -> dict[str, float]:
    """Seconds per clip for each transform of `compose` alone, in this process (one per op, in OPS order)."""
    from ssl_audio.augment.config import OPS

    names = list(OPS)
    out = {}
    for name, transform in zip(names, compose.transforms):
        transform(samples=clips[0], sample_rate=config.sample_rate)
        start = time.perf_counter()
        for clip in clips:
            transform(samples=clip, sample_rate=config.sample_rate)
        out[name] = (time.perf_counter() - start) / len(clips)
    return out


def run(
    batch: int = 64,
    seconds: float = 3.0,
    repeats: int = 3,
    workers: int | None = None,
    training_p: bool = False,
    rounds: int = 3,
    devices: int = 1,
) -> Iterator[str]:
    """The report's lines, each as soon as its figure is measured: a run stopped by a time limit (a lent
    GPU machine's minutes) keeps what it measured."""
    import jax
    import ml_collections

    from ssl_audio.augment.chain import clips_a_pass, make_chain, shards_whole_strata, stratum_size
    from ssl_audio.augment.config import all_ops, default_config
    from ssl_audio.augment.reference import build_compose
    from ssl_audio.distributed import batch_sharding, make_mesh, replicated

    if devices > len(jax.devices()):
        raise BadValueError(f"--devices {devices}: only {len(jax.devices())} device(s) here")
    mesh = make_mesh(jax.devices()[:devices])
    if devices > 1 and not shards_whole_strata(batch, mesh):
        raise BadValueError(
            f"--devices {devices} with --batch {batch}: each device needs whole strata of {stratum_size(batch)} "
            f"clips; give --batch a multiple of {16 * devices}"
        )

    # Every op at p=1 measures each op's full cost; the training chain's own probabilities measure what a
    # step pays, where the CPU libraries skip an op whose coin says no and the JAX chain computes the costly
    # ops for their share of each stratum only (chain.py).
    config = default_config() if training_p else all_ops(default_config())
    sr = config.sample_rate
    workers = workers or default_workers()
    clips = music_clips(batch, seconds, sr)
    which = "the training chain's probabilities" if training_p else "every op at p=1"
    per_pass = clips_a_pass(config, batch, mesh)
    yield (
        f"bench augment: {batch} music clips of {seconds:g} s at {sr} Hz, {which}; "
        f"JAX on {jax.devices()[0].platform} ({devices} device(s){', each augmenting its shard' * (devices > 1)}, "
        f"{per_pass} clips a pass: augment.clips_per_pass={config.clips_per_pass}); audiomentations in "
        f"{workers} process(es)"
    )

    # As the training step runs it: the batch sharded over the devices, each augmenting its own shard (on a
    # CPU, --devices N simulates N devices: XLA runs some of the chain's work on one thread a device), in
    # passes of augment.clips_per_pass clips.
    def sharded_chain(config):
        return jax.jit(
            make_chain(config, mesh=mesh),
            in_shardings=(batch_sharding(mesh), replicated(mesh)),
            out_shardings=batch_sharding(mesh),
        )

    chain = sharded_chain(config)
    x = jax.device_put(clips, batch_sharding(mesh))
    ffts = chain_ffts(config, *clips.shape)
    counter = iter(range(10**9))

    # The CPU libraries' rates per clip do not depend on the batch; a GPU's large batch would only make
    # their timing long (pedalboard at 5 clips/s in one process: 50 s for 256 clips).
    reference_clips = clips[: max(64, 8 * workers)]
    libraries = ["audiomentations"] + (["pedalboard"] if _pedalboard_available() else [])
    cpu = {name: CpuChain(name, config, reference_clips, workers) for name in libraries}
    single = {name: chain_.single_rate() for name, chain_ in cpu.items()}
    # The JAX chain and the libraries' pools take turns, `rounds` times, each keeping its fastest round
    # (as `bench step` does): on a 2-core host, one pass of each, one after the other, put the ratio
    # anywhere from 1.4 to 2.0 on the same code within the hour (a 2-core AMD EPYC, 2026-12-04).
    with contextlib.ExitStack() as stack:
        for chain_ in cpu.values():
            stack.enter_context(chain_)
        turns = {
            "jax": {"run": lambda: chain(x, jax.random.key(next(counter)))},
            "ffts": {"run": fft_floor(ffts)},
        }
        if per_pass < batch // devices:  # the same chain on each device's whole shard at once, in turns with the rest
            whole = ml_collections.ConfigDict(config.to_dict())
            whole.clips_per_pass = "all"
            turns["whole_batch"] = {"run": lambda whole=sharded_chain(whole): whole(x, jax.random.key(next(counter)))}
        if devices > 1:  # the same chain on one device, in turns with the rest: the ratio machine drift cannot fake
            one = jax.jit(make_chain(config))
            x1 = jax.device_put(clips, jax.devices()[0])
            turns["one_device"] = {"run": lambda: one(x1, jax.random.key(next(counter)))}
        turns.update({name: {"run": chain_.one_pass} for name, chain_ in cpu.items()})
        seconds = fastest(turns, 1, rounds)
    jax_rate = batch / seconds["jax"]
    rates = {name: len(reference_clips) / seconds[name] for name in cpu}
    yield f"full chain, JAX: {jax_rate:.1f} clips/s ({1000 / jax_rate:.2f} ms/clip)"
    if "whole_batch" in seconds:
        yield (
            f"the same chain on each device's {batch // devices} clips at once: {batch / seconds['whole_batch']:.1f} "
            f"clips/s; in passes of {per_pass}: {seconds['whole_batch'] / seconds['jax']:.2f}x as fast"
        )
    if devices > 1:
        yield (
            f"the same chain on 1 device: {batch / seconds['one_device']:.1f} clips/s; on {devices}: "
            f"{seconds['one_device'] / seconds['jax']:.2f}x as fast"
        )
    yield (
        f"the chain's {len(ffts)} FFTs alone, JAX: {1000 * seconds['ffts'] / batch:.2f} "
        f"ms/clip, {100 * seconds['ffts'] / seconds['jax']:.0f}% of the chain"
    )
    for name in cpu:
        yield f"full chain, {name}: {single[name]:.1f} clips/s in 1 process, {rates[name]:.1f} clips/s in {workers}"
    if "pedalboard" not in cpu:
        yield "pedalboard: not installed (pip install 'ssl_audio[bench]'); its figures are left out"
    am_rate, pedalboard = rates["audiomentations"], rates.get("pedalboard")

    yield "per op, JAX (ms per clip, batched):           " + ", ".join(
        f"{k} {1000 * v / batch:.2f}" for k, v in jax_op_timings(clips, config, repeats, rounds, per_pass).items()
    )
    per_op = audiomentations_op_timings(build_compose(config), clips[:16], config)
    yield "per op, audiomentations (ms per clip, 1 core): " + ", ".join(
        f"{k} {1000 * v:.2f}" for k, v in per_op.items()
    )
    vocoder = vocoder_timings(clips, repeats, rounds, per_pass)
    yield (
        f"phase vocoder alone (ms per clip, batched): scan over frames {1000 * vocoder['scan'] / batch:.2f}, "
        f"parallel over frames {1000 * vocoder['parallel'] / batch:.2f}"
    )
    tail = (
        f" pedalboard_clips_per_s={pedalboard:.1f} pedalboard_ratio={jax_rate / pedalboard:.2f}" if pedalboard else ""
    )
    yield (
        f"augment jax_clips_per_s={jax_rate:.1f} audiomentations_clips_per_s={am_rate:.1f} "
        f"ratio={jax_rate / am_rate:.2f}" + tail
    )


# ------------------------------------------------------------------------------------------ the command

HELP = "the JAX augmentation chain against audiomentations and pedalboard on the same music clips"
DESCRIPTION = (
    "Every op at p=1 (with --training-p: the default chain's probabilities) on the same music clips; "
    "prints per-op timings and, last, "
    "`augment jax_clips_per_s=... audiomentations_clips_per_s=... ratio=... pedalboard_clips_per_s=... "
    "pedalboard_ratio=...` (the pedalboard fields when it is installed: the bench extra)."
)


def add_arguments(p) -> None:
    p.add_argument("--batch", type=int, default=64, help="clips per batch (default 64)")
    p.add_argument("--seconds", type=float, default=3.0, help="clip length (default 3)")
    p.add_argument(
        "--workers", type=positive_int, default=None, help="processes for audiomentations (default: all cores)"
    )
    p.add_argument(
        "--training-p",
        action="store_true",
        help="each op with the default chain's probability (what a pretraining step pays), not every op at p=1",
    )
    p.add_argument(
        "--devices",
        type=int,
        default=1,
        help="devices the JAX chain shards the batch over, each augmenting its own (default 1; on a CPU, N "
        "simulated devices: 2 on 2 cores ran it 1.3x as fast as 1)",
    )
    add_timing_arguments(p, calls="timed calls of each JAX op", turns="the chains, and the JAX ops,")


def main(args) -> int:
    check_timing_arguments(args)
    for line in run(
        batch=args.batch,
        seconds=args.seconds,
        repeats=args.repeats,
        workers=args.workers,
        training_p=args.training_p,
        rounds=args.rounds,
        devices=args.devices,
    ):
        print(line, flush=True)
    return 0
