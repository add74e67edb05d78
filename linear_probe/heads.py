"""Heads on frozen features: a linear layer, or one hidden layer with dropout (Flax NNX)."""

from __future__ import annotations

import jax
from flax import nnx


class LinearHead(nnx.Module):
    def __init__(self, cin: int, cout: int, *, rngs: nnx.Rngs):
        self.out = nnx.Linear(cin, cout, rngs=rngs)

    def __call__(self, x: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        return self.out(x)


class MLPHead(nnx.Module):
    def __init__(self, cin: int, cout: int, *, hidden: int = 512, dropout: float = 0.5, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(cin, hidden, rngs=rngs)
        self.dropout = nnx.Dropout(dropout)  # its key comes with each training call: the head holds no RNG state
        self.out = nnx.Linear(hidden, cout, rngs=rngs)

    def __call__(self, x: jax.Array, rngs: nnx.Rngs | None = None) -> jax.Array:
        return self.out(self.dropout(jax.nn.relu(self.hidden(x)), rngs=rngs))


HEADS = {"linear": LinearHead, "mlp": MLPHead}
