"""One row of the quality study: pretrain a setting over several seeds, probe each, print the row.

    python -m studies.study "temperature 0.3" --seeds 0,1,2 --dataset demo --data-dir data/demo/tfds \
        --out study -- --config.temperature=0.3

For each seed: `ssl-audio pretrain --config CONFIG --config.seed=SEED OVERRIDES` into
OUT/SLUG-sSEED/pretrain, then `ssl-audio probe --features pretrained,mfcc` into OUT/SLUG-sSEED/probe (the
MFCC features cached once in OUT/cache for every row). A seed whose probe is complete is not run again, and
a killed pretraining resumes from its checkpoint, so rerunning the same command finishes a row. Prints the
row of docs/quality.md's tables (`studies.study_table`: validation metrics, mean ± sd over seeds; the
test split is not read) and appends it with its command to OUT/rows.md.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

from studies.study_table import TASKS, row

DEFAULT_CONFIG = "configs/simclr_logmel_cnn.py:demo"


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9.+-]+", "-", label.lower()).strip("-") or "setting"


def _run(cmd: list[str], log: Path) -> None:
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ " + shlex.join(cmd) + "\n")
        f.flush()
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        sys.exit(f"study: {shlex.join(cmd[2:5])}… failed (exit {done.returncode}); its output is in {log}")


def run_seed(args, seed: int, overrides: list[str]) -> Path:
    unit = Path(args.out) / f"{slug(args.label)}-s{seed}"
    probe = unit / "probe"
    if (probe / "results.json").exists():
        return probe
    unit.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "ssl_audio.cli"]
    _run(
        [*cli, "pretrain", "--config", args.config, "--workdir", str(unit / "pretrain"), "--no-progress",
         f"--config.dataset={args.dataset}", f"--config.data_dir={args.data_dir}", f"--config.seed={seed}",
         *overrides],
        unit / "ssl_audio_pretrain.log",
    )  # fmt: skip
    _run(
        [*cli, "probe", "--checkpoint", str(unit / "pretrain"), "--dataset", args.dataset, "--data-dir",
         args.data_dir, "--out", str(probe), "--overwrite", "--cache-dir", str(Path(args.out) / "cache"),
         "--features", "pretrained,mfcc", "--quiet"],
        unit / "probe.log",
    )  # fmt: skip
    return probe


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, overrides = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    p = argparse.ArgumentParser(prog="python -m studies.study", description=__doc__.split("\n\n")[0])
    p.add_argument("label", help="the row's label, e.g. 'temperature 0.3'")
    p.add_argument("--seeds", default="0,1,2", help="pretraining seeds, comma-separated (default 0,1,2)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help=f"pretraining config (default {DEFAULT_CONFIG})")
    p.add_argument("--dataset", default="demo", help="prepared dataset name (default demo)")
    p.add_argument("--data-dir", default="data/demo/tfds", help="its data dir (default data/demo/tfds)")
    p.add_argument("--out", default="study", help="where the runs, the MFCC cache and rows.md go (default study)")
    args = p.parse_args(ours)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds {args.seeds!r}: comma-separated integers, e.g. --seeds 0,1,2")
    bad = [o for o in overrides if not o.startswith("--config.")]
    if bad:
        p.error(f"after --, only --config.KEY=VALUE overrides; got {bad[0]}")
    probes = [str(run_seed(args, seed, overrides)) for seed in seeds]
    line = row(args.label, probes)
    header = "| setting | runs | " + " | ".join(f"{t} (val)" for t in TASKS) + " |"
    print(header)
    print(line)
    command = shlex.join(["python", "-m", "studies.study", *argv])
    with open(Path(args.out) / "rows.md", "a", encoding="utf-8") as f:
        f.write(f"{line}\n<!-- {command} -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
