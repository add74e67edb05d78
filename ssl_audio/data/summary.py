"""`ssl-audio info`: what a prepared dataset holds, in a few lines (and one PNG if asked).

Reads labels only (never audio) for the counts, then one pretraining batch to
prove the reading path works end to end.
"""

from __future__ import annotations

import collections
import os

import numpy as np

from ssl_audio.data.pipeline import label_values, open_dataset, pretrain_loader, split_counts
from ssl_audio.data.splits import find_leaks
from ssl_audio.text import files_and_segments


def label_counts(handle) -> dict[str, dict[str, collections.Counter]]:
    """{split: {column: Counter(label name)}} for class/multilabel/group columns (no audio is decoded)."""
    out = {}
    counted = [c for c, kind in handle.columns.items() if kind in ("class", "multilabel", "group")]
    for split in handle.splits:
        counts = {}
        for column, values in label_values(handle, split, counted).items():
            kind, counter = handle.columns[column], collections.Counter()
            counts[column] = counter
            for value in values:
                if kind == "class":
                    counter[handle.class_names[column][int(value)]] += 1
                elif kind == "multilabel":
                    counter.update(handle.class_names[column][int(v)] for v in value)
                else:
                    counter[str(value)] += 1
        out[split] = counts
    return out


def describe(name: str, data_dir: str | os.PathLike, plot: str | None = None, crop_seconds: float = 1.0) -> list[str]:
    handle = open_dataset(name, data_dir)
    lines = [
        f"dataset {name}: {handle.path}",
        f"  sample rate {handle.sample_rate} Hz; splits: "
        + ", ".join(f"{s} {files_and_segments(c)}" for s, c in split_counts(handle).items()),
    ]
    counts = label_counts(handle)
    for column, kind in handle.columns.items():
        if kind in ("class", "multilabel"):
            names = handle.class_names[column]
            lines.append(f"  {column} ({kind}, {len(names)}): " + ", ".join(names))
            for split, per_column in counts.items():
                c = per_column[column]
                lines.append(f"    {split:<10} " + " ".join(f"{n}={c[n]}" for n in names))
        elif kind == "group":
            groups = {split: set(per_column[column]) for split, per_column in counts.items()}
            shared = find_leaks((g, split) for split, members in groups.items() for g in members)
            lines.append(
                f"  {column}: "
                + ", ".join(f"{s} {len(g)}" for s, g in groups.items())
                + (f"; shared between splits: {len(shared)}" if shared else "; none shared between splits")
            )
        elif kind == "value":
            lines.append(f"  {column}: continuous value")
    train = "train" if "train" in handle.splits else next(iter(handle.splits))
    batch_size = min(4, handle.splits[train])
    it = iter(
        pretrain_loader(
            handle,
            split=train,
            global_batch_size=batch_size,
            crop_seconds=crop_seconds,
            seed=0,
            shard_index=0,
            shard_count=1,
        )
    )
    batch = next(it)
    a = batch["view_a"]
    # Two identical views are a positive pair any model matches without learning (clips shorter than the crop
    # used to give exactly that), so say how many pairs differ.
    differ = sum(not np.array_equal(x, y) for x, y in zip(batch["view_a"], batch["view_b"]))
    lines.append(
        f"  pretraining view: view_a/view_b {tuple(a.shape)} {a.dtype}, "
        f"peak {float(np.abs(a).max()):.2f}, rms {float(np.sqrt((a**2).mean())):.3f}; "
        f"the two views differ in {differ} of {len(a)} pairs"
    )
    if plot:
        if _plot(handle, counts, plot):
            lines.append(f"  label counts plotted to {plot}")
        else:
            lines.append(f"  no plot written to {plot}: the dataset has no class or multilabel column to count")
    return lines


def _plot(handle, counts, path: str) -> bool:
    """Bars of label counts per split; False (nothing written) when there are no labels to count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c, k in handle.columns.items() if k in ("class", "multilabel")]
    if not columns:
        return False
    fig, axes = plt.subplots(len(columns), 1, figsize=(10, 2.8 * len(columns)), squeeze=False)
    for ax, column in zip(axes[:, 0], columns):
        names = handle.class_names[column]
        x = np.arange(len(names))
        width = 0.8 / max(1, len(counts))
        for i, (split, per_column) in enumerate(counts.items()):
            ax.bar(x + i * width, [per_column[column][n] for n in names], width, label=split)
        ax.set_xticks(x + 0.4 - width / 2, names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{handle.name}: {column}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True
