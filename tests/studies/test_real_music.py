"""The real-music study's scoring, on made-up features (the study's sets need Debian packages the suite
does not have): a feature that separates the classes scores 1 on every task, noise does not, and the
bootstrap over tracks calls a clear difference and not a tie; each task keeps the read-out (layer) that is
best on validation."""

from __future__ import annotations

import numpy as np

from studies.real_music import LABELLED, choose_readouts, cluster_bootstrap, items, score


def made_up_sets() -> dict:
    tracks = []
    for source in LABELLED:
        for i, split in enumerate(["pretrain"] * 4 + ["validation"] * 3 + ["test"] * 3):
            tracks.append({"source": source, "path": f"/x/{source}{i}.ogg", "track": f"{source}/{i}",
                           "split": split, "seconds": 120.0})  # fmt: skip
    samples = [
        {"path": f"/s/{fam}{i}.flac", "family": fam, "sample": f"{fam}{i}", "split": "validation" if i < 5 else "test"}
        for fam in ("kick", "snare")
        for i in range(10)
    ]
    return {"tracks": tracks, "samples": samples}


def features(all_items, informative: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(all_items), 64))
    if informative:  # each label (class, track or family) a direction of its own, far above the noise
        names = sorted({it["label"] for it in all_items})
        directions = rng.normal(size=(len(names), 64))
        x += 20 * directions[[names.index(it["label"]) for it in all_items]]
    return x


def test_separable_features_score_one_and_noise_does_not():
    all_items = items(made_up_sets())
    good, noise = score(all_items, features(all_items, True)), score(all_items, features(all_items, False))
    for task in ("soundtrack", "retrieval", "instruments"):
        assert np.mean(good[task]["test"]["hits"]) == 1.0, task
        assert np.mean(noise[task]["test"]["hits"]) < 0.9, task
    assert len(good["retrieval"]["test"]["hits"]) == 2 * 3 * len(LABELLED)  # two segments per held-out track


def test_the_bootstrap_over_tracks_calls_a_clear_difference_and_not_a_tie():
    groups = np.repeat(np.arange(20), 6)
    a = np.ones((2, len(groups)))
    b = np.zeros((1, len(groups)))
    b[0, ::2] = 1
    d, low, high = cluster_bootstrap(a, b, groups)
    assert d == 0.5 and low > 0
    d, low, high = cluster_bootstrap(b, b, groups)
    assert d == 0 and low == high == 0


def test_each_task_keeps_the_readout_best_on_validation_for_every_seed():
    all_items = items(made_up_sets())
    readouts = {"block1": (0, 64), "block2": (64, 128)}  # block2 informative, block1 noise
    x = np.concatenate([features(all_items, False), features(all_items, True)], axis=1)
    row = choose_readouts(all_items, [(x, readouts), (x, readouts)])  # two seeds
    assert row["readouts"] == {"soundtrack": "block2", "retrieval": "block2", "instruments": "block2"}
    assert all(row["curve"][t]["block2"] > row["curve"][t]["block1"] for t in row["readouts"])
    assert len(row["runs"]) == 2 and np.mean(row["runs"][1]["soundtrack"]["test"]["hits"]) == 1.0
    swapped = choose_readouts(all_items, [(x, {"block1": (64, 128), "block2": (0, 64)})])
    assert set(swapped["readouts"].values()) == {"block1"}


def test_curves_draws_every_row_by_readout(tmp_path):
    import json

    from studies.real_music import main

    all_items = items(made_up_sets())
    x = np.concatenate([features(all_items, False), features(all_items, True)], axis=1)
    (tmp_path / "results").mkdir()
    layered = choose_readouts(all_items, [(x, {"blocks": (0, 128), "block1": (0, 64), "block2": (64, 128)})])
    flat = choose_readouts(all_items, [(x[:, :64], {"all": (0, 64)})])
    (tmp_path / "results" / "net.json").write_text(json.dumps(layered))
    (tmp_path / "results" / "mfcc.json").write_text(json.dumps(flat))
    png = tmp_path / "figures" / "curves.png"
    assert main(["curves", "--out", str(tmp_path), "--rows", "net,mfcc", "--png", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
