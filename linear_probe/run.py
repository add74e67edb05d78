"""`ssl-audio probe`: frozen features of a pretrained encoder, of a randomly initialised one, and classical
MFCC descriptors, each with the same heads, on every labelled task of a dataset; one report.

Order of work: refuse what cannot be trusted first (an output folder that exists, an artist in two
splits), then extract or load features (cached), then fit and score the heads, then write the report.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ssl_audio.data.pipeline import DatasetHandle, label_values, open_dataset, split_counts
from ssl_audio.data.splits import find_leaks
from ssl_audio.errors import BadValueError, OutputExistsError, UsageError
from ssl_audio.models.registry import UnknownModelError
from ssl_audio.pretrained import load_encoder, random_encoder
from ssl_audio_linear_probe import features as F
from ssl_audio_linear_probe import metrics
from ssl_audio_linear_probe.bootstrap import compare_all
from ssl_audio_linear_probe.finetune import finetune
from ssl_audio_linear_probe.fit import fit_head
from ssl_audio_linear_probe.layers import plot_layers, sweep
from ssl_audio_linear_probe.report import (
    plot_confusion,
    plot_embedding_map,
    plot_pr_curves,
    write_json,
    write_markdown,
)

FEATURE_KINDS = ("pretrained", "mfcc", "random", "musicnn")
DEFAULT_FEATURES = ("pretrained", "mfcc", "random")  # musicnn: asked for (its package is an extra install)
# Fine-tuning defaults: one definition, for probe() and its flags.
FINETUNE_STEPS, FINETUNE_BATCH_SIZE, FINETUNE_LR, FINETUNE_EVAL_EVERY = 300, 32, 1e-4, 50
SPLITS = ("train", "validation", "test")
DEFAULT_GROUP_BY = "artist"
TEST_OUTPUTS = "test_outputs.npz"  # per task: `TASK.labels` and `TASK.KIND` (the head's scores), and `keys`


class ArtistLeakError(UsageError):
    """A group (artist) is in more than one split: the scores would be optimistic."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ssl_audio" / "features"


def task_columns(handle: DatasetHandle, task: str) -> list[str]:
    labelled = [c for c, kind in handle.columns.items() if kind in ("class", "multilabel", "value")]
    if task == "all":
        if not labelled:
            raise BadValueError(
                f"dataset {handle.name!r} has no labels to probe; give it a labels.csv and prepare again"
            )
        return labelled
    if task not in labelled:
        raise BadValueError(
            f"--task {task}: dataset {handle.name!r} has no such label; it has "
            f"{', '.join(labelled) or 'none'} (or use --task all)"
        )
    return [task]


def check_splits(handle: DatasetHandle, group_by: str | None, allow_shared: bool) -> tuple[str | None, dict]:
    """(the grouping column in force, groups found in more than one split). group_by None: 'artist' where the
    dataset has it, else no grouping; a column named by the user must exist. Shared groups are refused unless
    allowed."""
    missing = [s for s in SPLITS if s not in handle.splits]
    if missing:
        raise BadValueError(
            f"dataset {handle.name!r} has no {', '.join(missing)} split; probing needs train, "
            f"validation and test (prepare it with --splits, or a split column)"
        )
    if group_by is None:
        group_by = DEFAULT_GROUP_BY if DEFAULT_GROUP_BY in handle.columns else None
    elif group_by not in handle.columns:
        groups = [c for c, kind in handle.columns.items() if kind == "group"]
        raise BadValueError(
            f"--group-by {group_by}: dataset {handle.name!r} has no such column; its grouping columns are "
            f"{', '.join(groups) or 'none'} (leave --group-by out to use artist where there is one)"
        )
    if group_by is None:
        return None, {}
    shared = find_leaks(
        ((g, split) for split in SPLITS for g in label_values(handle, split, [group_by])[group_by]), involving="test"
    )
    if shared and not allow_shared:
        first, splits = next(iter(shared.items()))
        raise ArtistLeakError(
            f"{group_by} {first!r} is in {' and '.join(splits)} (and {len(shared) - 1} more "
            f"{group_by}s shared with test): scores would be optimistic. Rebuild the dataset with "
            f"`ssl-audio prepare --group-by {group_by}`, or pass --allow-shared-groups to "
            f"probe anyway (the report will say so)"
        )
    return group_by, shared


