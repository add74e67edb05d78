"""A pretrained encoder for downstream use: load it from a pretraining workdir or one of its checkpoints
(batch norm in inference mode, projection head dropped).

    encoder = load_encoder("runs/demo/pretrain")            # latest checkpoint of a workdir
    encoder = load_encoder("runs/demo/pretrain/checkpoints/600")
    encoder.forward(encoder.params, encoder.batch_stats, audio)   # [B, window_samples] -> [B, embedding_size]

`ssl_audio.embed.model.EmbeddingModel` wraps one to embed audio of any length on every local device.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from ssl_audio.errors import BadValueError, UsageError
from ssl_audio.models.registry import read_out
from ssl_audio.models.variables import split_model
from ssl_audio.objectives import build_model
from ssl_audio.saved_config import upgrade

CONFIG_FILE = "config.json"  # written by `ssl-audio pretrain` in its workdir
CHECKPOINT_DIR = "checkpoints"


class CheckpointNotFoundError(UsageError, FileNotFoundError):
    """The path is neither a pretraining workdir nor one of its checkpoints."""


@dataclasses.dataclass
class Encoder:
    config: ml_collections.ConfigDict
    graphdef: nnx.GraphDef
    params: dict
    batch_stats: dict
    source: str  # where it came from: a checkpoint folder, or "random-init (seed N)"
    step: int | None  # the training step of the checkpoint
    checksum: str  # identifies these exact weights (cache keys, manifests)
    layer: str | None = None  # the read-out asked for in place of the run's own (--layer), if any

    @property
    def sample_rate(self) -> int:
        return int(self.config.sample_rate)

    @property
    def readout(self) -> str:
        """What `forward` hands out (config.model.readout)."""
        return str(self.config.model.readout)

    @functools.cached_property
    def layer_names(self) -> tuple[str, ...]:
        """The encoder's named blocks ("block1" ...), each a read-out of its own; () for encoders without."""
        graphdef = self.graphdef
        return tuple(getattr(nnx.merge(graphdef, self.params, self.batch_stats).encoder, "layer_names", ()))

    @property
    def window_seconds(self) -> float:
        return float(self.config.crop_seconds)

    @property
    def window_samples(self) -> int:
        return int(round(self.config.crop_seconds * self.config.sample_rate))

    @functools.cached_property
    def embedding_size(self) -> int:
        shape = jax.eval_shape(
            self.forward, self.params, self.batch_stats, jax.ShapeDtypeStruct((1, self.window_samples), jnp.float32)
        )
        return int(shape.shape[-1])

    @property
    def forward(self):
        """The pure function (params, batch_stats, audio [B, W]) -> embeddings [B, D]: what callers jit
        (with their own shardings), export (jax2tf) or differentiate."""
        graphdef = self.graphdef

        def forward(params, batch_stats, audio):
            model = nnx.merge(graphdef, params, batch_stats)
            model.eval()  # batch norm uses its running statistics: an embedding must not depend on the batch
            # bf16-trained models still hand out float32
            return read_out(model.encoder, audio).astype(jnp.float32)

        return forward


def resolve_checkpoint(path: str | Path) -> tuple[Path, Path]:
    """(workdir, checkpoint step folder) for a workdir (its latest step) or a step folder."""
    path = Path(path).expanduser()
    if (path / CONFIG_FILE).exists() and (path / CHECKPOINT_DIR).is_dir():
        steps = sorted(
            (int(p.name) for p in (path / CHECKPOINT_DIR).iterdir() if p.name.isdigit() and (p / "state").is_dir()),
            reverse=True,
        )
        if not steps:
            raise CheckpointNotFoundError(
                f"{path}: a pretraining workdir without a finished checkpoint yet; "
                f"let `ssl-audio pretrain` save one (or resume it)"
            )
        return path, path / CHECKPOINT_DIR / str(steps[0])
    if (path / "state").is_dir() and (path.parent.parent / CONFIG_FILE).exists():
        return path.parent.parent, path
    raise CheckpointNotFoundError(
        f"{path}: not a pretraining workdir (WORKDIR with {CONFIG_FILE} and "
        f"{CHECKPOINT_DIR}/) nor one of its checkpoints (WORKDIR/{CHECKPOINT_DIR}/STEP)"
    )


