"""The real-music study: sets built from Debian's game soundtracks and recorded samples, and its three tasks.

    python -m studies.real_music build --out study_real          # the sets (seconds; needs the packages below)
    python -m studies.real_music evaluate --out study_real --features RUN[,RUN...] [--label NAME]
    python -m studies.real_music evaluate --out study_real --features mfcc   # musicnn, random:RUN: the peers
    python -m studies.real_music table --out study_real --rows LABEL,... [--against mfcc,random,rendered] [--split test]
    python -m studies.real_music curves --out study_real --rows LABEL,... --png FILE   # validation by read-out

Material (Debian packages; licence files under /usr/share/doc/PACKAGE/copyright): planetblupi-music-ogg
(GPL-3+), drascula-music (Drascula licence: free redistribution), colobot-common-sounds (GPL-3+),
fillets-ng-data (GPL-2+), supertux-data (music GPL-2+), widelands-data (GPL-2+; three tracks CC-BY-SA-3.0),
flare-game (CC-BY-SA-3.0+), openclonk-data (ISC; some content CC-BY-3.0 or CC0), asc-music (GPL-2+),
fb-music-high (GPL-2+; a tracker module, rendered by ffmpeg): soundtracks, tracks of at least 30 s;
sonic-pi-samples (CC0 recordings from freesound.org): recorded drum and instrument samples.

The split is by track, fixed by a hash of its name: of each of the seven soundtracks with ten or more tracks,
34% go to the unlabelled pretraining folder (OUT/unlabelled, with openclonk's, asc's and fb-music-high's),
33% to validation, 33% to test; no validation or test track is in any pretraining folder. Tasks:
- soundtrack: which of the seven soundtracks a 10-s excerpt comes from (6 excerpts per track); a logistic
  regression fitted on the pretraining tracks' excerpts, C chosen on validation; bootstrap over tracks.
- retrieval: two 10-s segments (at 30% and 70%) of each held-out track; a hit when a segment's nearest
  neighbour (cosine, features standardised with the training excerpts' statistics) among all segments of
  the split is its own track's other segment; bootstrap over tracks.
- instruments: the family of a recorded sample (sonic-pi), samples split in half by a hash, stratified;
  validation is 5-fold cross-validation inside the first half, test the second half; bootstrap over samples.
A checkpoint's features are every block's read-out at once ("blocks"); each task keeps the block (or all of
them, or the embedding) that is best on validation, mean over the row's seeds. musicnn (the supervised
peer, linear_probe/musicnn_peer.py) and MFCC descriptors are rows like any other.
Every score is kept per item (results/LABEL.json), so `table` compares any two rows pairwise: the items and
the groups are resampled together (and the pretraining seeds, when a row has several), as in
linear_probe.bootstrap.bootstrap_over_runs.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

SOUNDTRACKS = {  # name -> files (recursive glob); those in LABELLED are the soundtrack task's classes
    "blupi": "/usr/share/planetblupi/music/*.ogg",
    "drascula": "/usr/share/scummvm/drascula/audio/*.ogg",
    "colobot": "/usr/share/games/colobot/music/*.ogg",
    "fillets": "/usr/share/games/fillets-ng/music/*.ogg",
    "supertux": "/usr/share/games/supertux2/music/**/*.ogg",
    "widelands": "/usr/share/games/widelands/data/music/*.ogg",
    "flare": "/usr/share/games/flare/mods/fantasycore/music/*.ogg",
    "openclonk": "/usr/share/games/openclonk/Music.ocg/*.ogg",
    "asc": "/usr/share/games/asc/music/*.mp3",
    "frozen": "/usr/share/games/frozen-bubble/snd/*.xm",  # fb-music-high: a tracker module, rendered
}
LABELLED = ("blupi", "drascula", "colobot", "fillets", "supertux", "widelands", "flare")  # ten tracks or more
# Of each labelled soundtrack: the pretraining folder, validation, test (by a hash of the track's name).
SPLIT_SHARES = (("pretrain", 0.34), ("validation", 0.33), ("test", 0.33))
SAMPLES = "/usr/share/sonic-pi/samples/*.flac"
FAMILIES = {  # family -> name prefixes of sonic-pi's samples (kicks, snares, cymbals, toms: drum kit parts)
    "kick": ("bd_", "drum_bass_", "drum_heavy_kick", "elec_soft_kick", "elec_hollow_kick"),
    "snare": (
        "sn_",
        "drum_snare_",
        "elec_snare",
        "elec_hi_snare",
        "elec_lo_snare",
        "elec_mid_snare",
        "elec_filt_snare",
    ),
    "cymbal": ("drum_cymbal_", "drum_splash_", "elec_cymbal"),
    "tom": ("drum_tom_", "elec_fuzz_tom"),
    "tabla": ("tabla_",),
    "bass": ("bass_",),
    "ambient": ("ambi_",),
    "guitar": ("guit_",),
}
MIN_TRACK_SECONDS = 30.0  # two 10-s retrieval segments that do not overlap
RATE = 16_000
EXCERPT_SECONDS = 10.0
EXCERPTS_PER_TRACK = 6
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


def _hash(text: str) -> float:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 16**8


def _family(name: str) -> str | None:
    for family, prefixes in FAMILIES.items():
        if name.startswith(prefixes):
            return family
    return None


# ------------------------------------------------------------------------------------------------ build
TRACKER_MODULES = (".xm", ".mod", ".it", ".s3m")


def _rendered(module: str, folder: Path) -> str:
    """A tracker module rendered to Ogg Vorbis by ffmpeg (libopenmpt), once."""
    import subprocess

    target = folder / (Path(module).stem + ".ogg")
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part.ogg")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", module, "-ac", "2", str(partial)], check=True)
        partial.rename(target)
    return str(target)


def build(out: Path) -> None:
    import soundfile as sf

    tracks = []
    for source, pattern in SOUNDTRACKS.items():
        files = sorted(glob.glob(pattern, recursive=True))
        if not files:
            sys.exit(f"no files match {pattern}: install the Debian package (see this module's docstring)")
        root = pattern.split("*")[0]
        files = [_rendered(f, out / "rendered") if f.endswith(TRACKER_MODULES) else f for f in files]
        seconds = {f: sf.info(f).duration for f in files}
        kept = [f for f in files if seconds[f] >= MIN_TRACK_SECONDS]
        names = {f: str(Path(f).relative_to(root if f.startswith(root) else Path(f).parent)) for f in kept}
        names = {f: str(Path(name).with_suffix("")) for f, name in names.items()}
        order = sorted(kept, key=lambda f: _hash(f"{source}/{names[f]}"))
        bounds = np.cumsum([share for _, share in SPLIT_SHARES]) * len(order)
        for i, f in enumerate(order):
            split = "pretrain"
            if source in LABELLED:
                split = next(name for (name, _), b in zip(SPLIT_SHARES, bounds, strict=True) if i < round(b))
            tracks.append(
                {"source": source, "path": f, "track": f"{source}/{names[f]}", "split": split,
                 "seconds": round(seconds[f], 2)}
            )  # fmt: skip
    samples = []
    for f in sorted(glob.glob(SAMPLES)):
        family = _family(Path(f).name)
        if family:
            samples.append({"path": f, "family": family, "sample": Path(f).stem})
    for family in FAMILIES:  # half of each family to development, half to test, by hash
        members = sorted((s for s in samples if s["family"] == family), key=lambda s: _hash(s["sample"]))
        for i, s in enumerate(members):
            s["split"] = "validation" if i < (len(members) + 1) // 2 else "test"
    unlabelled = out / "unlabelled"
    if unlabelled.exists():
        shutil.rmtree(unlabelled)
    unlabelled.mkdir(parents=True)
    for t in tracks:
        if t["split"] == "pretrain":
            shutil.copyfile(t["path"], unlabelled / (t["track"].replace("/", "__") + Path(t["path"]).suffix))
    (out / "sets.json").write_text(json.dumps({"tracks": tracks, "samples": samples}, indent=1))
    for split in ("pretrain", "validation", "test"):
        chosen = [t for t in tracks if t["split"] == split]
        hours = sum(t["seconds"] for t in chosen) / 3600
        print(f"{split}: {len(chosen)} tracks, {hours:.2f} h")
    print(f"samples: {len(samples)} in {len(FAMILIES)} families; sets in {out / 'sets.json'}")


# ---------------------------------------------------------------------------------------------- items
def items(sets: dict) -> list[dict]:
    """Every clip the tasks read: (task, split, group, label, path, start s, seconds)."""
    out = []
    for t in sets["tracks"]:
        if t["source"] in LABELLED:
            usable = t["seconds"] * 0.9 - EXCERPT_SECONDS
            for k in range(EXCERPTS_PER_TRACK):
                start = t["seconds"] * 0.05 + usable * k / (EXCERPTS_PER_TRACK - 1)
                out.append(dict(task="soundtrack", split=t["split"], group=t["track"], label=t["source"],
                                path=t["path"], start=start, seconds=EXCERPT_SECONDS))  # fmt: skip
        if t["split"] != "pretrain":
            for where in (0.3, 0.7):
                out.append(dict(task="retrieval", split=t["split"], group=t["track"], label=t["track"],
                                path=t["path"], start=t["seconds"] * where - EXCERPT_SECONDS / 2,
                                seconds=EXCERPT_SECONDS))  # fmt: skip
    for s in sets["samples"]:
        out.append(dict(task="instruments", split=s["split"], group=s["sample"], label=s["family"], path=s["path"],
                        start=0.0, seconds=None))  # fmt: skip
    return out


def items_key(all_items: list[dict]) -> str:
    """What the caches are keyed by besides the features asked for: the items (a rebuilt set is noticed)."""
    return hashlib.sha1(json.dumps(all_items, sort_keys=True).encode()).hexdigest()[:12]


def clips(out: Path, all_items: list[dict]) -> list[np.ndarray]:
    """Each item's mono audio at 16 kHz, decoding each file once; kept in OUT/clips-KEY.npz (float16) so that
    the next row's features do not decode the soundtracks again."""
    cache = out / f"clips-{items_key(all_items)}.npz"
    if cache.exists():
        stored = np.load(cache)
        data, bounds = stored["audio"], stored["bounds"]
        return [data[bounds[i] : bounds[i + 1]].astype(np.float32) for i in range(len(all_items))]
    from ssl_audio.audio.decode import DecodeOptions, load_audio

    options = DecodeOptions(sample_rate=RATE, min_seconds=0.0, silence_dbfs=-np.inf, keep_short=True)
    by_path: dict[str, list[int]] = {}
    for i, it in enumerate(all_items):
        by_path.setdefault(it["path"], []).append(i)
    audio_of: list[np.ndarray] = [np.zeros(0, np.float32)] * len(all_items)
    for n, (path, members) in enumerate(by_path.items()):
        audio = load_audio(path, options)
        for i in members:
            it = all_items[i]
            start = int(it["start"] * RATE)
            end = len(audio) if it["seconds"] is None else start + int(it["seconds"] * RATE)
            audio_of[i] = np.asarray(audio[start:end], np.float32)
        if n % 50 == 0:
            print(f"  decoding: {n}/{len(by_path)} files", flush=True)
    bounds = np.concatenate([[0], np.cumsum([len(a) for a in audio_of])])
    partial = cache.with_suffix(".part.npz")
    np.savez(partial, audio=np.concatenate(audio_of).astype(np.float16), bounds=bounds)
    partial.rename(cache)
    return audio_of


