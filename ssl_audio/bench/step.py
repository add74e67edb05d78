"""`ssl-audio bench step`: speed of the full training step (augmentation included) on this machine.

Runs the jitted step on a synthetic global batch (tones + noise: the step's cost does not depend on the
audio), after compiling it, and reports steps/s, clips/s, achieved TFLOP/s and MFU. FLOPs come from XLA's
cost analysis of the lowered (global, not yet partitioned) step; the peak from the device kind (dense bf16,
or TF32 when computing in float32) or --peak-tflops. Also runs the same step without augmentation on the
same batch, in the same process: the difference is the augmentation's share of the step.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from ssl_audio.augment.views import crop_samples
from ssl_audio.bench.timing import add_timing_arguments, check_timing_arguments, fastest, timed
from ssl_audio.distributed import check_batch_divides, global_batch, make_mesh
from ssl_audio.errors import BadValueError
from ssl_audio_pretrain.config import load_config
from ssl_audio_pretrain.optimizer import make_optimizer
from ssl_audio_pretrain.state import create_state, model_graphdef
from ssl_audio_pretrain.step import jit_train_step, make_train_step

# Dense peak TFLOP/s per device: (bf16, tf32). Substrings of jax's device_kind.
PEAK_TFLOPS = {
    "H200": (989.0, 494.7),
    "H100": (989.0, 494.7),
    "A100": (312.0, 156.0),
    "L40S": (362.0, 183.0),
    "L4": (121.0, 60.0),
    "A10": (125.0, 62.5),
    "V100": (125.0, 15.7),
    "TPU v6": (918.0, 918.0),
    "TPU v5p": (459.0, 459.0),
    "TPU v5": (197.0, 197.0),
    "TPU v4": (275.0, 275.0),
}


def peak_tflops(device_kind: str, compute_dtype: str) -> float | None:
    for name, (bf16, tf32) in PEAK_TFLOPS.items():
        if name.lower() in device_kind.lower():
            return bf16 if compute_dtype == "bfloat16" else tf32
    return None


def _flops(analysis) -> float | None:
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0] if analysis else None
    return float(analysis["flops"]) if analysis and analysis.get("flops") else None


def step_flops(lowered) -> float | None:
    """FLOPs of one step of the whole (global, not yet partitioned) program: what MFU counts as useful work.
    The compiled per-device programs would count replicated work, such as the optimizer update, N times, and
    on a GPU they count none of the vendor convolutions (an H200 under jax 0.11 reported 72.7 GFLOP for a
    4.7-TFLOP step). Backends behind PJRT's C API (GPU plugins) do not analyse a lowered program, so there
    XLA's CPU cost model reads the same HLO module; None when neither can."""
    try:
        flops = _flops(lowered.cost_analysis())
    except NotImplementedError:
        flops = None
    if flops is not None:
        return flops
    try:
        from jax._src.lib import _jax  # no public API analyses a module on another backend

        module = lowered.compiler_ir("hlo").as_hlo_module()
        return _flops(_jax.hlo_module_cost_analysis(jax.devices("cpu")[0].client, module))
    except Exception:  # a private API: if it moves, MFU is reported unknown rather than wrong
        return None


