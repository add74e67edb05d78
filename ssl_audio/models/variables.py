"""An NNX model's variables as plain nested dicts, the form train states, optimizers and checkpoints hold.

`params` are the nnx.Param variables (what gradients flow to); `other` is everything else (batch-norm
statistics). `nnx.merge(graphdef, params, other)` turns them back into the model.
"""

from __future__ import annotations

from flax import nnx


def split_model(model: nnx.Module) -> tuple[nnx.GraphDef, dict, dict]:
    """(graphdef, params, other) of a model, the two states as pure dicts."""
    graphdef, params, other = nnx.split(model, nnx.Param, ...)
    return graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(other)


def other_variables(model: nnx.Module) -> dict:
    """The non-parameter variables (batch-norm statistics) after a call that updated them."""
    return nnx.to_pure_dict(nnx.state(model, nnx.Not(nnx.Param)))