def _readout_slices(encoder) -> dict[str, tuple[int, int]]:
    """Where each named block (and the embedding, where "blocks" appends it) sits in the "blocks" read-out."""
    from ssl_audio.embed.model import EmbeddingModel
    from ssl_audio.pretrained import random_encoder, with_readout

    def width(readout):  # of one window of silence: only the shape is read
        model = EmbeddingModel(random_encoder(with_readout(encoder.config, readout)))
        return model.embed(np.zeros(model.window_samples, np.float32), RATE).scene.shape[-1]

    slices, start = {}, 0
    for name in (*encoder.layer_names, "embedding"):
        end = start + width(name)
        slices[name] = (start, end)
        start = end
    total = width("blocks")
    if total == slices[encoder.layer_names[-1]][1]:  # "blocks" does not append the embedding (the conformer's)
        del slices["embedding"]
    elif total != start:
        raise ValueError(f"blocks read-out of {total} numbers, the layers sum to {start}")
    return {"blocks": (0, total), **slices}


def features(out: Path, spec: str, all_items: list[dict]) -> tuple[np.ndarray, dict[str, tuple[int, int]]]:
    """([items, D], {read-out: (start, end) columns}) for 'mfcc', 'musicnn', 'random:RUN' (RUN's
    architecture, random weights) or a checkpoint RUN, whose every block is read out at once ("blocks");
    cached in OUT/features, by the spec and the items."""
    key = hashlib.sha1(f"{spec}\n{items_key(all_items)}".encode()).hexdigest()[:12]
    cache = out / "features" / f"{key}.npz"
    if cache.exists():
        stored = np.load(cache)
        return stored["x"], json.loads(str(stored["readouts"]))
    if spec == "mfcc":
        from ssl_audio.audio.descriptors import clip_descriptors

        def embed(audio):  # at least 1 s: the deltas need 9 frames
            return clip_descriptors(np.pad(audio, (0, max(0, RATE - len(audio)))), RATE)

        readouts = None
    elif spec == "musicnn":
        from ssl_audio_linear_probe.musicnn_peer import clip_feature

        def embed(audio):
            return clip_feature(audio, RATE)

        readouts = None
    else:
        from ssl_audio.embed.model import EmbeddingModel
        from ssl_audio.pretrained import load_encoder, random_encoder, with_readout

        encoder = load_encoder(spec.removeprefix("random:"), readout="blocks")
        if spec.startswith("random:"):
            encoder = random_encoder(with_readout(encoder.config, "blocks"), seed=int(encoder.config.seed))
        readouts = _readout_slices(encoder)
        model = EmbeddingModel(encoder)

        def embed(audio):
            short = model.window_samples - len(audio)
            return model.embed(np.pad(audio, (0, max(0, short))), RATE).scene

    audio_of = clips(out, all_items)
    x = []
    for n, audio in enumerate(audio_of):
        x.append(embed(audio))
        if n % 200 == 0:
            print(f"  {spec}: {n}/{len(all_items)} clips", flush=True)
    x = np.stack(x).astype(np.float32)
    readouts = readouts or {"all": (0, x.shape[1])}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x, spec=spec, readouts=json.dumps(readouts))
    return x, readouts


