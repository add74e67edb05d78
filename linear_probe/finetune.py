"""Fine-tuning: the pretrained encoder and a head trained together on one labelled task.

The encoder gets its own, smaller learning rate (optax.multi_transform), so the pretrained features are
adjusted rather than overwritten. Training reads random crops of the train split (one window each);
validation and test score whole clips, averaging the head's outputs over the clip's windows. It runs on
pretraining's loop (pretrain/loop.py): the mesh, Orbax with the data iterator (OUT/finetune/TASK),
SIGTERM/Ctrl-C saving, the NaN guard, metrics.jsonl and TensorBoard; it resumes when run again and keeps
the head and encoder of the best validation score.
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
from ssl_audio.distributed import batch_sharding, check_batch_divides, make_mesh, replicated
from ssl_audio.errors import BadValueError, StoppedBySignal
from ssl_audio.models.registry import read_out
from ssl_audio.models.variables import other_variables, split_model
from ssl_audio.pretrained import Encoder
from ssl_audio.text import plural
from ssl_audio_linear_probe import metrics
from ssl_audio_linear_probe.features import ClipFeatures, merge_segments, pool_windows
from ssl_audio_linear_probe.fit import loss_fn, to_scores
from ssl_audio_linear_probe.heads import HEADS
from ssl_audio_pretrain.checkpointing import Checkpoints, check_workdir
from ssl_audio_pretrain.loop import Loop, run_loop
from ssl_audio_pretrain.metrics_log import MetricsLog


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
    """Head outputs averaged over each file's windows (a file's segments merged, as for frozen features:
    features.merge_segments), and the files' labels."""
    outputs, encoded, keys = pool_windows(
        lambda audio: apply(params, batch_stats, jnp.asarray(audio)),
        handle,
        split,
        window_seconds=window_seconds,
        batch_size=batch_size,
        progress=False,
    )
    labels = [e[column] for e in encoded]
    merged = merge_segments(
        ClipFeatures(
            x=outputs,
            labels={column: np.stack(labels) if np.ndim(labels[0]) else np.array(labels)},
            groups={},
            keys=np.array(keys, dtype=str),
        )
    )
    return merged.x, merged.labels[column]


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
    check_workdir(workdir, config, upgrade_saved=None)  # a fine-tune's own keys, not pretraining's

    pretrained = nnx.merge(encoder.graphdef, encoder.params, encoder.batch_stats)
    model = Classifier(pretrained.encoder, HEADS[head](encoder.embedding_size, n_out, rngs=nnx.Rngs(seed)))
    graphdef, params, batch_stats = split_model(model)
    tx = optax.multi_transform(
        {"encoder": optax.adamw(lr_encoder, weight_decay=1e-4), "head": optax.adamw(lr_head, weight_decay=1e-4)},
        {part: jax.tree.map(lambda _, part=part: part, tree) for part, tree in params.items()},
    )
    # The pretraining loop's machinery (pretrain/loop.py): the batch sharded over a data-parallel mesh, the
    # state replicated and donated, SIGTERM saving, the NaN guard, metrics.jsonl and TensorBoard.
    mesh = make_mesh()
    check_batch_divides(batch_size, mesh)
    state = {
        "step": jnp.zeros((), jnp.int32),
        "params": params,
        "batch_stats": batch_stats,
        "opt_state": tx.init(params),
    }
    shardings = jax.tree.map(lambda _: replicated(mesh), state)
    state = jax.device_put(state, shardings)

    def train_step(state, batch):
        key = jax.random.fold_in(jax.random.key(seed), state["step"])

        def objective(p):
            m = nnx.merge(graphdef, p, state["batch_stats"])
            target = (batch["label"] - shift) / scale if kind == "value" else batch["label"]
            loss = loss_fn(kind, m(batch["audio"], rngs=nnx.Rngs(dropout=key)), target)
            return loss, other_variables(m)

        (loss, stats), grads = jax.value_and_grad(objective, has_aux=True)(state["params"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        new_params = optax.apply_updates(state["params"], updates)
        finite = jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(new_params)]))
        new_state = {"step": state["step"] + 1, "params": new_params, "batch_stats": stats, "opt_state": opt_state}
        return new_state, {"loss": loss, "params_finite": finite}

    step_fn = jax.jit(
        train_step,
        in_shardings=(shardings, batch_sharding(mesh)),
        out_shardings=(shardings, replicated(mesh)),
        donate_argnums=0,
    )

    @jax.jit
    def apply(params, stats, audio):
        m = nnx.merge(graphdef, params, stats)
        m.eval()
        return m(audio)

    def loader():
        return labelled_loader(
            handle, column, global_batch_size=batch_size, crop_seconds=encoder.window_seconds, seed=seed
        )

    data = iter(loader())
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
            kept = checkpoints.restore(top["step"], state, iter(loader()))
            best = {
                "validation": top[f"validation_{main}"],
                "step": top["step"],
                "params": jax.device_get(kept["params"]),
                "batch_stats": jax.device_get(kept["batch_stats"]),
            }
        state = checkpoints.restore(start, state, data)
        say(f"finetune {column}: resuming from step {start}")

    def evaluate(step: int, state: dict) -> dict:
        """The validation score of the whole clips; the best step's weights are kept for the test split."""
        nonlocal best
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
        value = float(metrics.score(kind, labels, to_scores(kind, unscale(outputs)), names)[main])
        train_loss = step_loss["last"]
        history.append({"step": step, "train_loss": train_loss, f"validation_{main}": value})
        if jax.process_index() == 0:
            history_file.write_text(json.dumps(history))
        say(f"finetune {column}: step {step}/{steps} train loss {train_loss:.3f}, validation {main} {value:.3f}")
        if np.isfinite(value) and value > best["validation"]:
            best = {
                "validation": value,
                "step": step,
                "params": jax.device_get(state["params"]),
                "batch_stats": jax.device_get(state["batch_stats"]),
            }
        return {f"validation_{main}": value}

    step_loss = {"last": float("nan")}  # the evaluated step's own loss, for the history (summarise runs first)

    def summarise(host: list[tuple[int, dict]]) -> dict:
        step_loss["last"] = float(host[-1][1]["loss"])
        return {"loss": float(np.mean([m["loss"] for _, m in host]))}

    def score(record: dict) -> float:
        """Lowest is kept: minus the validation score; a checkpoint made between evaluations ranks last."""
        value = record.get(f"validation_{main}")
        return -value if value is not None and np.isfinite(value) else np.inf

    loop = Loop(
        total_steps=steps,
        log_every_steps=eval_every,
        checkpoint_every_steps=eval_every,
        batch_size=batch_size,
        summarise=summarise,
        evaluate=evaluate,
        score=score,
        nan_hint=f"lower --finetune-lr (now {lr_encoder:g}), or check the labels of {column!r}, then rerun",
    )
    log = MetricsLog(workdir, start_step=start, total_steps=steps, progress=False, name=f"finetune {column}")
    end = run_loop(
        loop, state, step_fn, data, mesh, start=start, checkpoints=checkpoints, log=log, name=f"finetune {column}"
    )
    if end.stopped_by:
        raise StoppedBySignal(end.stopped_by, f"finetune {column}: stopped by {end.stopped_by} at step {end.step}")
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