def with_readout(config: ml_collections.ConfigDict, readout: str | None) -> ml_collections.ConfigDict:
    """A copy of a pretraining config whose encoder reads out `readout` (None: as it is)."""
    if readout is None:
        return config
    copy = ml_collections.ConfigDict(config.to_dict())
    copy.model.readout = readout
    return copy


def load_encoder(path: str | Path, readout: str | None = None) -> Encoder:
    """`readout` (--layer) overrides the run's config.model.readout: "embedding", "blocks" or one block by
    name ("block3"); the weights are the same whatever is read out."""
    import orbax.checkpoint as ocp

    workdir, step_dir = resolve_checkpoint(path)
    config = ml_collections.ConfigDict(upgrade(json.loads((workdir / CONFIG_FILE).read_text())))
    config = with_readout(config, readout)
    try:
        abstract = nnx.eval_shape(lambda: build_model(config, seed=config.seed))
    except ValueError as err:
        if readout is None or "readout" not in str(err):
            raise
        raise BadValueError(f"--layer {readout}: the {config.model.name} encoder's {err}") from None
    graphdef, params, batch_stats = nnx.split(abstract, nnx.Param, ...)
    saved = ocp.StandardCheckpointer().restore((step_dir / "state").absolute())
    params = _fill(params, saved["params"], step_dir)
    batch_stats = _fill(batch_stats, saved["batch_stats"], step_dir)
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves((params, batch_stats)):
        digest.update(np.asarray(leaf).tobytes())
    return Encoder(
        config=config,
        graphdef=graphdef,
        params=params,
        batch_stats=batch_stats,
        source=str(step_dir),
        step=int(step_dir.name),
        checksum=digest.hexdigest()[:16],
        layer=readout,
    )


def random_encoder(config: ml_collections.ConfigDict, seed: int = 0) -> Encoder:
    """The same architecture with freshly initialised weights: the baseline a pretrained encoder must beat."""
    graphdef, params, batch_stats = split_model(build_model(config, seed=seed))
    return Encoder(
        config=config,
        graphdef=graphdef,
        params=params,
        batch_stats=batch_stats,
        source=f"random-init (seed {seed})",
        step=None,
        checksum=f"random-init-{seed}",
    )


def _fill(abstract: nnx.State, saved: dict, where: Path) -> dict:
    """Saved arrays placed into the model's abstract state (nnx.replace_by_pure_dict, which maps Orbax's
    string keys '0' back to list indices), checked: every variable present, every shape right. Pure dict out."""
    wanted = {path: _value(v) for path, v in nnx.to_flat_state(abstract)}  # ShapeDtypeStructs
    try:
        nnx.replace_by_pure_dict(abstract, saved)
    except ValueError as err:
        raise CheckpointNotFoundError(
            f"{where}: {err}, for this model's config; was it written by another version?"
        ) from None
    for path, value in nnx.to_flat_state(abstract):
        name, got, want = "/".join(map(str, path)), _value(value), wanted[path]
        if isinstance(got, jax.ShapeDtypeStruct):
            raise CheckpointNotFoundError(
                f"{where}: has no {name} for this model's config; was it written by another version?"
            )
        if tuple(np.shape(got)) != tuple(want.shape):
            raise CheckpointNotFoundError(f"{where}: {name} has shape {np.shape(got)}, the model wants {want.shape}")
        value.set_value(jnp.asarray(got, want.dtype))
    return nnx.to_pure_dict(abstract)


def _value(variable):
    return variable.get_value() if hasattr(variable, "get_value") else getattr(variable, "value", variable)