def synthetic_batch(config, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, t = config.batch_size // jax.process_count(), crop_samples(config)  # what the loader hands the step
    time_s = np.arange(t) / config.sample_rate
    tones = np.sin(2 * np.pi * rng.uniform(80, 2000, (n, 1)) * time_s) * rng.uniform(0.05, 0.5, (n, 1))
    return {v: (tones + 0.01 * rng.standard_normal((n, t))).astype(np.float32) for v in ("view_a", "view_b")}


def _without_augmentation(config):
    """The same step taking the views as they come: the difference to it is what augmenting costs."""
    plain = config.copy_and_resolve_references()
    plain.augment.backend = "audiomentations"  # the step does not augment; the loader would have
    return plain


def compile_step(config, mesh, batch) -> dict:
    """The jitted step compiled for `batch`, as a callable that runs one step on its own state."""
    tx = make_optimizer(config)
    state, shardings = create_state(config, tx, mesh)
    step = jit_train_step(make_train_step(config, model_graphdef(config), tx, mesh), shardings, mesh)
    began = time.perf_counter()
    lowered = step.lower(state, batch)
    compiled = lowered.compile()
    compile_s = time.perf_counter() - began
    holder = {"state": state}

    def one_step():
        holder["state"], metrics = compiled(holder["state"], batch)
        return metrics

    return {
        "run": one_step,
        "flops": step_flops(lowered),
        "compile_s": compile_s,
        "compiled": compiled,
        "holder": holder,
    }


def compile_targets(config, mesh, batch, state) -> dict:
    """BEST-RQ's targets of `batch` alone (log-mel and chroma front ends, normalisation, projection, nearest
    code), jitted as the step computes them: what masked prediction adds to an encoder's step."""
    from flax import nnx

    from ssl_audio.augment.views import view_samples
    from ssl_audio.objectives.best_rq import codes_of, examples

    graphdef, samples = model_graphdef(config), view_samples(config)
    state = jax.tree.map(jax.numpy.copy, state)  # its own copy: the step donates the state it is given

    @jax.jit
    def targets(state, batch):
        encoder = nnx.merge(graphdef, state["params"], state["batch_stats"]).encoder
        return codes_of(encoder, state["quantizer"], examples(batch, samples))[0]

    began = time.perf_counter()
    compiled = targets.lower(state, batch).compile()
    compile_s = time.perf_counter() - began
    return {"run": lambda: compiled(state, batch), "flops": None, "compile_s": compile_s}


def run(
    spec: str,
    overrides: list[str],
    *,
    devices: int | None,
    steps: int,
    peak: float | None,
    versus: list[str] = (),
    rounds: int = 3,
    end_to_end: int = 0,
) -> dict:
    config = load_config(spec, overrides)
    available = jax.devices()
    n = devices or len(available)
    if n > len(available):
        raise BadValueError(f"--devices {n}: only {len(available)} device(s) here ({available[0].device_kind})")
    mesh = make_mesh(available[:n])
    check_batch_divides(config.batch_size, mesh)
    batch = global_batch(synthetic_batch(config, np.random.default_rng(0)), mesh)
    compiled = {"step": compile_step(config, mesh, batch)}
    if config.objective == "best_rq":  # the targets alone (front end and quantizer): their share of the step
        compiled["targets"] = compile_targets(config, mesh, batch, compiled["step"]["holder"]["state"])
    # The same step without augmentation, in the same process: what augmenting costs is the difference.
    if config.augment.backend == "jax" and (config.objective != "best_rq" or config.best_rq.augment):
        compiled["plain"] = compile_step(_without_augmentation(config), mesh, batch)
    # The same step with other settings (--versus), in this process: a speed ratio that machine drift
    # between two commands cannot fake (2-core hosts differed 1.5x within an hour).
    if versus:
        other_config = load_config(spec, [*overrides, *(f"--config.{v}" for v in versus)])
        other_batch = global_batch(synthetic_batch(other_config, np.random.default_rng(0)), mesh)
        compiled["versus"] = compile_step(other_config, mesh, other_batch)
        # Its own augmentation share: settings of the chain alone leave the plain step as it is, so that
        # one serves; anything else (a model, a batch size) needs the other plain step.
        chain_only = "plain" in compiled and all(v.startswith("augment.") for v in versus)
        if other_config.augment.backend == "jax" and not chain_only:
            compiled["versus_plain"] = compile_step(_without_augmentation(other_config), mesh, other_batch)
    seconds = fastest(compiled, steps, rounds)
    turn_step_s = loop_s = None
    if end_to_end:  # the training loop on the config's dataset, taking turns with the same step on one batch
        turn_step_s, loop_s = _end_to_end(config, mesh, compiled["step"], end_to_end, rounds)
    step_s, flops, compile_s = seconds["step"], compiled["step"]["flops"], compiled["step"]["compile_s"]
    augment_s = max(step_s - seconds.get("plain", step_s), 0.0)
    other = None
    if versus:
        other_s = seconds["versus"]
        other_plain_s = (
            other_s if other_config.augment.backend != "jax" else seconds.get("versus_plain", seconds.get("plain"))
        )
        other = {"settings": list(versus), "step_s": other_s, "augment_s": max(other_s - other_plain_s, 0.0)}

    kind = available[0].device_kind
    peak = peak or peak_tflops(kind, config.compute_dtype)
    achieved = flops / step_s / 1e12 if flops else None
    return {
        "config": spec,
        "device": kind,
        "devices": n,
        "batch_size": config.batch_size,
        "compute_dtype": config.compute_dtype,
        "compile_s": compile_s,
        "step_s": step_s,
        "steps_per_s": 1 / step_s,
        "clips_per_s": config.batch_size / step_s,
        "gflop_per_step": flops / 1e9 if flops else None,
        "tflops_per_s": achieved,
        "peak_tflops": peak,
        "mfu": (achieved / (peak * n)) if peak and achieved else None,
        "augment_s": augment_s,
        "augment_share": augment_s / step_s,
        "augmented": "plain" in compiled or config.augment.backend != "jax",
        "targets_s": seconds.get("targets"),
        "targets_share": seconds["targets"] / step_s if "targets" in seconds else None,
        "versus": other,
        "end_to_end": (
            {"steps": end_to_end, "step_s": loop_s, "alone_s": turn_step_s, "ratio": turn_step_s / loop_s}
            if loop_s
            else None
        ),
    }


def _end_to_end(config, mesh, step: dict, steps: int, rounds: int) -> tuple[float, float]:
    """Seconds per step of the synthetic batch and of `pretrain`'s own loop (pretrain/loop.py: the config's
    loader, global batches, the same compiled step, the NaN guard, logging, and the checkpoint each run of
    the loop ends with), `steps` steps each, taking turns for `rounds` rounds; each keeps its fastest."""
    import tempfile
    from pathlib import Path

    from ssl_audio.data.pipeline import open_dataset
    from ssl_audio_pretrain.checkpointing import Checkpoints
    from ssl_audio_pretrain.loop import Loop, run_loop
    from ssl_audio_pretrain.metrics_log import MetricsLog
    from ssl_audio_pretrain.train import config_loader, logged_means

    if config.augment.backend != "jax":
        raise BadValueError("--end-to-end: times the on-device augmentation path (config.augment.backend=jax)")
    handle = open_dataset(
        config.dataset, config.data_dir, sample_rate=config.sample_rate, data_dir_flag="--config.data_dir"
    )
    data, done = iter(config_loader(config, handle)), 0
    holder = step["holder"]

    def loop_round() -> float:
        nonlocal done
        loop = Loop(
            total_steps=done + steps,
            log_every_steps=config.log_every_steps,
            checkpoint_every_steps=config.checkpoint_every_steps,
            batch_size=config.batch_size,
            summarise=logged_means,
        )
        with tempfile.TemporaryDirectory() as tmp:
            log = MetricsLog(Path(tmp), start_step=done, total_steps=done + steps, progress=False, name="bench")
            began = time.perf_counter()
            end = run_loop(
                loop,
                holder["state"],
                step["compiled"],
                data,
                mesh,
                start=done,
                checkpoints=Checkpoints(Path(tmp), 1),
                log=log,
                name="bench",
            )
            seconds = time.perf_counter() - began
        holder["state"], done = end.state, done + steps
        return seconds / steps

    loop_round()  # warm-up: the loader's first reads
    best_step, best_loop = float("inf"), float("inf")
    for _ in range(rounds):
        best_step = min(best_step, timed(step["run"], steps))
        best_loop = min(best_loop, loop_round())
    return best_step, best_loop


def report(r: dict) -> list[str]:
    mfu = f"{r['mfu']:.3f}" if r["mfu"] is not None else "n/a"
    gflop = f"{r['gflop_per_step']:.1f} GFLOP" if r["gflop_per_step"] else "FLOPs not counted on this backend"
    tflops = f"{r['tflops_per_s']:.4f}" if r["tflops_per_s"] else "n/a"
    peak = (
        f"{r['peak_tflops']:g} TFLOP/s per device ({r['compute_dtype']})"
        if r["peak_tflops"]
        else "unknown for this device; give --peak-tflops"
    )
    versus = []
    if r.get("versus"):
        v = r["versus"]
        versus = [
            f"  versus {' '.join(v['settings'])}: step {v['step_s'] * 1e3:.1f} ms; this step is "
            f"{v['step_s'] / r['step_s']:.2f}x as fast (same process, same synthetic audio); augmenting "
            f"there: {v['augment_s'] * 1e3:.1f} ms = {100 * v['augment_s'] / v['step_s']:.1f}% of its step"
        ]
    targets, share = [], ""
    if r.get("targets_s") is not None:  # best_rq
        targets = [
            f"  masked prediction's targets (log-mel and chroma front ends, random projections, nearest codes) "
            f"alone: {r['targets_s'] * 1e3:.1f} ms = {100 * r['targets_share']:.1f}% of the step"
        ]
        share = f" targets_share={r['targets_share']:.3f}"
    end_to_end, ratio = [], ""
    if r.get("end_to_end"):
        e = r["end_to_end"]
        end_to_end = [
            f"  end to end (pretrain's loop on the config's dataset: loader, step, logging, a checkpoint every "
            f"{e['steps']} steps): {e['step_s'] * 1e3:.1f} ms a step = {e['ratio']:.2f} of the step alone "
            f"({e['alone_s'] * 1e3:.1f} ms in the same turns)"
        ]
        ratio = f" end_to_end_ratio={e['ratio']:.3f}"
    return [
        f"bench step: {r['config']} on {r['devices']} x {r['device']}, global batch {r['batch_size']}, "
        f"compute {r['compute_dtype']}",
        f"  compile {r['compile_s']:.1f} s; step {r['step_s'] * 1e3:.1f} ms = {gflop}; peak {peak}",
        (
            f"  augmenting both views: {r['augment_s'] * 1e3:.1f} ms = {100 * r['augment_share']:.1f}% of the step "
            f"(against the same step without augmentation, run here)"
            if r.get("augmented", True)
            else "  no augmentation in this step (best_rq.augment is off)"
        ),
        *targets,
        *versus,
        *end_to_end,
        f"step steps_per_s={r['steps_per_s']:.3f} clips_per_s={r['clips_per_s']:.1f} "
        f"tflops_per_s={tflops} mfu={mfu} augment_share={r['augment_share']:.3f}" + ratio + share,
    ]


# ------------------------------------------------------------------------------------------ the command

HELP = "the full pretraining step of a config, and the augmentation's share of it"
DESCRIPTION = (
    "The full pretraining step (augmentation included) of a config on a synthetic batch; prints the "
    "augmentation's share of it and, last, `step steps_per_s=... clips_per_s=... tflops_per_s=... "
    "mfu=... augment_share=...`."
)
TAKES_OVERRIDES = True


def add_arguments(p) -> None:
    p.add_argument(
        "--config",
        required=True,
        help="pretraining config, e.g. configs/simclr_logmel_cnn.py:tiny (--config.KEY=VALUE overrides allowed)",
    )
    p.add_argument("--batch", type=int, default=None, help="clips per step (default: the config's batch_size)")
    p.add_argument(
        "--devices",
        type=int,
        default=None,
        help="devices to shard the batch over (default all; on CPU, N simulated devices)",
    )
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="peak TFLOP/s per device for MFU (default: from the device kind)",
    )
    add_timing_arguments(p)
    p.add_argument(
        "--versus",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also time the step with this config change (repeatable), e.g. --versus augment.pitch_stretch=waveform",
    )
    p.add_argument(
        "--end-to-end",
        type=int,
        default=0,
        metavar="STEPS",
        help="also run pretrain's own loop on the config's dataset (--config.dataset, --config.data_dir) for "
        "STEPS steps a round, taking turns with the step alone; prints end_to_end_ratio (default 0: off)",
    )


def main(args) -> int:
    check_timing_arguments(args)
    if args.end_to_end < 0:
        raise BadValueError(f"--end-to-end {args.end_to_end}: give a number of steps, or 0 for none")
    overrides = list(args.overrides) + ([f"--config.batch_size={args.batch}"] if args.batch else [])
    for line in report(
        run(
            args.config,
            overrides,
            devices=args.devices,
            steps=args.repeats,
            peak=args.peak_tflops,
            versus=args.versus,
            rounds=args.rounds,
            end_to_end=args.end_to_end,
        )
    ):
        print(line, flush=True)
    return 0
