"""The real-music study: sets built from Debian's game soundtracks and recorded samples, and its three tasks.

    python -m studies.real_music build --out study_real          # the sets (seconds; needs the packages below)
    python -m studies.real_music evaluate --out study_real --features RUN[,RUN...] [--label NAME]
    python -m studies.real_music evaluate --out study_real --features mfcc   # and random:RUN, the baselines
    python -m studies.real_music table --out study_real --rows LABEL,... [--against mfcc,random,rendered] [--split test]

Material (Debian packages; licence files under /usr/share/doc/PACKAGE/copyright): planetblupi-music-ogg
(GPL-3+), drascula-music (Drascula licence: free redistribution), colobot-common-sounds (GPL-3+),
fillets-ng-data (GPL-2+), asc-music (GPL-2+), fb-music-high (GPL-2+): soundtracks, tracks of at least 60 s;
sonic-pi-samples (CC0 recordings from freesound.org): recorded drum and instrument samples.

The split is by track, fixed by a hash of its name: of each of the four soundtracks with ten or more tracks,
40% go to the unlabelled pretraining folder (OUT/unlabelled, with asc and frozen-bubble's), 30% to
validation, 30% to test; no validation or test track is in any pretraining folder. Tasks:
- soundtrack: which of the four soundtracks a 10-s excerpt comes from (6 excerpts per track); a logistic
  regression fitted on the pretraining tracks' excerpts, C chosen on validation; bootstrap over tracks.
- retrieval: two 10-s segments (at 30% and 70%) of each held-out track; a hit when a segment's nearest
  neighbour (cosine, features standardised with the training excerpts' statistics) among all segments of
  the split is its own track's other segment; bootstrap over tracks.
- instruments: the family of a recorded sample (sonic-pi), samples split in half by a hash, stratified;
  validation is 5-fold cross-validation inside the first half, test the second half; bootstrap over samples.
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

SOUNDTRACKS = {  # name -> files; the first four are the soundtrack task's classes
    "blupi": "/usr/share/planetblupi/music/*.ogg",
    "drascula": "/usr/share/scummvm/drascula/audio/*.ogg",
    "colobot": "/usr/share/games/colobot/music/*.ogg",
    "fillets": "/usr/share/games/fillets-ng/music/*.ogg",
    "asc": "/usr/share/games/asc/music/*.mp3",
    "frozen": "/usr/share/games/frozen-bubble/snd/*.ogg",
}
LABELLED = ("blupi", "drascula", "colobot", "fillets")
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
MIN_TRACK_SECONDS = 60.0
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
def build(out: Path) -> None:
    import soundfile as sf

    tracks = []
    for source, pattern in SOUNDTRACKS.items():
        files = sorted(glob.glob(pattern))
        if not files:
            sys.exit(f"no files match {pattern}: install the Debian package (see this module's docstring)")
        kept = [f for f in files if sf.info(f).duration >= MIN_TRACK_SECONDS]
        order = sorted(kept, key=lambda f: _hash(f"{source}/{Path(f).name}"))
        n = len(order)
        for i, f in enumerate(order):
            if source not in LABELLED:
                split = "pretrain"
            else:
                split = "pretrain" if i < round(0.4 * n) else "validation" if i < round(0.7 * n) else "test"
            tracks.append(
                {"source": source, "path": f, "track": f"{source}/{Path(f).stem}", "split": split,
                 "seconds": round(sf.info(f).duration, 2)}
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
            shutil.copyfile(t["path"], unlabelled / f"{t['source']}__{Path(t['path']).name}")
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


def clips(all_items: list[dict]):
    """Each item's mono audio at 16 kHz, decoding each file once."""
    from ssl_audio.audio.decode import DecodeOptions, load_audio

    options = DecodeOptions(sample_rate=RATE, min_seconds=0.0, silence_dbfs=-np.inf, keep_short=True)
    by_path: dict[str, list[int]] = {}
    for i, it in enumerate(all_items):
        by_path.setdefault(it["path"], []).append(i)
    for path, members in by_path.items():
        audio = load_audio(path, options)
        for i in members:
            it = all_items[i]
            a = int(it["start"] * RATE)
            b = len(audio) if it["seconds"] is None else a + int(it["seconds"] * RATE)
            yield i, audio[a:b]


def features(out: Path, spec: str) -> np.ndarray:
    """[items, D] for 'mfcc', 'random:RUN' (RUN's architecture, random weights) or a checkpoint RUN; cached."""
    sets = json.loads((out / "sets.json").read_text())
    all_items = items(sets)
    cache = out / "features" / (hashlib.sha1(spec.encode()).hexdigest()[:12] + ".npz")
    if cache.exists():
        return np.load(cache)["x"]
    if spec == "mfcc":
        from ssl_audio.audio.descriptors import clip_descriptors

        def embed(audio):  # at least 1 s: the deltas need 9 frames
            return clip_descriptors(np.pad(audio, (0, max(0, RATE - len(audio)))), RATE)
    else:
        from ssl_audio.embed.model import EmbeddingModel
        from ssl_audio.pretrained import load_encoder, random_encoder

        encoder = load_encoder(spec.removeprefix("random:"))
        if spec.startswith("random:"):
            encoder = random_encoder(encoder.config, seed=int(encoder.config.seed))
        model = EmbeddingModel(encoder)

        def embed(audio):
            short = model.window_samples - len(audio)
            return model.embed(np.pad(audio, (0, max(0, short))), RATE).scene

    x = [None] * len(all_items)
    for n, (i, audio) in enumerate(clips(all_items)):
        x[i] = embed(audio)
        if n % 200 == 0:
            print(f"  {spec}: {n}/{len(all_items)} clips", flush=True)
    x = np.stack(x).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, x=x, spec=spec)
    return x


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


def evaluate(out: Path, specs: list[str], label: str) -> None:
    sets = json.loads((out / "sets.json").read_text())
    all_items = items(sets)
    runs = [score(all_items, features(out, spec)) for spec in specs]
    (out / "results").mkdir(exist_ok=True)
    (out / "results" / f"{label}.json").write_text(json.dumps({"specs": specs, "runs": runs}))
    for task in runs[0]:
        v = [np.mean(r[task]["validation"]["hits"]) for r in runs]
        print(f"{label} {task}: validation {np.mean(v):.3f} (runs {', '.join(f'{a:.3f}' for a in v)})")


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
    for sp in (b, e, t):
        sp.add_argument("--out", default="study_real", help="the study's folder (default study_real)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.command == "build":
        build(out)
    elif args.command == "evaluate":
        specs = [s for s in args.features.split(",") if s]
        evaluate(out, specs, args.label or os.path.basename(specs[0].rstrip("/")).replace("random:", "random-"))
    else:
        table(out, args.rows.split(","), [a for a in args.against.split(",") if a], args.split)
    return 0


if __name__ == "__main__":
    sys.exit(main())
