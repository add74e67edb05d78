"""Training a head on frozen features: full-batch AdamW, learning rate and weight decay chosen on the
validation split, early stopping on the validation metric, the best head kept.

Losses by the kind of label: one label -> softmax cross-entropy (decision by argmax); several labels ->
sigmoid binary cross-entropy; a value -> squared error. Features are standardised with the training
split's mean and standard deviation (stored with the head), and so are value targets: a column in dB,
BPM or years is far from the zero a fresh head predicts, and early stopping ended such a fit long before
it reached the targets' scale (R^2 -46 on a dB column). Predictions are returned in the targets' units.
"""

from __future__ import annotations

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ssl_audio_linear_probe import metrics
from ssl_audio_linear_probe.heads import HEADS

LEARNING_RATES = (1e-3, 1e-2)
WEIGHT_DECAYS = (1e-4, 1e-1)


def loss_fn(kind: str, outputs: jax.Array, y: jax.Array) -> jax.Array:
    if kind == "class":
        return optax.softmax_cross_entropy_with_integer_labels(outputs, y).mean()
    if kind == "multilabel":
        return optax.sigmoid_binary_cross_entropy(outputs, y).mean()
    return jnp.mean((outputs[:, 0] - y) ** 2)


def _link(kind: str, outputs: jax.Array) -> jax.Array:
    if kind == "class":
        return jax.nn.softmax(outputs, axis=-1)
    if kind == "multilabel":
        return jax.nn.sigmoid(outputs)
    return outputs


def to_scores(kind: str, outputs: np.ndarray) -> np.ndarray:
    """Head outputs as the metrics want them: class probabilities, tag probabilities, or values."""
    return np.asarray(_link(kind, jnp.asarray(outputs)))


@dataclasses.dataclass
class FittedHead:
    kind: str
    head: str
    graphdef: nnx.GraphDef
    params: dict
    mean: np.ndarray
    std: np.ndarray
    learning_rate: float
    weight_decay: float
    best_step: int
    validation: float  # the main metric on validation, at best_step
    search: list[dict]  # every (lr, wd) tried and its best validation metric
    target_mean: float = 0.0  # value heads: trained on (y - target_mean) / target_std
    target_std: float = 1.0

    def outputs(self, x: np.ndarray) -> np.ndarray:
        model = nnx.merge(self.graphdef, self.params)
        model.eval()
        out = np.asarray(model(jnp.asarray((x - self.mean) / self.std)))
        return out * self.target_std + self.target_mean if self.kind == "value" else out

    def scores(self, x: np.ndarray) -> np.ndarray:
        return to_scores(self.kind, self.outputs(x))


def fit_head(
    kind: str,
    n_outputs: int,
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    *,
    head: str = "linear",
    max_steps: int = 600,
    eval_every: int = 10,
    patience: int = 10,
    seed: int = 0,
    learning_rates=LEARNING_RATES,
    weight_decays=WEIGHT_DECAYS,
) -> FittedHead:
    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0)
    # A feature constant on train (a dead ReLU unit) keeps its scale: dividing by ~0 would blow up whatever
    # value it takes on test.
    std = np.where(std > 1e-6 * max(float(std.max()), 1e-12), std, 1.0).astype(np.float32)
    xs, vs = jnp.asarray((train_x - mean) / std), jnp.asarray((val_x - mean) / std)
    target_mean, target_std = 0.0, 1.0
    if kind == "value":
        target_mean = float(np.mean(train_y))
        target_std = float(np.std(train_y)) or 1.0  # a constant target: shifted, not scaled
        train_y = (np.asarray(train_y, np.float32) - target_mean) / target_std
    ys = jnp.asarray(train_y)
    model = HEADS[head](train_x.shape[1], n_outputs, rngs=nnx.Rngs(seed))
    graphdef, init_params = nnx.split(model, nnx.Param)
    init_params = nnx.to_pure_dict(init_params)
    tx = optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3, weight_decay=1e-4)

    def train_step(params, opt_state, key):
        def objective(p):
            m = nnx.merge(graphdef, p)
            return loss_fn(kind, m(xs, rngs=nnx.Rngs(dropout=key)), ys)

        grads = jax.grad(objective)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    # `eval_every` steps and the validation scores after them in one call: one step per call spent most of
    # the head's time dispatching from Python (and folding step keys outside the jit), not training.
    @jax.jit
    def train_then_score(params, opt_state, key, first_step):
        def body(i, carry):
            return train_step(*carry, jax.random.fold_in(key, first_step + i))

        params, opt_state = jax.lax.fori_loop(0, eval_every, body, (params, opt_state))
        m = nnx.merge(graphdef, params)
        m.eval()
        return params, opt_state, _link(kind, m(vs))

    best = None
    search = []
    for lr, wd in itertools.product(learning_rates, weight_decays):
        params = init_params
        opt_state = tx.init(params)
        # Changed in place of recompiling; float32 arrays, not weak-typed ones, like those the step returns
        # (a weak-typed first input compiled the step twice).
        opt_state.hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
        opt_state.hyperparams["weight_decay"] = jnp.asarray(wd, jnp.float32)
        key = jax.random.key(seed)
        run_best, run_best_step, run_params, waited = -np.inf, 0, params, 0
        for step in range(eval_every, max_steps + 1, eval_every):  # steps first..step, then a validation
            params, opt_state, val_scores = train_then_score(params, opt_state, key, step - eval_every + 1)
            val_scores = np.asarray(val_scores)
            if kind == "value":  # scored in the targets' own units
                val_scores = val_scores * target_std + target_mean
            value = metrics.main_value(kind, val_y, val_scores)
            if np.isfinite(value) and value > run_best:
                run_best, run_best_step, run_params, waited = value, step, params, 0
            else:
                waited += 1
                if waited >= patience:
                    break
        search.append(
            {"learning_rate": lr, "weight_decay": wd, "validation": float(run_best), "best_step": run_best_step}
        )
        if best is None or run_best > best[0]:
            best = (run_best, run_best_step, run_params, lr, wd)
    value, step, params, lr, wd = best
    return FittedHead(
        kind=kind,
        head=head,
        graphdef=graphdef,
        params=jax.device_get(params),
        mean=mean,
        std=std,
        learning_rate=lr,
        weight_decay=wd,
        best_step=step,
        validation=float(value),
        search=search,
        target_mean=target_mean,
        target_std=target_std,
    )
