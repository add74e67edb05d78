"""`ssl-audio`: one command, one subcommand per job.

Each subcommand's arguments and its work live in the module that does the job;
this file only parses, dispatches, and turns expected failures into one-line
errors (exit 2) instead of tracebacks.
"""

from __future__ import annotations

import argparse
import os
import sys

# Quiet TensorFlow's C++ start-up chatter before anything imports it. TF only serves TFDS here (writing and
# reading dataset files), so oneDNN's kernels, whose banner is the noisiest line, buy us nothing.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def _decode_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample-rate", type=int, default=16_000, help="target sample rate in Hz (default 16000)")
    p.add_argument("--min-seconds", type=float, default=1.0,
                   help="files shorter than this are skipped as bad (default 1.0)")
    p.add_argument("--silence-dbfs", type=float, default=-60.0,
                   help="files whose peak is below this level are skipped as silent (default -60)")


def _checkpoint_arg(p: argparse.ArgumentParser, required: bool = True, only: str = "") -> None:
    p.add_argument("--checkpoint", required=required, default=None,
                   help=f"{only}a pretraining workdir (its latest checkpoint) or WORKDIR/checkpoints/STEP")


def _decode_options(args):
    from ssl_audio.audio.decode import DecodeOptions
    return DecodeOptions(sample_rate=args.sample_rate, min_seconds=args.min_seconds, silence_dbfs=args.silence_dbfs)


def cmd_synth(args) -> int:
    from ssl_audio.synth.generate import SynthOptions, synth_dataset
    opt = SynthOptions(clips=args.clips, seed=args.seed, seconds=args.seconds, sample_rate=args.sample_rate,
                       format=args.format, artists_per_genre=args.artists_per_genre)
    result = synth_dataset(args.out, opt, workers=args.workers, overwrite=args.overwrite, progress=not args.quiet)
    total = result.rendered + result.reused
    print(f"synth: {total} clips of {opt.seconds:g} s in {result.out} ({result.rendered} rendered, "
          f"{result.reused} already there) in {result.seconds_taken:.1f} s"
          + (f" = {result.clips_per_second:.1f} clips/s" if result.rendered else ""))
    print("  genres: " + ", ".join(f"{k} {v}" for k, v in result.genres.items()))
    print("  moods:  " + ", ".join(f"{k} {v}" for k, v in result.moods.items()))
    print(f"  artists: {result.artists}; labels in {result.out / 'labels.csv'}")
    return 0


def cmd_scan(args) -> int:
    from ssl_audio.audio.scan import scan_folder, write_json
    options = _decode_options(args)
    summary = scan_folder(args.input, options, workers=args.workers, progress=not args.quiet)
    for line in summary.lines(options.sample_rate):
        print(line)
    if args.json:
        write_json(summary, args.json)
        print(f"  report written to {args.json}")
    return 1 if (args.strict and summary.bad) else 0


def cmd_prepare(args) -> int:
    from ssl_audio.data.prepare import PrepareOptions, prepare
    from ssl_audio.data.splits import parse_fractions
    _quiet_absl()
    opt = PrepareOptions(name=args.name, data_dir=args.data_dir, layout=args.layout, group_by=args.group_by,
                         fractions=parse_fractions(args.splits) if args.splits else None,
                         split_seed=args.split_seed, decode=_decode_options(args), workers=args.workers)
    result = prepare(args.input, opt, overwrite=args.overwrite)
    for line in result.lines():
        print(line)
    return 0


def cmd_info(args) -> int:
    from ssl_audio.data.summary import describe
    _quiet_absl()
    for line in describe(args.dataset, args.data_dir, plot=args.plot):
        print(line)
    return 0