# ------------------------------------------------------------------------------------------------ tasks
def _fit_predict(x_train, y_train, x_eval, c):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    head = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
    return head.fit(x_train, y_train).predict(x_eval)


def _cv_accuracy(x, y, c, folds=5):
    from sklearn.model_selection import StratifiedKFold

    hits = np.zeros(len(y))
    k = min(folds, int(min(np.unique(y, return_counts=True)[1])))
    for train, held in StratifiedKFold(k, shuffle=True, random_state=0).split(x, y):
        hits[held] = _fit_predict(x[train], y[train], x[held], c) == y[held]
    return hits


def score(all_items: list[dict], x: np.ndarray) -> dict:
    """{task: {split: {'hits': [0/1 per item], 'groups': [...], 'c': chosen C}}}."""
    x = np.nan_to_num(x)
    task = np.array([it["task"] for it in all_items])
    split = np.array([it["split"] for it in all_items])
    label = np.array([it["label"] for it in all_items])
    group = np.array([it["group"] for it in all_items])
    result = {}

    sel = {s: (task == "soundtrack") & (split == s) for s in ("pretrain", "validation", "test")}
    val = {c: _fit_predict(x[sel["pretrain"]], label[sel["pretrain"]], x[sel["validation"]], c) for c in C_GRID}
    best = max(C_GRID, key=lambda c: (np.mean(val[c] == label[sel["validation"]]), -c))
    test = _fit_predict(x[sel["pretrain"]], label[sel["pretrain"]], x[sel["test"]], best)
    result["soundtrack"] = {
        s: {"hits": (pred == label[sel[s]]).tolist(), "groups": group[sel[s]].tolist(), "c": best}
        for s, pred in (("validation", val[best]), ("test", test))
    }

    mean, std = x[sel["pretrain"]].mean(0), x[sel["pretrain"]].std(0) + 1e-8
    result["retrieval"] = {}
    for s in ("validation", "test"):
        idx = np.where((task == "retrieval") & (split == s))[0]
        z = (x[idx] - mean) / std
        z /= np.linalg.norm(z, axis=1, keepdims=True) + 1e-8
        sim = z @ z.T
        np.fill_diagonal(sim, -np.inf)
        nearest = sim.argmax(1)
        result["retrieval"][s] = {"hits": (label[idx][nearest] == label[idx]).tolist(), "groups": group[idx].tolist()}

    dev, held = (task == "instruments") & (split == "validation"), (task == "instruments") & (split == "test")
    cv = {c: _cv_accuracy(x[dev], label[dev], c) for c in C_GRID}
    best = max(C_GRID, key=lambda c: (cv[c].mean(), -c))
    test = _fit_predict(x[dev], label[dev], x[held], best)
    result["instruments"] = {
        "validation": {"hits": cv[best].tolist(), "groups": group[dev].tolist(), "c": best},
        "test": {"hits": (test == label[held]).tolist(), "groups": group[held].tolist(), "c": best},
    }
    return result


