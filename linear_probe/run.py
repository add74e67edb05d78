"""`ssl-audio probe`: frozen features of a pretrained encoder, of a randomly initialised one, and classical
MFCC descriptors, each with the same heads, on every labelled task of a dataset; one report.

Order of work: refuse what cannot be trusted first (an output folder that exists, an artist in two
splits), then extract or load features (cached), then fit and score the heads, then write the report.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from linear_probe import features as F
from linear_probe import metrics
from linear_probe.finetune import finetune
from linear_probe.fit import fit_head
from linear_probe.report import plot_confusion, plot_pr_curves, summary_lines, write_json, write_markdown
from ssl_audio.data.pipeline import DatasetHandle, open_dataset
from ssl_audio.errors import OutputExistsError, SslAudioError
from ssl_audio.pretrained import load_encoder, random_encoder

FEATURE_KINDS = ("pretrained", "mfcc", "random")
SPLITS = ("train", "validation", "test")


class ArtistLeakError(SslAudioError):
    """A group (artist) is in more than one split: the scores would be optimistic."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ssl_audio" / "features"


def task_columns(handle: DatasetHandle, task: str) -> list[str]:
    labelled = [c for c, kind in handle.columns.items() if kind in ("class", "multilabel", "value")]
    if task == "all":
        if not labelled:
            raise ValueError(f"dataset {handle.name!r} has no labels to probe; give it a labels.csv and prepare again")
        return labelled
    if task not in labelled:
        raise ValueError(f"--task {task}: dataset {handle.name!r} has no such label; it has "
                         f"{', '.join(labelled) or 'none'} (or use --task all)")
    return [task]


def check_splits(handle: DatasetHandle, group_by: str, allow_shared: bool) -> dict[str, list[str]]:
    """Groups (artists) found in more than one split; refused unless allowed."""
    missing = [s for s in SPLITS if s not in handle.splits]
    if missing:
        raise ValueError(f"dataset {handle.name!r} has no {', '.join(missing)} split; probing needs train, "
                         f"validation and test (prepare it with --splits, or a split column)")
    if group_by not in handle.columns:
        return {}
    seen: dict[str, set[str]] = {}
    for split in SPLITS:
        source = handle.source(split)
        for i in range(len(source)):
            value = source[i][group_by]
            seen.setdefault(value.decode() if isinstance(value, bytes) else str(value), set()).add(split)
    shared = {g: sorted(s) for g, s in sorted(seen.items()) if len(s) > 1 and "test" in s}
    if shared and not allow_shared:
        first, splits = next(iter(shared.items()))
        raise ArtistLeakError(f"{group_by} {first!r} is in {' and '.join(splits)} (and {len(shared) - 1} more "
                              f"{group_by}s shared with test): scores would be optimistic. Rebuild the dataset with "
                              f"`ssl-audio prepare --group-by {group_by}`, or pass --allow-shared-groups to "
                              f"probe anyway (the report will say so)")
    return shared