def cmd_bench(args) -> int:
    if args.what == "augment" and (args.config or args.devices or args.overrides):
        raise ValueError("bench augment: --config, --devices and --config.KEY overrides belong to bench step "
                         "and bench embed")
    if args.what == "augment":
        from ssl_audio.augment.bench import run
        for line in run(batch=args.batch or 64, seconds=args.seconds, repeats=args.repeats, workers=args.workers):
            print(line, flush=True)
    elif args.what == "embed":
        from ssl_audio.embed.bench import run
        from ssl_audio.embed.model import EmbeddingModel, load_model
        if bool(args.checkpoint) == bool(args.config):
            raise ValueError("bench embed: give --checkpoint (e.g. runs/demo/pretrain), or --config for a "
                             "random-init encoder of that config's size")
        if args.checkpoint:
            model = load_model(args.checkpoint, batch_size=args.batch or 64)
        else:
            from pretrain.config import load_config
            from ssl_audio.pretrained import random_encoder
            model = EmbeddingModel(random_encoder(load_config(args.config, args.overrides)),
                                   batch_size=args.batch or 64)
        for line in run(model, args.input, files=args.files, repeats=args.repeats, workers=args.workers):
            print(line, flush=True)
    elif args.what == "step":
        if not args.config:
            raise ValueError("bench step: give --config, e.g. --config configs/simclr_logmel_cnn.py:tiny")
        if args.devices and args.devices > 1:
            # On a CPU-only machine, N simulated devices; read when the backend starts, so set before that.
            flag = f"--xla_force_host_platform_device_count={args.devices}"
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()
        from pretrain.bench import report, run
        overrides = list(args.overrides) + ([f"--config.batch_size={args.batch}"] if args.batch else [])
        for line in report(run(args.config, overrides, devices=args.devices, steps=args.repeats,
                               peak=args.peak_tflops)):
            print(line, flush=True)
    return 0


def cmd_pretrain(args) -> int:
    from ssl_audio.distributed import initialize
    initialize(args.coordinator_address, args.num_processes, args.process_id)  # before any device is touched
    import jax
    from pretrain.config import load_config
    from pretrain.metrics_log import METRICS_FILE, PLOT_FILE, read_metrics
    from pretrain.train import train
    from ssl_audio.pretrained import CHECKPOINT_DIR

    config = load_config(args.config, args.overrides)
    if args.no_progress:
        config.progress = False
    result = train(config, args.workdir)
    if jax.process_index() == 0:
        logged = read_metrics(result.workdir)
        curve = (f"; loss {logged[0]['loss']:.3f} at step {logged[0]['step']} -> {logged[-1]['loss']:.3f} at step "
                 f"{logged[-1]['step']}" if logged else "")
        how = f" (stopped by {result.stopped_by})" if result.stopped_by else ""
        print(f"pretrain: step {result.final_step}/{result.total_steps}{how} in {result.seconds:.0f} s{curve}")
        print(f"  checkpoint: {result.workdir / CHECKPOINT_DIR / str(result.checkpoint_step)}; metrics: "
              f"{result.workdir / METRICS_FILE}; loss curve: {result.workdir / PLOT_FILE}; "
              f"TensorBoard: {result.workdir / 'tensorboard'}")
    if jax.process_count() > 1:
        print(f"process {jax.process_index()}/{jax.process_count()}: params_fingerprint={result.params_fingerprint}")
    return 0


def cmd_probe(args) -> int:
    from linear_probe.run import probe, summary_lines
    kinds = tuple(k.strip() for k in args.features.split(",") if k.strip())
    results = probe(args.checkpoint, args.dataset, args.data_dir, out=args.out, task=args.task, head=args.head,
                    feature_kinds=kinds, overwrite=args.overwrite, cache_dir=args.cache_dir,
                    hop_seconds=args.hop_seconds, pooling=args.pooling, group_by=args.group_by,
                    allow_shared=args.allow_shared_groups, workers=args.workers, mode=args.mode,
                    finetune_steps=args.finetune_steps, finetune_lr=args.finetune_lr,
                    finetune_batch_size=args.finetune_batch_size, progress=not args.quiet)
    print(f"probe: report in {os.path.join(args.out, 'report.md')}, numbers in "
          f"{os.path.join(args.out, 'results.json')}")
    for line in summary_lines(results):
        print(line)
    return 0


