"""`probe --layer all`: every named block of the encoder scored on validation, per task; the best one is the
layer each task's test line uses. Music models' best layer is rarely the last (MERT's users read out a middle
one), and which one depends on the task: a curve shows where each task's information sits."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ssl_audio.data.pipeline import DatasetHandle
from ssl_audio.errors import BadValueError
from ssl_audio.pretrained import Encoder, load_encoder, random_encoder, with_readout
from ssl_audio_linear_probe import features as F
from ssl_audio_linear_probe.fit import fit_head

SPLITS = ("train", "validation", "test")


def layer_features(
    encoder: Encoder, handle: DatasetHandle, cache_dir: Path, *, hop_seconds, pooling: str, progress: bool
) -> dict:
    """{split: ClipFeatures} of one encoder's read-out, through the feature cache."""
    feature_id = F.encoder_feature_id(encoder, hop_seconds, pooling)
    return {
        split: F.cached(
            cache_dir,
            handle,
            feature_id,
            split,
            lambda split=split: F.encoder_features(
                encoder, handle, split, hop_seconds=hop_seconds, pooling=pooling, progress=progress
            ),
        )[0]
        for split in SPLITS
    }


def sweep(
    checkpoint,
    encoder: Encoder,
    handle: DatasetHandle,
    columns: list[str],
    cache_dir: Path,
    *,
    head: str,
    hop_seconds,
    pooling: str,
    progress: bool,
    with_random: bool,
    say=print,
) -> dict:
    """{'names', 'validation': {task: {layer: score}}, 'chosen': {task: layer}, 'features': {kind: {layer:
    {split: ClipFeatures}}}}: each task's best layer on validation, and its features (and random-init's at the
    same layer) for the test line."""
    names = encoder.layer_names
    if not names:
        raise BadValueError(
            f"--layer all: the {encoder.config.model.name} encoder has no named blocks; give --layer embedding "
            "or blocks"
        )
    curve: dict[str, dict[str, float]] = {c: {} for c in columns}
    pretrained: dict[str, dict] = {}
    for name in names:
        layer = load_encoder(checkpoint, readout=name)
        pretrained[name] = layer_features(
            layer, handle, cache_dir, hop_seconds=hop_seconds, pooling=pooling, progress=progress
        )
        for column in columns:
            curve[column][name] = _validation(handle, column, pretrained[name], head)
        say(f"probe: layer {name}: validation " + ", ".join(f"{c} {curve[c][name]:.3f}" for c in columns))
    chosen = {c: max(names, key=lambda n, c=c: _rank(curve[c][n])) for c in columns}
    features = {"pretrained": {n: pretrained[n] for n in set(chosen.values())}}
    if with_random:
        features["random"] = {
            n: layer_features(
                random_encoder(with_readout(encoder.config, n), seed=int(encoder.config.seed)),
                handle,
                cache_dir,
                hop_seconds=hop_seconds,
                pooling=pooling,
                progress=progress,
            )
            for n in set(chosen.values())
        }
    return {"names": list(names), "validation": curve, "chosen": chosen, "features": features}


def _validation(handle: DatasetHandle, column: str, splits: dict, head: str) -> float:
    kind = handle.columns[column]
    names = handle.class_names.get(column)
    n_out = len(names) if kind in ("class", "multilabel") else 1
    train, val = splits["train"], splits["validation"]
    fitted = fit_head(kind, n_out, train.x, train.labels[column], val.x, val.labels[column], head=head)
    return float(fitted.validation)


def _rank(score: float) -> float:
    return score if np.isfinite(score) else -np.inf  # every main metric is better higher


def plot_layers(curve: dict, chosen: dict, metric_of: dict, path: Path) -> None:
    """Validation score by layer, one line per task, the chosen layer marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for task, scores in curve.items():
        names = list(scores)
        ax.plot(range(len(names)), [scores[n] for n in names], marker="o", label=f"{task} ({metric_of[task]})")
        best = names.index(chosen[task])
        ax.scatter([best], [scores[chosen[task]]], s=120, facecolors="none", edgecolors="black")
    ax.set_xticks(range(len(names)), names)
    ax.set(xlabel="layer", ylabel="validation score", title="Each layer on validation (circled: chosen)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
