"""Running `ssl-audio pretrain` on the tiny config, as a user would (a separate process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "configs" / "simclr_logmel_cnn.py") + ":tiny"


def command(workdir, dataset, *overrides, config=TINY) -> list[str]:
    name, data_dir = dataset
    return [sys.executable, "-m", "ssl_audio.cli", "pretrain", "--config", config, "--workdir", str(workdir),
            "--no-progress", f"--config.dataset={name}", f"--config.data_dir={data_dir}", *overrides]


def env(devices: int = 1) -> dict:
    e = dict(os.environ)
    e.pop("XLA_FLAGS", None)
    if devices > 1:
        e["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return e


def run(workdir, dataset, *overrides, config=TINY, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(command(workdir, dataset, *overrides, config=config), capture_output=True, text=True,
                          env=env(), timeout=timeout)


def losses(workdir) -> dict[int, float]:
    lines = (Path(workdir) / "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines)}