def cmd_embed(args) -> int:
    from ssl_audio.embed.export import export
    from ssl_audio.embed.model import load_model
    model = load_model(args.checkpoint, window_seconds=args.window_seconds, hop_seconds=args.hop_seconds,
                       pooling=args.pooling, batch_size=args.batch_size)
    result = export(model, args.input, args.output, fmt=args.format, windows=args.windows,
                    overwrite=args.overwrite, retry_errors=args.retry_errors, workers=args.workers,
                    progress=not args.quiet)
    for line in result.lines():
        print(line)
    return 0


def cmd_export_savedmodel(args) -> int:
    from ssl_audio.embed.savedmodel import export_savedmodel
    result = export_savedmodel(args.checkpoint, args.out, hop_seconds=args.hop_seconds, overwrite=args.overwrite)
    for line in result.lines():
        print(line)
    return 0


def cmd_augment_preview(args) -> int:
    from ssl_audio.augment.preview import preview
    written = preview(args.input, args.out, views=args.views, seconds=args.seconds, seed=args.seed,
                      overwrite=args.overwrite)
    print(f"augment-preview: {len(written) - 2} augmented views of {args.input} in {args.out}")
    for path in written:
        print(f"  {path}")
    return 0


def _quiet_absl() -> None:
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.ERROR)


