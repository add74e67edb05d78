"""Running `ssl-audio pretrain` on the tiny config, as a user would (a separate process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / "configs" / "simclr_logmel_cnn.py") + ":tiny"
# The tiny config on semitone bands with pitch and stretch made on them (augment.pitch_stretch=bands).
BANDS = (
    "--config.model.scale=log",
    "--config.model.f_min=130.8128",
    "--config.model.n_mels=48",
    "--config.model.n_fft=1024",
    "--config.augment.pitch_stretch=bands",
)


def command(workdir, dataset, *overrides, config=TINY) -> list[str]:
    name, data_dir = dataset
    return [
        sys.executable,
        "-m",
        "ssl_audio.cli",
        "pretrain",
        "--config",
        config,
        "--workdir",
        str(workdir),
        "--no-progress",
        f"--config.dataset={name}",
        f"--config.data_dir={data_dir}",
        *overrides,
    ]


# Compiled steps are cached on disk and shared by the runs of a test session (and the next session): the
# tiny config's step costs ~8 s to compile and most tests run it several times.
COMPILATION_CACHE = Path(tempfile.gettempdir()) / "ssl_audio_tests_jax_cache"


def env(devices: int = 1) -> dict:
    e = dict(os.environ)
    e.pop("XLA_FLAGS", None)
    e["JAX_COMPILATION_CACHE_DIR"] = str(COMPILATION_CACHE)
    e["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    if devices > 1:
        e["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return e


def run(workdir, dataset, *overrides, config=TINY, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(workdir, dataset, *overrides, config=config), capture_output=True, text=True, env=env(), timeout=timeout
    )


def losses(workdir) -> dict[int, float]:
    lines = (Path(workdir) / "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines)}
