"""Fine-tuning: the pretrained encoder and a head trained together on one labelled task.

The encoder gets its own, smaller learning rate (optax.multi_transform), so the pretrained features are
adjusted rather than overwritten. Training reads random crops of the train split (one window each);
validation and test score whole clips, averaging the head's outputs over the clip's windows. The run is
checkpointed like pretraining (Orbax: state and data iterator, in OUT/finetune/TASK), resumes when run
again, and keeps the head and encoder of the best validation score.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from ssl_audio.data.pipeline import DatasetHandle, label_values, labelled_loader
from ssl_audio.errors import BadValueError
from ssl_audio.models.registry import read_out
from ssl_audio.models.variables import other_variables, split_model
from ssl_audio.pretrained import Encoder
from ssl_audio.text import plural
from ssl_audio_linear_probe import metrics
from ssl_audio_linear_probe.features import pool_windows
from ssl_audio_linear_probe.fit import loss_fn, to_scores
from ssl_audio_linear_probe.heads import HEADS
from ssl_audio_pretrain.checkpointing import Checkpoints, check_workdir


class Classifier(nnx.Module):
    def __init__(self, encoder: nnx.Module, head: nnx.Module):
        self.encoder, self.head = encoder, head

    def __call__(self, audio: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        # The same read-out the frozen probe and embed use (registry.read_out), trained end to end.
        return self.head(read_out(self.encoder, audio), rngs=rngs)


def finetune_config(
    encoder: Encoder,
    task: str,
    head: str,
    steps: int,
    batch_size: int,
    lr_encoder: float,
    lr_head: float,
    eval_every: int,
    seed: int,
) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {
            "source_checksum": encoder.checksum,
            "task": task,
            "head": head,
            "total_steps": steps,
            "batch_size": batch_size,
            "lr_encoder": lr_encoder,
            "lr_head": lr_head,
            "eval_every": eval_every,
            "seed": seed,
            "window_seconds": encoder.window_seconds,
        }
    )


@dataclasses.dataclass
class FineTuned:
    validation: float
    best_step: int
    history: list[dict]
    test_scores: np.ndarray
    test_labels: np.ndarray


def clip_outputs(
    apply, params, batch_stats, handle: DatasetHandle, split: str, column: str, window_seconds: float, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Head outputs averaged over each clip's windows, and the clips' labels."""
    outputs, encoded, _ = pool_windows(
        lambda audio: apply(params, batch_stats, jnp.asarray(audio)),
        handle,
        split,
        window_seconds=window_seconds,
        batch_size=batch_size,
        progress=False,
    )
    labels = [e[column] for e in encoded]
    return outputs, np.stack(labels) if np.ndim(labels[0]) else np.array(labels)