def build_parser() -> argparse.ArgumentParser:
    from ssl_audio import __version__
    from ssl_audio.data.layouts import LAYOUTS
    from ssl_audio.data.prepare import default_data_dir

    parser = argparse.ArgumentParser(
        prog="ssl-audio",
        description="Self-supervised audio representations for music: make or prepare data, pretrain, "
                    "probe, export embeddings.",
        epilog="Run `ssl-audio COMMAND --help` for the options of each command.")
    parser.add_argument("--version", action="version", version=f"ssl-audio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("synth", help="render the embedded labelled music dataset (offline, from MIDI)",
                       description="Render multi-instrument music from MIDI with the General MIDI soundfont that "
                                   "ships with pretty_midi: 10 genres, 4 moods, instrument families, artists. "
                                   "Writes OUT/clips/*.wav and OUT/labels.csv. Rerunning with the same settings "
                                   "resumes; the same --seed always gives the same audio.")
    p.add_argument("--out", required=True, help="output folder (created; refused if it holds other files)")
    p.add_argument("--clips", type=int, required=True, help="number of clips to render")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--seconds", type=float, default=10.0, help="clip length in seconds (default 10)")
    p.add_argument("--sample-rate", type=int, default=16_000, help="sample rate in Hz (default 16000)")
    p.add_argument("--format", choices=("wav", "flac"), default="wav", help="audio file format (default wav)")
    p.add_argument("--artists-per-genre", type=int, default=6, help="artist personas per genre (default 6)")
    p.add_argument("--workers", type=int, default=None, help="processes to render with (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing synth dataset in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("scan", help="report a folder's audio and its bad files before training on it",
                       description="Decode every audio file under a folder and report count, hours, sample rates, "
                                   "channels, formats and each bad file (corrupt, empty, NaN/inf, too short, "
                                   "silent) with its reason. Nothing is written unless --json is given.")
    p.add_argument("input", help="folder of audio (searched recursively)")
    _decode_args(p)
    p.add_argument("--json", help="also write the full report to this JSON file")
    p.add_argument("--strict", action="store_true", help="exit with status 1 if any file is bad")
    p.add_argument("--workers", type=int, default=None, help="processes to decode with (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser("prepare", help="build a TFDS dataset (array_record) from a folder of audio",
                       description="Decode, resample and store a folder as a TFDS dataset that pretraining and "
                                   "probing read by name. Layouts: a folder with optional labels.csv, GTZAN "
                                   "(genres/<genre>/*.wav) or MagnaTagATune (annotations_final.csv). Splits come "
                                   "from a 'split' column, or are made by --group-by so no artist is in two "
                                   "splits. Bad files are skipped and listed in bad_files.tsv. A dataset built "
                                   "from the same inputs is reused.")
    p.add_argument("--input", required=True, help="folder of audio")
    p.add_argument("--name", required=True, help="dataset name, e.g. my_music (lower-case, digits, '_')")
    p.add_argument("--data-dir", default=default_data_dir(),
                   help="where TFDS datasets live (default $TFDS_DATA_DIR or ~/tensorflow_datasets)")
    p.add_argument("--layout", choices=LAYOUTS, default="auto", help="folder layout (default: detect)")
    p.add_argument("--group-by", default="artist",
                   help="column whose values never share a split (default artist)")
    p.add_argument("--splits", default=None,
                   help="train,validation,test fractions (default 0.8,0.1,0.1; all train when unlabelled)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the group assignment (default 0)")
    _decode_args(p)
    p.add_argument("--workers", type=int, default=None, help="processes to decode with (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="rebuild a dataset of this name made from other inputs")
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("info", help="describe a prepared dataset: splits, labels, artists",
                       description="Print a prepared dataset's splits, label vocabularies and counts, artists per "
                                   "split (and whether any is shared), and read one pretraining batch.")
    p.add_argument("--dataset", required=True, help="dataset name given to `ssl-audio prepare`")
    p.add_argument("--data-dir", default=default_data_dir(), help="where TFDS datasets live")
    p.add_argument("--plot", default=None, help="also write a PNG of label counts per split to this path")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("bench", help="speed benchmarks, as ratios against a reference run in the same process",
                       description="bench augment: the JAX augmentation chain against audiomentations on the same "
                                   "music clips, every op at p=1; prints per-op timings and, last, "
                                   "`augment jax_clips_per_s=... audiomentations_clips_per_s=... ratio=...`. "
                                   "bench step: the full pretraining step (augmentation included) of a config; "
                                   "prints the augmentation's share of it and, last, `step steps_per_s=... "
                                   "clips_per_s=... tflops_per_s=... mfu=... augment_share=...`. "
                                   "bench embed: `ssl-audio embed`'s pipeline against librosa descriptors (20 "
                                   "MFCC + deltas, chroma, contrast) on the same files, decoding included, both "
                                   "on all cores; prints, last, `embed ours_x_realtime=... "
                                   "descriptors_x_realtime=... ratio=...`.")
    p.add_argument("what", choices=("augment", "step", "embed"), help="what to benchmark")
    p.add_argument("--batch", type=int, default=None,
                   help="clips per batch (augment: default 64; step: default the config's batch_size)")
    p.add_argument("--seconds", type=float, default=3.0, help="clip length for augment (default 3)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats after warm-up (default 3)")
    p.add_argument("--config", default=None, help="step: pretraining config, e.g. configs/simclr_logmel_cnn.py:tiny "
                                                  "(--config.KEY=VALUE overrides allowed)")
    p.add_argument("--devices", type=int, default=None,
                   help="step: devices to shard the batch over (default all; on CPU, N simulated devices)")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="step: peak TFLOP/s per device for MFU (default: from the device kind)")
    p.add_argument("--workers", type=int, default=None,
                   help="processes for audiomentations or the descriptors (default: all cores)")
    _checkpoint_arg(p, required=False, only="embed: ")
    p.add_argument("--input", default="data/demo/audio", help="embed: folder of audio (default data/demo/audio)")
    p.add_argument("--files", type=int, default=100, help="embed: number of files from --input (default 100)")
    p.set_defaults(func=cmd_bench, takes_overrides=True)

    p = sub.add_parser("pretrain", help="contrastive pretraining (SimCLR, NT-Xent over the global batch)",
                       description="Pretrain an encoder on a prepared dataset. Configs are Python files "
                                   "(configs/*.py, variants :demo and :tiny); override any key with "
                                   "--config.KEY=VALUE. Rerunning the same command resumes from the last "
                                   "checkpoint; SIGTERM or Ctrl-C saves one and exits. Multi-host: start one "
                                   "process per host with --coordinator-address, --num-processes and "
                                   "--process-id (or JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, "
                                   "JAX_PROCESS_ID; SLURM is detected). See docs/scaling.md.",
                       epilog="example: ssl-audio pretrain --config configs/simclr_logmel_cnn.py:demo "
                              "--workdir runs/demo/pretrain --config.batch_size=64")
    p.add_argument("--config", required=True, help="config file, optionally with a variant: FILE.py[:demo|:tiny]")
    p.add_argument("--workdir", required=True, help="where checkpoints, logs and plots go (resumed if it exists)")
    p.add_argument("--coordinator-address", default=None, help="host:port of process 0 (multi-host)")
    p.add_argument("--num-processes", type=int, default=None, help="number of processes (multi-host)")
    p.add_argument("--process-id", type=int, default=None, help="this process's index (multi-host)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (the JSONL log is kept)")
    p.set_defaults(func=cmd_pretrain, takes_overrides=True)

    p = sub.add_parser("probe", help="linear / MLP probes of a checkpoint on a dataset's labels, beside baselines",
                       description="Embed every clip of a prepared dataset with a pretrained encoder (windows "
                                   "pooled per clip; cached), fit heads on the train split, choose learning rate "
                                   "and weight decay and stop early on validation, and score the test split. The "
                                   "same heads run on MFCC descriptors and on a randomly initialised encoder, "
                                   "side by side. Writes results.json, report.md and plots to --out; prints one "
                                   "line per task last: `DATASET TASK metric=M pretrained=x mfcc=y random=z`.")
    _checkpoint_arg(p)
    p.add_argument("--dataset", required=True, help="dataset name given to `ssl-audio prepare`")
    p.add_argument("--data-dir", default=default_data_dir(), help="where TFDS datasets live")
    p.add_argument("--task", default="all", help="a label column (genre, mood, instruments, tags, valence, ...) or all")
    p.add_argument("--head", choices=("linear", "mlp"), default="linear", help="head on the features")
    p.add_argument("--mode", choices=("frozen", "finetune"), default="frozen",
                   help="frozen: heads on cached features; finetune: the encoder (pretrained and random-init) is "
                        "trained too, with its own smaller learning rate; checkpoints in OUT/finetune/")
    p.add_argument("--finetune-steps", type=int, default=300, help="finetune: training steps per task (default 300)")
    p.add_argument("--finetune-batch-size", type=int, default=32, help="finetune: clips per step (default 32)")
    p.add_argument("--finetune-lr", type=float, default=1e-4,
                   help="finetune: encoder learning rate; the head's is 10x (default 1e-4)")
    p.add_argument("--features", default="pretrained,mfcc,random",
                   help="comma list of pretrained, mfcc, random (default all three)")
    p.add_argument("--out", required=True, help="output folder (refused if it holds files, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="write into an --out that already holds files")
    p.add_argument("--cache-dir", default=None, help="feature cache (default ~/.cache/ssl_audio/features)")
    p.add_argument("--hop-seconds", type=float, default=None, help="hop between windows (default: the window)")
    p.add_argument("--pooling", choices=("mean", "max"), default="mean", help="window embeddings -> clip (default mean)")
    p.add_argument("--group-by", default="artist", help="column that must not be shared by test and other splits")
    p.add_argument("--allow-shared-groups", action="store_true",
                   help="probe even if a group (artist) is in test and another split (e.g. MagnaTagATune's split)")
    p.add_argument("--workers", type=int, default=None, help="processes for MFCC extraction (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("embed", help="embed a folder (or list) of audio files into Parquet or NPZ files",
                       description="Decode and resample every audio file under --input (or listed in it, one "
                                   "path per line), cut it into the model's windows, embed the windows in "
                                   "batches over every local device, and write per file a pooled scene "
                                   "embedding and, with --windows, the timestamped window embeddings. "
                                   "OUT/manifest.json records the checkpoint, settings and counts; bad files go "
                                   "to OUT/errors.tsv. Rerunning the same command resumes: finished files are "
                                   "skipped and new ones appended.")
    _checkpoint_arg(p)
    p.add_argument("--input", required=True, help="folder of audio (recursive), one audio file, or a text file with one path per line")
    p.add_argument("--output", required=True, help="output folder (resumed when it holds this command's output)")
    p.add_argument("--format", choices=("parquet", "npz"), default="parquet",
                   help="parquet: OUT/scene/ (and OUT/windows/) tables of parts; npz: one OUT/npz/<path>.npz per "
                        "file (default parquet)")
    p.add_argument("--window-seconds", type=float, default=None,
                   help="window length (default: the model's training crop; CNN encoders accept others)")
    p.add_argument("--hop-seconds", type=float, default=None, help="hop between windows (default: the window)")
    p.add_argument("--pooling", choices=("mean", "max", "none"), default="mean",
                   help="window embeddings -> one per file (default mean); none writes window embeddings only")
    p.add_argument("--windows", action="store_true", help="also write every window's embedding with its times")
    p.add_argument("--batch-size", type=int, default=64, help="windows per device batch, over all devices (default 64)")
    p.add_argument("--workers", type=int, default=2, help="decoding threads (default 2)")
    p.add_argument("--retry-errors", action="store_true", help="retry files listed in OUT/errors.tsv by an earlier run")
    p.add_argument("--overwrite", action="store_true", help="replace an output made with other settings (start over)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("export-savedmodel", help="write the encoder as a TensorFlow SavedModel (no JAX needed to run it)",
                       description="Convert the encoder with jax2tf into a TensorFlow SavedModel with two "
                                   "signatures: embed_windows (audio [batch, window] -> [batch, D]; the default) and "
                                   "embed_clip (mono audio [samples] at the model's rate -> scene [D], windows "
                                   "[T, D], starts and ends in seconds). Load it with tf.saved_model.load(DIR).")
    _checkpoint_arg(p)
    p.add_argument("--out", required=True, help="SavedModel folder to write")
    p.add_argument("--hop-seconds", type=float, default=None, help="embed_clip's hop between windows (default: the window)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing SavedModel in --out")
    p.set_defaults(func=cmd_export_savedmodel)

    p = sub.add_parser("augment-preview", help="write augmented views of a file as WAV and one spectrogram PNG",
                       description="Decode a file, take a crop from its middle, and write the crop and N views "
                                   "through the JAX augmentation chain (default config) as WAV files, plus "
                                   "views.png: their spectrograms side by side, titled with the ops drawn.")
    p.add_argument("--input", required=True, help="an audio file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--views", type=int, default=4, help="number of augmented views (default 4)")
    p.add_argument("--seconds", type=float, default=4.0, help="crop length (default 4)")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace files of an earlier preview in --out")
    p.set_defaults(func=cmd_augment_preview)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # --config.KEY=VALUE overrides are the config's business (pretrain/config.py checks every key).
    if extra and not getattr(args, "takes_overrides", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.overrides = extra
    from ssl_audio.errors import USER_ERRORS
    try:
        return args.func(args)
    except USER_ERRORS as err:
        if os.environ.get("SSL_AUDIO_DEBUG"):
            raise
        print(f"ssl-audio {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ssl-audio {args.command}: interrupted; rerun the same command to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