def probe(checkpoint: str | Path, dataset: str, data_dir: str | Path, *, out: str | Path, task: str = "all",
          head: str = "linear", feature_kinds=FEATURE_KINDS, overwrite: bool = False,
          cache_dir: str | Path | None = None, hop_seconds: float | None = None, pooling: str = "mean",
          group_by: str = "artist", allow_shared: bool = False, workers: int | None = None,
          mode: str = "frozen", finetune_steps: int = 300, finetune_lr: float = 1e-4, finetune_batch_size: int = 32,
          progress: bool = True, say=print) -> dict:
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(f"{out} already holds files; choose another --out or pass --overwrite")
    if mode not in ("frozen", "finetune"):
        raise ValueError(f"--mode: 'frozen' or 'finetune', got {mode!r}")
    unknown = [k for k in feature_kinds if k not in FEATURE_KINDS]
    if unknown:
        raise ValueError(f"--features: unknown {', '.join(unknown)}; choose from {', '.join(FEATURE_KINDS)}")
    encoder = load_encoder(checkpoint)
    handle = open_dataset(dataset, data_dir, sample_rate=encoder.sample_rate)
    columns = task_columns(handle, task)
    leaks = check_splits(handle, group_by, allow_shared)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()

    extractors = {}
    if "pretrained" in feature_kinds:
        extractors["pretrained"] = (F.encoder_feature_id(encoder, hop_seconds, pooling),
                                    lambda s: F.encoder_features(encoder, handle, s, hop_seconds=hop_seconds,
                                                                 pooling=pooling, progress=progress),
                                    f"{encoder.config.model.name} from {encoder.source}, {pooling} of "
                                    f"{encoder.window_seconds:g}-s windows")
    if "mfcc" in feature_kinds:
        extractors["mfcc"] = (F.mfcc_feature_id(), lambda s: F.mfcc_features(handle, s, workers=workers,
                                                                             progress=progress),
                              "20 MFCC + deltas, chroma, spectral contrast; mean and std (librosa)")
    if "random" in feature_kinds:
        rand = random_encoder(encoder.config, seed=int(encoder.config.seed))
        extractors["random"] = (F.encoder_feature_id(rand, hop_seconds, pooling),
                                lambda s: F.encoder_features(rand, handle, s, hop_seconds=hop_seconds,
                                                             pooling=pooling, progress=progress),
                                f"the same {encoder.config.model.name}, randomly initialised")

    encoders = {"pretrained": encoder}
    if "random" in extractors:
        encoders["random"] = rand
    feats, described = {}, {}
    for kind, (feature_id, extract, description) in extractors.items():
        if mode == "finetune" and kind in encoders:  # trained end to end: no frozen features to extract
            feats[kind] = None
            described[kind] = {"description": description + ", fine-tuned with a head on each task",
                               "dim": encoders[kind].embedding_size, "cache": None, "from_cache": False}
            continue
        feats[kind] = {}
        hits = 0
        for split in SPLITS:
            feats[kind][split], hit = F.cached(cache_dir, handle, feature_id, split, lambda: extract(split))
            hits += hit
        described[kind] = {"description": description, "dim": int(feats[kind]["train"].x.shape[1]),
                           "cache": str(cache_dir / f"{handle.name}-{F.dataset_fingerprint(handle)}" / feature_id),
                           "from_cache": hits == len(SPLITS)}
        say(f"probe: {kind} features {described[kind]['dim']}-d "
            f"({'read from the cache' if hits == len(SPLITS) else 'extracted and cached'})")

    out.mkdir(parents=True, exist_ok=True)
    results = {"dataset": handle.name, "source": encoder.source, "step": encoder.step, "checksum": encoder.checksum,
               "head": head, "mode": mode, "split_sizes": {s: handle.splits[s] for s in SPLITS}, "leaks": leaks,
               "features": described, "tasks": {}}
    plots = []
    for column in columns:
        kind = handle.columns[column]
        names = handle.class_names.get(column)
        n_out = len(names) if kind in ("class", "multilabel") else 1
        main = metrics.MAIN_METRIC[kind]
        results["tasks"][column] = {"kind": kind, "metric": main, "by_features": {}}
        for fkind, splits in feats.items():
            if splits is None:
                tuned = finetune(encoders[fkind], handle, column, names, out / "finetune" / f"{column}-{fkind}",
                                 head=head, steps=finetune_steps, batch_size=finetune_batch_size,
                                 lr_encoder=finetune_lr, lr_head=10 * finetune_lr,
                                 say=say)
                scores, labels = tuned.test_scores, tuned.test_labels
                entry = {"validation": tuned.validation, "learning_rate": finetune_lr, "weight_decay": 1e-4,
                         "best_step": tuned.best_step, "search": tuned.history, "fine_tuned": True}
            else:
                train, val, test = (splits[s] for s in SPLITS)
                fitted = fit_head(kind, n_out, train.x, train.labels[column], val.x, val.labels[column], names,
                                  head=head)
                scores, labels = fitted.scores(test.x), test.labels[column]
                entry = {"validation": fitted.validation, "learning_rate": fitted.learning_rate,
                         "weight_decay": fitted.weight_decay, "best_step": fitted.best_step, "search": fitted.search}
            test_metrics = metrics.score(kind, labels, scores, names)
            results["tasks"][column]["by_features"][fkind] = {**entry, "test": test_metrics}
            if fkind == "pretrained" or (fkind == next(iter(feats)) and "pretrained" not in feats):
                if kind == "class":
                    name = f"confusion_{column}.png"
                    plot_confusion(test_metrics["confusion"], names, f"{column}, {fkind} features (test)", out / name)
                    plots.append(name)
                elif kind == "multilabel":
                    name = f"pr_curves_{column}.png"
                    plot_pr_curves(labels, scores, names, f"{column}, {fkind} features (test)",
                                   out / name)
                    plots.append(name)
    write_json(results, out)
    write_markdown(results, out, plots)
    return results