def head_failure(kind: str, metric: str, test_metrics: dict) -> str | None:
    """Why a head's test score is a failure rather than a finding: an R² below 0 predicts worse than the
    test split's own mean (a scale the head never fitted, or features that carry nothing of the value)."""
    value = test_metrics.get(metric)
    if kind == "value" and value is not None and np.isfinite(value) and value < 0:
        return (
            f"test R² {value:.3f} < 0: worse than predicting the mean; this head learnt nothing usable of the "
            "column (too few files, or a value the features do not carry)"
        )
    return None


def probe(
    checkpoint: str | Path,
    dataset: str,
    data_dir: str | Path,
    *,
    out: str | Path,
    task: str = "all",
    head: str = "linear",
    feature_kinds=DEFAULT_FEATURES,
    overwrite: bool = False,
    cache_dir: str | Path | None = None,
    hop_seconds: float | None = None,
    pooling: str = "mean",
    readout: str | None = None,
    group_by: str | None = None,
    allow_shared: bool = False,
    workers: int | None = None,
    mode: str = "frozen",
    finetune_steps: int = FINETUNE_STEPS,
    finetune_lr: float = FINETUNE_LR,
    finetune_batch_size: int = FINETUNE_BATCH_SIZE,
    finetune_eval_every: int = FINETUNE_EVAL_EVERY,
    progress: bool = True,
    say=print,
) -> dict:
    out = Path(out)
    # OUT holding only a stopped fine-tune (OUT/finetune, no results yet) is this command's: it resumes.
    if out.exists() and any(p.name != "finetune" for p in out.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out} already holds files; choose another --out or pass --overwrite")
    if mode not in ("frozen", "finetune"):
        raise BadValueError(f"--mode: 'frozen' or 'finetune', got {mode!r}")
    unknown = [k for k in feature_kinds if k not in FEATURE_KINDS]
    if unknown:
        raise BadValueError(f"--features: unknown {', '.join(unknown)}; choose from {', '.join(FEATURE_KINDS)}")
    every_layer = readout == "all"  # each task's layer chosen on validation (layers.py)
    try:
        encoder = load_encoder(checkpoint, readout=None if every_layer else readout)
    except UnknownModelError as err:
        raise BadValueError(f"--layer {readout}: {err}") from None
    handle = open_dataset(dataset, data_dir, sample_rate=encoder.sample_rate)
    columns = task_columns(handle, task)
    group_by, leaks = check_splits(handle, group_by, allow_shared)
    counts = split_counts(handle, SPLITS)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()

    layers = None
    if every_layer:
        if mode == "finetune":
            raise BadValueError("--layer all is for frozen heads; with --mode finetune give one --layer")
        layers = sweep(
            checkpoint, encoder, handle, columns, cache_dir, head=head, hop_seconds=hop_seconds, pooling=pooling,
            progress=progress, with_random="random" in feature_kinds, say=say,
        )  # fmt: skip
    extractors = {}
    if "pretrained" in feature_kinds:
        extractors["pretrained"] = (
            F.encoder_feature_id(encoder, hop_seconds, pooling),
            lambda s: F.encoder_features(
                encoder, handle, s, hop_seconds=hop_seconds, pooling=pooling, progress=progress
            ),
            f"{encoder.config.model.name} from {encoder.source}, {encoder.readout} read-out, {pooling} of "
            f"{encoder.window_seconds:g}-s windows",
        )
    if "mfcc" in feature_kinds:
        extractors["mfcc"] = (
            F.mfcc_feature_id(),
            lambda s: F.mfcc_features(handle, s, workers=workers, progress=progress),
            "20 MFCC + deltas, chroma, spectral contrast; mean and std (librosa)",
        )
    if "musicnn" in feature_kinds:
        from ssl_audio_linear_probe import musicnn_peer

        musicnn_peer.check_installed()  # one line before any feature is extracted
        extractors["musicnn"] = (
            musicnn_peer.feature_id(),
            lambda s: F.musicnn_features(handle, s, progress=progress),
            f"musicnn {musicnn_peer.MODEL} (supervised on the Million Song Dataset's tags): its "
            f"{musicnn_peer.LAYER} layer, mean over {musicnn_peer.PATCH_SECONDS:g}-s patches",
        )
    if "random" in feature_kinds:
        rand = random_encoder(encoder.config, seed=int(encoder.config.seed))
        extractors["random"] = (
            F.encoder_feature_id(rand, hop_seconds, pooling),
            lambda s: F.encoder_features(rand, handle, s, hop_seconds=hop_seconds, pooling=pooling, progress=progress),
            f"the same {encoder.config.model.name}, randomly initialised",
        )

    encoders = {"pretrained": encoder}
    if "random" in extractors:
        encoders["random"] = rand
    feats, described = {}, {}
    for kind, (feature_id, extract, description) in extractors.items():
        if mode == "finetune" and kind in encoders:  # trained end to end: no frozen features to extract
            feats[kind] = None
            described[kind] = {
                "description": description + ", fine-tuned with a head on each task",
                "dim": encoders[kind].embedding_size,
                "cache": None,
                "from_cache": False,
            }
            continue
        feats[kind] = {}
        hits = 0
        for split in SPLITS:
            feats[kind][split], hit = F.cached(
                cache_dir, handle, feature_id, split, lambda extract=extract, split=split: extract(split)
            )
            hits += hit
        described[kind] = {
            "description": description,
            "dim": int(feats[kind]["train"].x.shape[1]),
            "cache": str(cache_dir / f"{handle.name}-{F.dataset_fingerprint(handle)}" / feature_id),
            "from_cache": hits == len(SPLITS),
        }
        say(
            f"probe: {kind} features {described[kind]['dim']}-d "
            f"({'read from the cache' if hits == len(SPLITS) else 'extracted and cached'})"
        )

    out.mkdir(parents=True, exist_ok=True)
    results = {
        "dataset": handle.name,
        "source": encoder.source,
        "step": encoder.step,
        "checksum": encoder.checksum,
        "head": head,
        "mode": mode,
        "split_sizes": {s: handle.splits[s] for s in SPLITS},  # records (segments)
        "split_counts": counts,  # {split: {'files', 'segments'}}: the test split's files are what is resampled
        "group_by": group_by,
        "leaks": leaks,
        "features": described,
        "tasks": {},
    }
    plots: list[tuple[str, object]] = []  # (file name, a call that draws it): drawn once the results are written
    saved_outputs: dict[str, np.ndarray] = {}  # test scores per task and feature kind (test_outputs.npz)
    for column in columns:
        kind = handle.columns[column]
        names = handle.class_names.get(column)
        n_out = len(names) if kind in ("class", "multilabel") else 1
        main = metrics.MAIN_METRIC[kind]
        results["tasks"][column] = {"kind": kind, "metric": main, "by_features": {}}
        test_outputs, test_labels, failed = {}, None, []
        for fkind, splits in feats.items():
            if layers is not None and fkind in layers["features"]:  # this task's best layer on validation
                splits = layers["features"][fkind][layers["chosen"][column]]
            if splits is None:
                tuned = finetune(
                    encoders[fkind],
                    handle,
                    column,
                    names,
                    out / "finetune" / f"{column}-{fkind}",
                    head=head,
                    steps=finetune_steps,
                    batch_size=finetune_batch_size,
                    lr_encoder=finetune_lr,
                    lr_head=10 * finetune_lr,
                    eval_every=finetune_eval_every,
                    say=say,
                )
                scores, labels = tuned.test_scores, tuned.test_labels  # one row per file, as the frozen heads
                entry = {
                    "validation": tuned.validation,
                    "learning_rate": finetune_lr,
                    "weight_decay": 1e-4,
                    "best_step": tuned.best_step,
                    "search": tuned.history,
                    "fine_tuned": True,
                }
            else:
                train, val, test = (splits[s] for s in SPLITS)
                fitted = fit_head(kind, n_out, train.x, train.labels[column], val.x, val.labels[column], head=head)
                scores, labels = fitted.scores(test.x), test.labels[column]
                entry = {
                    "validation": fitted.validation,
                    "learning_rate": fitted.learning_rate,
                    "weight_decay": fitted.weight_decay,
                    "best_step": fitted.best_step,
                    "search": fitted.search,
                }
            test_metrics = metrics.score(kind, labels, scores, names)
            failure = head_failure(kind, main, test_metrics)
            if failure:
                entry["failed"] = failure
                failed.append(fkind)
            results["tasks"][column]["by_features"][fkind] = {**entry, "test": test_metrics}
            if test_labels is not None and not np.array_equal(np.asarray(test_labels), np.asarray(labels)):
                raise RuntimeError(
                    f"{column}: the {fkind} head saw the test clips in another order; the paired "
                    "bootstrap needs one order"
                )
            test_outputs[fkind], test_labels = np.asarray(scores), np.asarray(labels)
            saved_outputs[f"{column}.{fkind}"] = test_outputs[fkind]
            saved_outputs[f"{column}.labels"] = test_labels
            if fkind == "pretrained" or (fkind == next(iter(feats)) and "pretrained" not in feats):
                title = f"{column}, {fkind} features (test)"
                if kind == "class":
                    name = f"confusion_{column}.png"
                    confusion = test_metrics["confusion"]
                    plots.append((name, lambda c=confusion, n=names, t=title, f=out / name: plot_confusion(c, n, t, f)))
                elif kind == "multilabel":
                    name = f"pr_curves_{column}.png"
                    plots.append(
                        (name, lambda y=labels, s=scores, n=names, t=title, f=out / name: plot_pr_curves(y, s, n, t, f))
                    )
        # Which differences the test split can tell apart: paired bootstrap intervals (bootstrap.py).
        results["tasks"][column]["comparisons"] = compare_all(kind, main, test_labels, test_outputs, failed=failed)
    frozen = {k: v["test"].x for k, v in feats.items() if v is not None}
    colourings = {}
    if frozen:  # single-label columns colour the map (genre, mood); the labels are the same for every kind
        labels = next(v for v in feats.values() if v is not None)["test"].labels
        colourings = {c: (v, handle.class_names[c]) for c, v in labels.items() if handle.columns.get(c) == "class"}
    if frozen and colourings:
        title = f"{handle.name}: test clips, each feature kind"
        plots.append(
            ("embedding_map.png", lambda: plot_embedding_map(frozen, colourings, title, out / "embedding_map.png"))
        )
    if frozen:
        saved_outputs["keys"] = next(v for v in feats.values() if v is not None)["test"].keys
    if layers is not None:
        results["layers"] = {k: layers[k] for k in ("names", "validation", "chosen")}
        metric_of = {c: results["tasks"][c]["metric"] for c in columns}
        plots.append(
            ("layers.png", lambda: plot_layers(layers["validation"], layers["chosen"], metric_of, out / "layers.png"))
        )
    # Every head's test scores, so that runs can be compared clip by clip later (several pretraining seeds
    # in one interval: studies.seeds_table) without fitting the heads again.
    np.savez(out / TEST_OUTPUTS, **saved_outputs)
    results["test_outputs"] = TEST_OUTPUTS
    write_json(results, out)
    write_markdown(results, out, [])  # the results are on disk before any plot is tried
    drawn = draw_plots(plots, results, say)
    write_json(results, out)
    write_markdown(results, out, drawn)
    return results


def draw_plots(plots: list[tuple[str, object]], results: dict, say=print) -> list[str]:
    """Draws each plot; one that cannot be drawn (a split too small for t-SNE, a matplotlib failure) is a line
    in results['plot_notes'] and on the screen, never a lost result. Returns the plots drawn."""
    drawn = []
    for name, draw in plots:
        try:
            draw()
            drawn.append(name)
        except Exception as err:  # a plot is a view of the results, not a result: it must never cost them
            note = f"{name} not drawn ({type(err).__name__}: {' '.join(str(err).split())})"
            results.setdefault("plot_notes", []).append(note)
            say(f"probe: note: {note}")
    return drawn
