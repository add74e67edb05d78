"""`ssl-audio probe`: its flags, turned into one call of ssl_audio_linear_probe.run."""

from __future__ import annotations

import os

from ssl_audio.commands.flags import add_layer_argument, positive_float, positive_int
from ssl_audio.embed.pooling import POOLINGS
from ssl_audio.errors import BadValueError
from ssl_audio.text import files_and_segments
from ssl_audio_linear_probe.bootstrap import MIN_ITEMS
from ssl_audio_linear_probe.report import grouping_words, summary_lines
from ssl_audio_linear_probe.run import (
    DEFAULT_FEATURES,
    FEATURE_KINDS,
    FINETUNE_BATCH_SIZE,
    FINETUNE_EVAL_EVERY,
    FINETUNE_LR,
    FINETUNE_STEPS,
    default_cache_dir,
    probe,
)

DESCRIPTION = (
    "Embed every clip of a prepared dataset with a pretrained encoder (windows pooled per clip; "
    "cached), fit heads on the train split, choose learning rate and weight decay and stop early on "
    "validation, and score the test split. The same heads run on MFCC descriptors and on a randomly "
    "initialised encoder, side by side. Writes results.json, report.md and plots to --out; prints one "
    "line per task last: `DATASET TASK metric=M pretrained=x mfcc=y random=z`, then per pair the test "
    "difference with its paired-bootstrap 95% interval over test files and verdict "
    "(`pretrained_vs_mfcc=+0.05[+0.01,+0.09]better`); from fewer than "
    f"{MIN_ITEMS} test files, or from a head that failed "
    "(R² < 0), no interval and no verdict (`+1.269(too_few_test_files:2<20)`)."
)


def add_arguments(p) -> None:
    from ssl_audio.commands.flags import add_checkpoint_argument, add_data_dir_argument

    add_checkpoint_argument(p)
    p.add_argument("--dataset", required=True, help="dataset name given to `ssl-audio prepare`")
    add_data_dir_argument(p)
    p.add_argument(
        "--task",
        default="all",
        help="a label column (genre, mood, instruments, tags, valence, arousal, or one of the dataset's own) "
        "or all (default all)",
    )
    p.add_argument("--head", choices=("linear", "mlp"), default="linear", help="head on the features (default linear)")
    p.add_argument(
        "--mode",
        choices=("frozen", "finetune"),
        default="frozen",
        help="frozen: heads on cached features; finetune: the encoder (pretrained and random-init) is "
        "trained too, with its own smaller learning rate; checkpoints in OUT/finetune/ "
        "(default frozen)",
    )
    p.add_argument(
        "--finetune-steps",
        type=positive_int,
        default=FINETUNE_STEPS,
        help=f"finetune: training steps per task (default {FINETUNE_STEPS})",
    )
    p.add_argument(
        "--finetune-batch-size",
        type=positive_int,
        default=FINETUNE_BATCH_SIZE,
        help=f"finetune: clips per step (default {FINETUNE_BATCH_SIZE})",
    )
    p.add_argument(
        "--finetune-lr",
        type=float,
        default=FINETUNE_LR,
        help=f"finetune: encoder learning rate; the head's is 10x (default {FINETUNE_LR:g})",
    )
    p.add_argument(
        "--finetune-eval-every",
        type=positive_int,
        default=FINETUNE_EVAL_EVERY,
        help="finetune: score validation (and checkpoint) every N steps; the best step's weights are tested "
        f"(default {FINETUNE_EVAL_EVERY})",
    )
    p.add_argument(
        "--features",
        default=None,
        help=f"comma list of {', '.join(FEATURE_KINDS)} (default {','.join(DEFAULT_FEATURES)}); musicnn: the "
        "supervised peer (musicnn's MSD model, its weights in its PyPI package: pip install --no-deps "
        "musicnn==0.1.0 tf-keras, which `make setup` does)",
    )
    p.add_argument(
        "--peers",
        default=None,
        metavar="LIST",
        help="the baselines beside the pretrained features, a comma list of mfcc, random, musicnn: the same as "
        "--features pretrained,LIST",
    )
    p.add_argument("--out", required=True, help="output folder (refused if it holds files, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="write into an --out that already holds files")
    p.add_argument("--cache-dir", default=None, help=f"feature cache (default {default_cache_dir()})")
    p.add_argument("--hop-seconds", type=positive_float, default=None, help="hop between windows (default: the window)")
    p.add_argument(
        "--pooling",
        choices=POOLINGS,
        default="mean",
        help="window embeddings -> clip (default mean; mean+std and mean+max concatenate two, 2D)",
    )
    add_layer_argument(p, all_layers=True)
    p.add_argument(
        "--group-by",
        default=None,
        help="column that must not be shared by test and other splits (default: artist where the dataset has "
        "it, else none; the report says which)",
    )
    p.add_argument(
        "--allow-shared-groups",
        action="store_true",
        help="probe even if a group (artist) is in test and another split (e.g. MagnaTagATune's split)",
    )
    p.add_argument(
        "--workers", type=positive_int, default=None, help="processes for MFCC extraction (default: all cores)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def feature_kinds(args) -> tuple[str, ...]:
    """What --features or --peers asks for (one of them at most; neither: the default kinds)."""
    if args.features is not None and args.peers is not None:
        raise BadValueError("give --features or --peers, not both (--peers LIST is --features pretrained,LIST)")
    spec = args.features if args.peers is None else f"pretrained,{args.peers}"
    spec = ",".join(DEFAULT_FEATURES) if spec is None else spec
    return tuple(dict.fromkeys(k.strip() for k in spec.split(",") if k.strip()))


def run(args) -> int:
    kinds = feature_kinds(args)
    results = probe(
        args.checkpoint,
        args.dataset,
        args.data_dir,
        out=args.out,
        task=args.task,
        head=args.head,
        feature_kinds=kinds,
        overwrite=args.overwrite,
        cache_dir=args.cache_dir,
        hop_seconds=args.hop_seconds,
        pooling=args.pooling,
        readout=args.layer,
        group_by=args.group_by,
        allow_shared=args.allow_shared_groups,
        workers=args.workers,
        mode=args.mode,
        finetune_steps=args.finetune_steps,
        finetune_lr=args.finetune_lr,
        finetune_batch_size=args.finetune_batch_size,
        finetune_eval_every=args.finetune_eval_every,
        progress=not args.quiet,
    )
    print(
        f"probe: report in {os.path.join(args.out, 'report.md')}, numbers in {os.path.join(args.out, 'results.json')}"
    )
    test = results["split_counts"]["test"]
    print(
        f"probe: test split {files_and_segments(test)}, {grouping_words(results)}; intervals resample files, "
        f"no verdict from fewer than {MIN_ITEMS}"
    )
    for line in summary_lines(results):
        print(line)
    return 0