def finetune(
    encoder: Encoder,
    handle: DatasetHandle,
    column: str,
    names: list[str] | None,
    workdir: Path,
    *,
    head: str,
    steps: int,
    batch_size: int,
    lr_encoder: float,
    lr_head: float,
    eval_every: int = 50,
    seed: int = 0,
    say=print,
) -> FineTuned:
    if handle.splits["train"] < batch_size:
        raise BadValueError(
            f"--finetune-batch-size {batch_size}: the train split of {handle.name!r} has only "
            f"{plural(handle.splits['train'], 'clip')}; use a smaller batch"
        )  # noqa: E501
    kind = handle.columns[column]
    n_out = len(names) if names else 1
    # A value column is learnt standardised on train, as fit_head does; outputs are read in its units.
    shift, scale = 0.0, 1.0
    if kind == "value":
        train_values = np.asarray(label_values(handle, "train", [column])[column], np.float64)
        shift, scale = float(train_values.mean()), float(train_values.std()) or 1.0
    unscale = (lambda outputs: outputs * scale + shift) if kind == "value" else (lambda outputs: outputs)
    config = finetune_config(encoder, column, head, steps, batch_size, lr_encoder, lr_head, eval_every, seed)
    check_workdir(workdir, config)

    pretrained = nnx.merge(encoder.graphdef, encoder.params, encoder.batch_stats)
    model = Classifier(pretrained.encoder, HEADS[head](encoder.embedding_size, n_out, rngs=nnx.Rngs(seed)))
    graphdef, params, batch_stats = split_model(model)
    tx = optax.multi_transform(
        {"encoder": optax.adamw(lr_encoder, weight_decay=1e-4), "head": optax.adamw(lr_head, weight_decay=1e-4)},
        {part: jax.tree.map(lambda _, part=part: part, tree) for part, tree in params.items()},
    )
    state = {
        "step": jnp.zeros((), jnp.int32),
        "params": params,
        "batch_stats": batch_stats,
        "opt_state": tx.init(params),
    }

    @jax.jit
    def train_step(state, audio, label):
        key = jax.random.fold_in(jax.random.key(seed), state["step"])

        def objective(p):
            m = nnx.merge(graphdef, p, state["batch_stats"])
            target = (label - shift) / scale if kind == "value" else label
            loss = loss_fn(kind, m(audio, rngs=nnx.Rngs(dropout=key)), target)
            return loss, other_variables(m)

        (loss, stats), grads = jax.value_and_grad(objective, has_aux=True)(state["params"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        return {
            "step": state["step"] + 1,
            "params": optax.apply_updates(state["params"], updates),
            "batch_stats": stats,
            "opt_state": opt_state,
        }, loss

    @jax.jit
    def apply(params, stats, audio):
        m = nnx.merge(graphdef, params, stats)
        m.eval()
        return m(audio)

    data = iter(
        labelled_loader(handle, column, global_batch_size=batch_size, crop_seconds=encoder.window_seconds, seed=seed)
    )
    checkpoints = Checkpoints(workdir, keep=1)  # the latest, plus the best validation score
    history_file = workdir / "history.json"
    start = checkpoints.latest_step() or 0
    history = json.loads(history_file.read_text()) if start and history_file.exists() else []
    history = [h for h in history if h["step"] <= start]
    main = metrics.MAIN_METRIC[kind]
    best = {"validation": -np.inf, "step": 0, "params": state["params"], "batch_stats": state["batch_stats"]}
    if start:
        if history:
            top = max(history, key=lambda h: h[f"validation_{main}"])
            scratch = iter(
                labelled_loader(
                    handle, column, global_batch_size=batch_size, crop_seconds=encoder.window_seconds, seed=seed
                )
            )
            kept = checkpoints.restore(top["step"], state, scratch)
            best = {
                "validation": top[f"validation_{main}"],
                "step": top["step"],
                "params": kept["params"],
                "batch_stats": kept["batch_stats"],
            }
        state = checkpoints.restore(start, state, data)
        say(f"finetune {column}: resuming from step {start}")
    try:
        for step in range(start + 1, steps + 1):
            batch = next(data)
            state, loss = train_step(state, jnp.asarray(batch["audio"]), jnp.asarray(batch["label"]))
            if step % eval_every and step != steps:
                continue
            outputs, labels = clip_outputs(
                apply,
                state["params"],
                state["batch_stats"],
                handle,
                "validation",
                column,
                encoder.window_seconds,
                batch_size,
            )
            value = metrics.score(kind, labels, to_scores(kind, unscale(outputs)), names)[main]
            history.append({"step": step, "train_loss": float(loss), f"validation_{main}": float(value)})
            history_file.write_text(json.dumps(history))
            say(f"finetune {column}: step {step}/{steps} train loss {float(loss):.3f}, validation {main} {value:.3f}")
            if np.isfinite(value) and value > best["validation"]:
                best = {
                    "validation": float(value),
                    "step": step,
                    "params": jax.device_get(state["params"]),
                    "batch_stats": jax.device_get(state["batch_stats"]),
                }
            checkpoints.save(step, state, data, loss=-float(value) if np.isfinite(value) else np.nan)
    finally:
        checkpoints.wait()
        checkpoints.close()
    outputs, labels = clip_outputs(
        apply, best["params"], best["batch_stats"], handle, "test", column, encoder.window_seconds, batch_size
    )
    return FineTuned(
        validation=best["validation"],
        best_step=best["step"],
        history=history,
        test_scores=to_scores(kind, unscale(outputs)),
        test_labels=labels,
    )