def choose_readouts(all_items: list[dict], runs: list[tuple[np.ndarray, dict]]) -> dict:
    """A row from its runs' features (one per pretraining seed, each [items, D] with its read-outs' columns):
    every read-out scored, and each task keeps the read-out with the best validation score (mean over the
    seeds); {'readouts': {task: chosen}, 'curve': {task: {read-out: validation}}, 'runs': [chosen scores]}."""
    by_readout: dict[str, list[dict]] = {}
    for x, readouts in runs:
        for name, (start, end) in readouts.items():
            by_readout.setdefault(name, []).append(score(all_items, x[:, start:end]))
    tasks = list(next(iter(by_readout.values()))[0])
    curve = {
        task: {name: float(np.mean([np.mean(r[task]["validation"]["hits"]) for r in scored]))
               for name, scored in by_readout.items()}
        for task in tasks
    }  # fmt: skip
    chosen = {task: max(curve[task], key=curve[task].get) for task in tasks}
    chosen_runs = [{task: by_readout[chosen[task]][k][task] for task in tasks} for k in range(len(runs))]
    return {"readouts": chosen, "curve": curve, "runs": chosen_runs}


def evaluate(out: Path, specs: list[str], label: str) -> None:
    """Score a row (one spec per pretraining seed) on every read-out; only each task's chosen read-out's
    items are kept for `table`."""
    sets = json.loads((out / "sets.json").read_text())
    all_items = items(sets)
    result = choose_readouts(all_items, [features(out, spec, all_items) for spec in specs])
    tasks, chosen, curve, runs = list(result["readouts"]), result["readouts"], result["curve"], result["runs"]
    (out / "results").mkdir(exist_ok=True)
    row = {"specs": specs, **result}
    (out / "results" / f"{label}.json").write_text(json.dumps(row))
    for task in tasks:
        v = [np.mean(r[task]["validation"]["hits"]) for r in runs]
        others = ", ".join(f"{n} {c:.3f}" for n, c in curve[task].items()) if len(curve[task]) > 1 else ""
        print(f"{label} {task}: validation {np.mean(v):.3f} at {chosen[task]} (runs {', '.join(f'{a:.3f}' for a in v)})"
              + (f"; read-outs: {others}" if others else ""))  # fmt: skip


