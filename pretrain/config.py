"""Loading a pretraining config (big_vision style) and checking it before anything runs.

`load_config("configs/simclr_logmel_cnn.py:tiny", ["--config.batch_size=64"])` goes through
ml_collections' config_flags, so overrides are typed and a misspelt key is refused. `validate` then checks
values; every failure is a ConfigError whose message names the key and what to do.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import ml_collections

from ssl_audio.augment.config import validate as validate_augment
from ssl_audio.errors import UsageError
from ssl_audio.saved_config import upgrade

REQUIRED_KEYS = ("dataset", "data_dir", "total_steps", "batch_size", "model", "optimizer", "augment")
# May differ between a run and its resumption: they change how a run is watched, not what it computes.
RUN_CONTROL_KEYS = (
    "data_dir",
    "data_workers",
    "log_every_steps",
    "checkpoint_every_steps",
    "keep_checkpoints",
    "progress",
    "model.readout",  # what downstream jobs read out; pretraining computes the same either way
    # How the vocoder carries phase: both forms make the same augmentation, held to the same figures
    # (tests/augment/test_ops.py), so a run may resume on another kind of device, where "auto" picks the other.
    "augment.vocoder_phase",
    # How many clips the chain augments at a time: the same draws and views up to float rounding, and
    # "auto" differs by device kind as vocoder_phase does.
    "augment.clips_per_pass",
)
BATCH_NORMS = ("joint", "per_view")
OPTIMIZERS = ("adamw", "lars")
COMPUTE_DTYPES = ("float32", "bfloat16", "float64")  # float64: numerical checks only (needs x64)


class ConfigError(UsageError, ValueError):
    """A config file, key or value that cannot run, named."""


def installed_config(path: Path) -> Path | None:
    """`configs/NAME.py` (or `NAME.py`) as installed with the package, for a command run outside the repository."""
    import ssl_audio_configs

    if path.is_absolute() or path.parent not in (Path("."), Path("configs")):
        return None
    candidate = Path(ssl_audio_configs.__file__).parent / path.name
    return candidate if candidate.is_file() else None


def load_config(spec: str, overrides: list[str] = ()) -> ml_collections.ConfigDict:
    """spec: 'path/to/config.py[:variant]', or a run's own WORKDIR/config.json; overrides: '--config.key=value'.

    `configs/simclr_logmel_cnn.py:tiny` names the file in the current folder when there is one (the
    repository's, or a user's copy), else the one installed with the package."""
    path = Path(spec.split(":", 1)[0]) if not spec.endswith(".json") else Path(spec)
    if not path.is_file() and not spec.endswith(".json") and (found := installed_config(path)):
        path, spec = found, str(found) + spec[len(spec.split(":", 1)[0]) :]
    if not path.is_file():
        raise ConfigError(
            f"--config {spec}: no such file {path}; configs live in configs/ (also installed with the package), "
            f"e.g. configs/simclr_logmel_cnn.py (or give a run's WORKDIR/config.json)"
        )
    for item in overrides:
        if not item.startswith("--config."):
            raise ConfigError(f"{item}: not a config override; write --config.KEY=VALUE, e.g. --config.batch_size=64")
    base = _parse(spec, [])
    for item in overrides:
        _check_key_exists(base, item.split("=", 1)[0][len("--config.") :], path)
    config = _parse(spec, overrides)
    validate(config)
    return config


def _tuples(value):
    """JSON lists back into the tuples the config files use (so overrides parse as they do on a .py)."""
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _parse(spec: str, overrides: list[str]) -> ml_collections.ConfigDict:
    from absl import flags
    from ml_collections import config_flags

    flag_values = flags.FlagValues()
    if spec.endswith(".json"):  # a run's own record: `--config WORKDIR/config.json` resumes that run
        try:
            saved = json.loads(Path(spec).read_text())
        except json.JSONDecodeError as err:
            raise ConfigError(f"--config {spec}: not valid JSON ({err.msg}, line {err.lineno})") from None
        argv = ["ssl-audio", *overrides]
        config_flags.DEFINE_config_dict(
            "config",
            ml_collections.ConfigDict(_tuples(upgrade(saved))),
            flag_values=flag_values,
            lock_config=True,
            sys_argv=argv,
        )
    else:
        argv = ["ssl-audio", f"--config={spec}", *overrides]
        # sys_argv: the override flags (--config.x.y) are declared from the argv config_flags is shown.
        config_flags.DEFINE_config_file("config", flag_values=flag_values, lock_config=True, sys_argv=argv)
    try:
        flag_values(argv)
        config = flag_values.config
        if not isinstance(config, ml_collections.ConfigDict):
            raise ConfigError(f"--config {spec}: get_config() returned {type(config).__name__}, not a ConfigDict")
        return config
    except AttributeError as err:  # the file has no get_config (e.g. configs/common.py, a helper module)
        raise ConfigError(
            f"--config {spec}: not a config file ({err}); give one with get_config(), e.g. configs/simclr_logmel_cnn.py"
        ) from None
    except flags.Error as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        if "Error whilst parsing config file" in lines[0]:  # get_config raised: its own message is the last line
            raise ConfigError(f"--config {spec}: {lines[-1].split(': ', 1)[-1]}") from None
        raise ConfigError(" ".join(lines)) from None
    except ValueError as err:  # raised by get_config itself, e.g. an unknown variant
        raise ConfigError(f"--config {spec}: {err}") from None


def _check_key_exists(config: ml_collections.ConfigDict, key: str, path: Path) -> None:
    node = config
    for depth, part in enumerate(key.split(".")):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            known = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
            close = difflib.get_close_matches(part, known, n=1)
            hint = f" (did you mean config.{'.'.join(key.split('.')[:depth] + close)}?)" if close else ""
            raise ConfigError(f"config.{key}: unknown key{hint}; the keys are those of {path}")
        node = node[part]


def validate(c: ml_collections.ConfigDict) -> None:
    def check(ok: bool, key: str, why: str) -> None:
        if not ok:
            raise ConfigError(f"config.{key}: {why}")

    for key in REQUIRED_KEYS:
        check(key in c, key, "missing; every pretraining config must set it (see configs/common.py)")
    check(isinstance(c.dataset, str) and c.dataset != "", "dataset", "must name a dataset built by `ssl-audio prepare`")
    check(c.batch_size >= 2, "batch_size", f"must be at least 2 (contrastive pairs need negatives), got {c.batch_size}")
    check(c.total_steps >= 1, "total_steps", f"must be at least 1, got {c.total_steps}")
    check(c.crop_seconds > 0, "crop_seconds", f"must be positive, got {c.crop_seconds}")
    check(c.temperature > 0, "temperature", f"must be positive, got {c.temperature}")
    from ssl_audio.objectives import OBJECTIVES

    objectives = tuple(OBJECTIVES)
    objective = c.objective
    check(objective in objectives, "objective", f"must be one of {objectives}, got {objective!r}")
    batch_norm = c.batch_norm
    check(batch_norm in BATCH_NORMS, "batch_norm", f"must be one of {BATCH_NORMS}, got {batch_norm!r}")
    check(
        batch_norm == "joint" or objective != "byol",
        "batch_norm",
        "per_view is for the contrastive objectives; byol's target sees both views as one batch (use joint)",
    )
    if objective == "best_rq":
        from ssl_audio.objectives.best_rq import validate as validate_best_rq

        validate_best_rq(c)
    tau = c.byol_tau
    check(0 <= tau < 1, "byol_tau", f"the target's EMA decay must be in [0, 1), got {tau}")
    check(
        c.compute_dtype in COMPUTE_DTYPES, "compute_dtype", f"must be one of {COMPUTE_DTYPES}, got {c.compute_dtype!r}"
    )
    o = c.optimizer
    check(o.name in OPTIMIZERS, "optimizer.name", f"must be one of {OPTIMIZERS}, got {o.name!r}")
    check(o.lr > 0, "optimizer.lr", f"must be positive, got {o.lr}")
    check(
        0 <= o.warmup_steps < c.total_steps,
        "optimizer.warmup_steps",
        f"must be below total_steps ({c.total_steps}), got {o.warmup_steps}; lower it with "
        f"--config.optimizer.warmup_steps=N",
    )
    workers = str(c.data_workers)
    check(
        workers == "auto" or workers.isdigit(),
        "data_workers",
        f"must be 'auto' or a number of worker processes (0: read in the training process), got {workers!r}",
    )
    for key in ("log_every_steps", "checkpoint_every_steps", "keep_checkpoints"):
        check(c[key] >= 1, key, f"must be at least 1, got {c[key]}")
    check(
        c.augment.sample_rate == c.sample_rate,
        "augment.sample_rate",
        f"is {c.augment.sample_rate} but sample_rate is {c.sample_rate}; set both to the same rate",
    )
    try:
        validate_augment(c.augment)
    except ValueError as err:
        raise ConfigError(f"config.{err}") from None
    _validate_model(c)
    from ssl_audio.augment.bands import BandViews, uses_bands

    if uses_bands(c.augment):  # the model must have the semitone bands the views are made on
        try:
            BandViews(c.augment, c.model, int(round(c.crop_seconds * c.sample_rate)))
        except ValueError as err:
            raise ConfigError(str(err)) from None


def _validate_model(c: ml_collections.ConfigDict) -> None:
    """The model block builds (abstractly: no parameters allocated), or a ConfigError names the key."""
    for key, value in c.model.items():
        if isinstance(value, (tuple, list)) and not all(isinstance(v, int) and v > 0 for v in value):
            raise ConfigError(
                f"config.model.{key}: must be positive whole numbers, e.g. "
                f"--config.model.{key}='(32,64)', got {value!r}"
            )
        if key not in ("name", "readout", "scale") and isinstance(value, str):
            raise ConfigError(f"config.model.{key}: must be a number or a list of numbers, got {value!r}")
    from flax import nnx

    from ssl_audio.objectives import build_model

    try:
        nnx.eval_shape(lambda: build_model(c, seed=0))
    except UsageError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"config.model: the {c.model.name} encoder cannot be built from these settings ({str(err).splitlines()[0]})"
        ) from err


def to_json(c: ml_collections.ConfigDict) -> dict:
    return json.loads(c.to_json_best_effort())


def differences(saved: dict, current: dict, prefix: str = "") -> list[tuple[str, object, object]]:
    """Keys whose values differ between two configs (as JSON dicts; `saved` upgraded), ignoring RUN_CONTROL_KEYS."""
    out = []
    for key in sorted(set(saved) | set(current)):
        name = f"{prefix}{key}"
        if name in RUN_CONTROL_KEYS:
            continue
        a, b = saved.get(key, "<absent>"), current.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{name}.")
        elif a != b:
            out.append((name, a, b))
    return out


def config_lines(c: ml_collections.ConfigDict) -> list[str]:
    """Every key as `--config.KEY=VALUE`: what can be overridden, with the value it has now."""

    def walk(node, prefix):
        for key in sorted(node.keys()):
            value = node[key]
            if isinstance(value, ml_collections.ConfigDict):
                yield from walk(value, f"{prefix}{key}.")
            else:
                yield (
                    f"--config.{prefix}{key}={value!r}" if isinstance(value, str) else f"--config.{prefix}{key}={value}"
                )

    return list(walk(c, ""))
