"""`ssl-audio pretrain`: its flags, turned into one call of ssl_audio_pretrain.train."""

from __future__ import annotations

import jax

from ssl_audio.errors import BadValueError
from ssl_audio_pretrain.train import train

DESCRIPTION = (
    "Pretrain an encoder on a prepared dataset. Configs are Python files (configs/*.py, variants "
    ":demo and :tiny), or a run's own WORKDIR/config.json; override any key with --config.KEY=VALUE "
    "(--print-config lists them). Rerunning the same command resumes from the last checkpoint; "
    "SIGTERM or Ctrl-C saves one and exits. Multi-host: start one process per host with "
    "--coordinator-address, --num-processes and --process-id (or JAX_COORDINATOR_ADDRESS, "
    "JAX_NUM_PROCESSES, JAX_PROCESS_ID; SLURM is detected). See docs/scaling.md."
)
EPILOG = (
    "example: ssl-audio pretrain --config configs/simclr_logmel_cnn.py:demo --workdir runs/demo/pretrain "
    "--config.batch_size=64"
)
TAKES_OVERRIDES = True


def add_arguments(p) -> None:
    p.add_argument(
        "--config",
        required=True,
        help="config file, optionally with a variant: FILE.py[:demo|:tiny], or WORKDIR/config.json",
    )
    p.add_argument(
        "--workdir",
        required=False,
        default=None,
        help="where checkpoints, logs and plots go (resumed if it holds a checkpoint); required unless --print-config",
    )
    p.add_argument(
        "--restart",
        action="store_true",
        help="delete the workdir's earlier run (checkpoints, logs, config.json) and start over",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the config (after overrides) as --config.KEY=VALUE lines and exit",
    )
    p.add_argument("--coordinator-address", default=None, help="host:port of process 0 (multi-host)")
    p.add_argument("--num-processes", type=int, default=None, help="number of processes (multi-host)")
    p.add_argument("--process-id", type=int, default=None, help="this process's index (multi-host)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (the JSONL log is kept)")


def run(args) -> int:
    from ssl_audio.distributed import initialize
    from ssl_audio.pretrained import CHECKPOINT_DIR
    from ssl_audio_pretrain.config import config_lines, load_config
    from ssl_audio_pretrain.metrics_log import METRICS_FILE, PLOT_FILE, read_metrics

    if args.print_config:
        for line in config_lines(load_config(args.config, args.overrides)):
            print(line)
        return 0
    if not args.workdir:
        raise BadValueError("pretrain: --workdir is required (where checkpoints and logs go)")
    initialize(args.coordinator_address, args.num_processes, args.process_id)  # before any device is touched
    config = load_config(args.config, args.overrides)
    if args.no_progress:
        config.progress = False
    result = train(config, args.workdir, restart=args.restart)
    if jax.process_index() == 0:
        logged = read_metrics(result.workdir)
        curve = (
            f"; loss {logged[0]['loss']:.3f} at step {logged[0]['step']} -> {logged[-1]['loss']:.3f} at step "
            f"{logged[-1]['step']}"
            if logged
            else ""
        )
        how = f" (stopped by {result.stopped_by})" if result.stopped_by else ""
        if result.start_step >= result.total_steps:  # a rerun of a finished run: say so, not "step 40/40"
            print(
                f"pretrain: nothing left to do; the run was already at step {result.final_step} of "
                f"{result.total_steps} (raise --config.total_steps to train further){curve}"
            )
        else:
            print(f"pretrain: step {result.final_step}/{result.total_steps}{how} in {result.seconds:.0f} s{curve}")
        print(
            f"  checkpoint: {result.workdir / CHECKPOINT_DIR / str(result.checkpoint_step)}; metrics: "
            f"{result.workdir / METRICS_FILE}; loss curve: {result.workdir / PLOT_FILE}; "
            f"TensorBoard: {result.workdir / 'tensorboard'}"
        )
    if jax.process_count() > 1:
        print(f"process {jax.process_index()}/{jax.process_count()}: params_fingerprint={result.params_fingerprint}")
    return 0