# ------------------------------------------------------------------------------------------------ table
def cluster_bootstrap(runs_a, runs_b, groups, resamples=1000, seed=0) -> tuple[float, float, float]:
    """Mean hit rate A - B with a percentile 95% interval: groups (tracks) drawn with replacement, and runs
    (pretraining seeds) drawn with replacement on each side's paired index, as in bootstrap_over_runs."""
    a, b = np.asarray(runs_a, float), np.asarray(runs_b, float)  # [runs, items]
    names, inverse = np.unique(np.asarray(groups), return_inverse=True)
    rng = np.random.default_rng(seed)
    picks = rng.multinomial(len(names), np.full(len(names), 1 / len(names)), size=resamples)  # [R, groups]
    weights = picks[:, inverse].astype(float)  # [R, items]
    k = max(len(a), len(b))
    runs = rng.integers(0, k, size=(resamples, k))
    diffs = []
    for r in range(resamples):
        ra, rb = a[runs[r] % len(a)].mean(0), b[runs[r] % len(b)].mean(0)
        diffs.append(weights[r] @ (ra - rb) / weights[r].sum())
    low, high = np.quantile(diffs, [0.025, 0.975])
    return float(a.mean() - b.mean()), float(low), float(high)


def table(out: Path, rows: list[str], against: list[str], split: str) -> None:
    against = [a for a in against if a not in rows] if len(rows) > 1 else against
    results = {name: json.loads((out / "results" / f"{name}.json").read_text()) for name in rows + against}
    tasks = ("soundtrack", "retrieval", "instruments")
    head = "| row | runs | " + " | ".join(tasks) + " |"
    print(head + "\n|" + " --- |" * (2 + len(tasks)))
    for name in rows + against:
        runs = results[name]["runs"]
        cells = []
        for task in tasks:
            hits = [np.mean(r[task][split]["hits"]) for r in runs]
            cell = f"{np.mean(hits):.3f}" + (f" ± {np.std(hits, ddof=1):.3f}" if len(hits) > 1 else "")
            readout = results[name].get("readouts", {}).get(task, "all")
            cell += "" if readout == "all" else f" ({readout})"
            for base in [b for b in against if b != name] if name in rows else []:
                d, lo, hi = cluster_bootstrap(
                    [r[task][split]["hits"] for r in runs],
                    [r[task][split]["hits"] for r in results[base]["runs"]],
                    runs[0][task][split]["groups"],
                )
                verdict = "better" if lo > 0 else "worse" if hi < 0 else "n.d."
                cell += f"<br>vs {base} {d:+.3f} [{lo:+.3f}, {hi:+.3f}] {verdict}"
            cells.append(cell)
        print(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    n = {t: len(results[rows[0]]["runs"][0][t][split]["hits"]) for t in tasks}
    groups = {t: len(set(results[rows[0]]["runs"][0][t][split]["groups"])) for t in tasks}
    print(f"\n{split}: " + ", ".join(f"{t} {n[t]} items in {groups[t]} groups" for t in tasks))


def curves(out: Path, rows: list[str], png: Path) -> None:
    """Each row's validation score by read-out (mean over its seeds), one panel per task, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = {name: json.loads((out / "results" / f"{name}.json").read_text()) for name in rows}
    tasks = ("soundtrack", "retrieval", "instruments")
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), constrained_layout=True)
    for ax, task in zip(axes, tasks, strict=True):
        for name in rows:
            curve = results[name]["curve"][task]
            layers = [k for k in curve if k != "blocks"]  # "blocks" (all of them) goes in the legend
            if len(layers) > 1:
                ax.plot(
                    layers, [curve[k] for k in layers], marker="o", label=f"{name} (all blocks {curve['blocks']:.3f})"
                )
            else:  # a row without layers (MFCC, musicnn): its one read-out, a level
                level = curve[layers[0]]
                ax.axhline(level, linestyle="--", linewidth=1, color="grey" if name == "mfcc" else "black")
                ax.annotate(name, (0, level), fontsize=8, va="bottom")
        ax.set_title(f"{task} (validation)")
        ax.tick_params(axis="x", labelrotation=45)
    axes[0].legend(fontsize=7)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    print(f"curves: {png}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studies.real_music", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="the sets, from the Debian packages")
    e = sub.add_parser("evaluate", help="features of one row (one spec per pretraining seed) on the three tasks")
    e.add_argument("--features", required=True, help="comma list: checkpoints (one per seed), mfcc or random:RUN")
    e.add_argument("--label", help="the row's name (default: the first spec's folder name)")
    t = sub.add_parser("table", help="rows against baselines, paired cluster bootstrap")
    t.add_argument("--rows", required=True)
    t.add_argument("--against", default="mfcc,random")
    t.add_argument("--split", default="validation", choices=("validation", "test"))
    c = sub.add_parser("curves", help="validation score by read-out (layer), one panel per task, as a PNG")
    c.add_argument("--rows", required=True)
    c.add_argument("--png", required=True, type=Path)
    for sp in (b, e, t, c):
        sp.add_argument("--out", default="study_real", help="the study's folder (default study_real)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.command == "build":
        build(out)
    elif args.command == "evaluate":
        specs = [s for s in args.features.split(",") if s]
        evaluate(out, specs, args.label or os.path.basename(specs[0].rstrip("/")).replace("random:", "random-"))
    elif args.command == "curves":
        curves(out, args.rows.split(","), args.png)
    else:
        table(out, args.rows.split(","), [a for a in args.against.split(",") if a], args.split)
    return 0


if __name__ == "__main__":
    sys.exit(main())
