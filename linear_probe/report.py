"""What a probe leaves in its output folder: results.json, report.md, and the plots people would rather
see than read (a confusion matrix per single-label task, PR curves per tagging task)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ssl_audio.text import files_and_segments
from ssl_audio_linear_probe.bootstrap import HEAD_FAILED, MIN_ITEMS, TOO_FEW


def _fmt(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def interval(c: dict) -> str:
    """'+0.052[+0.011,+0.093]better': the difference, its bootstrap interval, the verdict (no spaces).
    Without a verdict, no interval either: '+1.269(too_few_test_files:2<20)', '-8.3(head_failed:mfcc)'."""
    if c["verdict"] == TOO_FEW:
        return f"{c['difference']:+.3f}(too_few_test_files:{c['items']}<{MIN_ITEMS})"
    if c["verdict"] == HEAD_FAILED:
        return f"{c['difference']:+.3f}(head_failed:{','.join(c['failed'])})"
    return f"{c['difference']:+.3f}[{c['low']:+.3f},{c['high']:+.3f}]{c['verdict'].replace(' ', '_')}"


def verdict_text(c: dict) -> str:
    """The report's words for a comparison's verdict."""
    if c["verdict"] == TOO_FEW:
        return f"too few test files to compare ({c['items']} < {MIN_ITEMS})"
    if c["verdict"] == HEAD_FAILED:
        return f"no verdict: the {' and '.join(c['failed'])} head failed (R² < 0)"
    return c["verdict"]


def grouping_words(results: dict) -> str:
    """What the split held out, as it really was: the groups by name, or that there were none."""
    group_by = results.get("group_by")
    if not group_by:
        return "no grouping column: files are independent only if no two share an artist"
    if results["leaks"]:
        return f"{group_by} SHARED between splits, see below"
    return f"{group_by} held out: none shared with the other splits"


def summary_lines(results: dict) -> list[str]:
    """`<dataset> <task> metric=<name> pretrained=<x> mfcc=<y> random=<z> pretrained_vs_mfcc=<interval> ...`,
    one line per task."""
    lines = []
    for task, r in results["tasks"].items():
        scores = " ".join(f"{kind}={_fmt(v['test'][r['metric']])}" for kind, v in r["by_features"].items())
        pairs = " ".join(f"{pair.replace('-', '_vs_')}={interval(c)}" for pair, c in r.get("comparisons", {}).items())
        layer = f" layer={results['layers']['chosen'][task]}" if results.get("layers") else ""
        lines.append(
            f"{results['dataset']} {task} metric={r['metric']}{layer} {scores}" + (f" {pairs}" if pairs else "")
        )
    return lines


def write_json(results: dict, out: Path) -> Path:
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=2, default=float) + "\n")
    return path


def write_markdown(results: dict, out: Path, plots: list[str]) -> Path:
    kinds = list(next(iter(results["tasks"].values()))["by_features"]) if results["tasks"] else []
    lines = [
        f"# Probe of {results['source']} on {results['dataset']}",
        "",
        f"Head: {results['head']}, "
        + (
            "on frozen features; learning rate and weight decay chosen on the "
            "validation split, early stopping on its metric"
            if results.get("mode", "frozen") == "frozen"
            else "with the encoders fine-tuned (MFCC stays frozen); the best validation step kept"
        )
        + f"; scores below are on the **test** split "
        f"({files_and_segments(results['split_counts']['test'])}; {grouping_words(results)}).",
        "",
        "| task | metric | " + " | ".join(kinds) + " |",
        "| --- | --- | " + " | ".join("---" for _ in kinds) + " |",
    ]
    for task, r in results["tasks"].items():
        lines.append(
            f"| {task} | {r['metric']} | "
            + " | ".join(_fmt(r["by_features"][k]["test"][r["metric"]]) for k in kinds)
            + " |"
        )
    lines += [
        "",
        "Features: "
        + "; ".join(f"**{k}** = {v['description']} ({v['dim']} dims)" for k, v in results["features"].items()),
        "",
    ]
    if any(r.get("comparisons") for r in results["tasks"].values()):
        lines += [
            "## Does pretraining help?",
            "",
            "Test-split difference (first minus second) with a paired bootstrap 95% interval over test files "
            "(linear_probe/bootstrap.py): *better* or *worse* only when the whole interval is on one side of 0, "
            f"and no verdict from fewer than {MIN_ITEMS} test files or from a head that failed. "
            "The interval is over files, not over pretraining seeds.",
            "",
            "| task | pair | difference | 95% interval | verdict |",
            "| --- | --- | --- | --- | --- |",
        ]
        for task, r in results["tasks"].items():
            for pair, c in r.get("comparisons", {}).items():
                shown = c["verdict"] not in (TOO_FEW, HEAD_FAILED)
                lines.append(
                    f"| {task} | {pair.replace('-', ' vs ')} | {c['difference']:+.3f} | "
                    + (f"[{c['low']:+.3f}, {c['high']:+.3f}]" if shown else "–")
                    + f" | {verdict_text(c)} |"
                )
        lines.append("")
    if results.get("layers"):
        layers = results["layers"]
        lines += [
            "## Each layer on validation",
            "",
            "Every block read out and scored on the validation split (`--layer all`); each task's test line uses "
            "its best layer (**bold**), random-init read out at the same layer.",
            "",
            "| task | " + " | ".join(layers["names"]) + " |",
            "| --- | " + " | ".join("---" for _ in layers["names"]) + " |",
        ]
        for task, scores in layers["validation"].items():
            cells = [
                f"**{_fmt(scores[n])}**" if n == layers["chosen"][task] else _fmt(scores[n]) for n in layers["names"]
            ]
            lines.append(f"| {task} | " + " | ".join(cells) + " |")
        lines.append("")
    if results["leaks"]:
        lines += [
            "## Shared groups",
            "",
            "These groups are in more than one split (allowed by the user), so the scores above are optimistic:",
            "",
            *[f"- {g}: {', '.join(s)}" for g, s in results["leaks"].items()],
            "",
        ]
    failures = [
        f"- {task}, {kind} head: {v['failed']}"
        for task, r in results["tasks"].items()
        for kind, v in r["by_features"].items()
        if v.get("failed")
    ]
    if failures:
        lines += ["## Heads that failed", "", *failures, ""]
    for task, r in results["tasks"].items():
        lines += [f"## {task} ({r['kind']})", ""]
        for kind, v in r["by_features"].items():
            lines.append(
                f"- {kind}: validation {r['metric']} {_fmt(v['validation'])} with lr {v['learning_rate']:g}, "
                f"weight decay {v['weight_decay']:g}, best at step {v['best_step']}; test: "
                + ", ".join(f"{m} {_fmt(x)}" for m, x in v["test"].items() if isinstance(x, float))
            )
        pretrained = r["by_features"].get("pretrained") or next(iter(r["by_features"].values()))
        per_class = pretrained["test"].get("per_class")
        if per_class:
            columns = [c for c in next(iter(per_class.values())) if c != "support"] + ["support"]
            lines += [
                "",
                f"Per class ({'pretrained' if 'pretrained' in r['by_features'] else kinds[0]}, test):",
                "",
                "| class | " + " | ".join(columns) + " |",
                "| --- | " + " | ".join("---" for _ in columns) + " |",
            ]
            for name, row in per_class.items():
                lines.append(
                    f"| {name} | "
                    + " | ".join(_fmt(row.get(c)) if c != "support" else str(row[c]) for c in columns)
                    + " |"
                )
        lines.append("")
    lines += ["## Plots", "", *[f"![{p}]({p})" for p in plots], ""]
    lines += [f"- {note}" for note in results.get("plot_notes", [])]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path


def plot_confusion(confusion: list[list[int]], names: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(confusion, dtype=float)
    normalised = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.5 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            if m[i, j]:
                ax.text(
                    j,
                    i,
                    int(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if normalised[i, j] > 0.5 else "black",
                )
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_pr_curves(y: np.ndarray, scores: np.ndarray, names: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = plt.subplots(figsize=(7, 5))
    for i, name in enumerate(names):
        if 0 < y[:, i].sum() < len(y):
            p, r, _ = precision_recall_curve(y[:, i], scores[:, i])
            ax.plot(r, p, label=f"{name} (AP {average_precision_score(y[:, i], scores[:, i]):.2f})")
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.02))
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_embedding_map(
    test_features: dict[str, np.ndarray],
    colourings: dict[str, tuple[np.ndarray, list[str]]],
    title: str,
    path: Path,
    seed: int = 0,
) -> None:
    """The test clips' features in 2-D, one row per feature kind, one column per (projection, label): PCA and
    t-SNE (scikit-learn), coloured by each single-label column (genre, mood). People judge a representation
    by looking at it: clusters that follow genre, or that follow nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    kinds, columns = list(test_features), list(colourings)
    panels = [(method, column) for method in ("PCA", "t-SNE") for column in columns]
    fig, axes = plt.subplots(len(kinds), len(panels), figsize=(3.2 * len(panels), 3.0 * len(kinds)), squeeze=False)
    for row, kind in enumerate(kinds):
        x = StandardScaler().fit_transform(np.asarray(test_features[kind], np.float64))
        n = len(x)
        maps = {"PCA": PCA(n_components=2, random_state=seed).fit_transform(x)}
        if n < 3:  # PCA needs 2 points per component's worth of spread, t-SNE a perplexity below n
            raise ValueError(f"{n} test clips are too few for a 2-D map")
        maps["t-SNE"] = TSNE(
            n_components=2, perplexity=min(30.0, max(1.0, (n - 1) / 3)), init="pca", random_state=seed
        ).fit_transform(x)
        for col, (method, column) in enumerate(panels):
            ax = axes[row, col]
            values, names = colourings[column]
            for k, name in enumerate(names):
                chosen = values == k
                ax.scatter(
                    maps[method][chosen, 0], maps[method][chosen, 1], s=9, label=name, color=plt.cm.tab10(k % 10)
                )
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{method}, by {column}", fontsize=9)
            if col == 0:
                ax.set_ylabel(kind)
            if row == len(kinds) - 1 and method == "PCA":
                ax.legend(fontsize=6, loc="best", markerscale=1.5, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
