"""`ssl-audio probe` end to end on a tiny checkpoint: report, plots, cache reuse, refusals."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.pretrain import helpers

pytestmark = pytest.mark.slow


# `checkpoint` (tests/conftest.py): the tiny config after 2 steps, shared with the embed tests.


def probe_command(checkpoint, dataset, out, *extra) -> list[str]:
    name, data_dir = dataset
    return [
        sys.executable,
        "-m",
        "ssl_audio.cli",
        "probe",
        "--checkpoint",
        str(checkpoint),
        "--dataset",
        name,
        "--data-dir",
        data_dir,
        "--out",
        str(out),
        "--quiet",
        *extra,
    ]


def probe(checkpoint, dataset, out, *extra):
    return subprocess.run(
        probe_command(checkpoint, dataset, out, *extra), capture_output=True, text=True, env=helpers.env(), timeout=600
    )


def test_probe_reports_every_feature_kind_side_by_side(checkpoint, prepared, tmp_path):
    out = tmp_path / "probe"
    result = probe(checkpoint, prepared, out, "--task", "genre", "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("tiny genre metric=accuracy pretrained=") and " mfcc=" in last and " random=" in last
    results = json.loads((out / "results.json").read_text())
    assert set(results["tasks"]["genre"]["by_features"]) == {"pretrained", "mfcc", "random"}
    assert results["features"]["mfcc"]["dim"] == 118 and results["leaks"] == {}
    for r in results["tasks"]["genre"]["by_features"].values():
        assert 0.0 <= r["test"]["accuracy"] <= 1.0 and len(r["search"]) == 4
    report = (out / "report.md").read_text()
    assert "| genre | accuracy |" in report and "confusion_genre.png" in report
    assert (out / "confusion_genre.png").stat().st_size > 5_000
    # Every pair with its paired-bootstrap interval and verdict: in the JSON, the report and the last line.
    comparisons = results["tasks"]["genre"]["comparisons"]
    assert set(comparisons) == {"pretrained-mfcc", "pretrained-random", "mfcc-random"}
    test_files = results["split_counts"]["test"]["files"]
    assert test_files < 20  # the tiny set: every pair is scored, none is given a verdict
    for c in comparisons.values():
        assert c["low"] <= c["high"] and c["items"] == test_files and c["verdict"] == "too few items"
    assert f"(too_few_test_files:{test_files}<20)" in last
    assert (
        " pretrained_vs_mfcc=" in last
        and " pretrained_vs_random=" in last
        and "| genre | pretrained vs mfcc |" in report
    )
    assert (out / "embedding_map.png").stat().st_size > 10_000 and "embedding_map.png" in report

    again = probe(checkpoint, prepared, out, "--task", "genre", "--cache-dir", str(tmp_path / "cache"))
    assert again.returncode == 2 and "already holds files" in again.stderr  # never overwritten unasked
    cached = probe(checkpoint, prepared, out, "--task", "genre", "--cache-dir", str(tmp_path / "cache"), "--overwrite")
    assert cached.returncode == 0, cached.stderr[-3000:]
    assert cached.stdout.count("read from the cache") == 3
    assert cached.stdout.strip().splitlines()[-1] == last  # same features, same heads

    # Every head's test scores are kept, so runs can be pooled later (studies.seeds_table): they give
    # back the reported metric, and two runs of the same seed give the one run's interval.
    import numpy as np

    from ssl_audio_linear_probe.bootstrap import metric_value
    from studies.seeds_table import seeds_table

    with np.load(out / "test_outputs.npz") as z:
        assert len(z["keys"]) == len(z["genre.labels"]) == results["split_sizes"]["test"]
        for kind, r in results["tasks"]["genre"]["by_features"].items():
            assert metric_value("class", "accuracy", z["genre.labels"], z[f"genre.{kind}"]) == r["test"]["accuracy"]
    twin = tmp_path / "twin"
    shutil.copytree(out, twin)
    _, lines, numbers = seeds_table([out, twin])
    pooled = numbers["tasks"]["genre"]["comparisons"]["mfcc"]
    single = results["tasks"]["genre"]["comparisons"]["pretrained-mfcc"]
    assert (pooled["difference"], pooled["low"], pooled["high"]) == pytest.approx(
        (single["difference"], single["low"], single["high"])
    )
    assert lines[0].startswith("tiny genre metric=accuracy pretrained=") and " seeds=2 " in lines[0]


def test_tagging_task_writes_pr_curves(checkpoint, prepared, tmp_path):
    out = tmp_path / "probe"
    result = probe(
        checkpoint,
        prepared,
        out,
        "--task",
        "instruments",
        "--features",
        "pretrained",
        "--head",
        "mlp",
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1].startswith("tiny instruments metric=pr_auc_macro pretrained=")
    assert (out / "pr_curves_instruments.png").stat().st_size > 5_000


@pytest.fixture(scope="module")
def leaky(synth_dir, tmp_path_factory):
    """The synth clips with a split column that puts one artist in both train and test."""
    from ssl_audio.data.prepare import PrepareOptions, prepare

    folder = tmp_path_factory.mktemp("leaky") / "audio"
    shutil.copytree(synth_dir, folder, ignore=shutil.ignore_patterns("synth.json"))
    with open(folder / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    artists = sorted({r["artist"] for r in rows})
    leaked = next(a for a in artists if sum(r["artist"] == a for r in rows) >= 2)
    for r in rows:
        r["split"] = ("train", "train", "validation", "test")[artists.index(r["artist"]) % 4]
    mine = [r for r in rows if r["artist"] == leaked]
    mine[0]["split"], mine[1]["split"] = "train", "test"
    with open(folder / "labels.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    data_dir = tmp_path_factory.mktemp("leaky_tfds")
    prepare(folder, PrepareOptions(name="leaky", data_dir=str(data_dir), workers=1))
    return ("leaky", str(data_dir)), leaked


def test_artist_in_train_and_test_is_refused_by_name(checkpoint, leaky, tmp_path):
    dataset, leaked = leaky
    result = probe(checkpoint, dataset, tmp_path / "probe", "--task", "genre", "--features", "mfcc")
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert f"artist {leaked!r} is in test and train" in message and "--allow-shared-groups" in message
    assert not (tmp_path / "probe").exists()
    allowed = probe(
        checkpoint,
        dataset,
        tmp_path / "probe",
        "--task",
        "genre",
        "--features",
        "mfcc",
        "--allow-shared-groups",
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert allowed.returncode == 0, allowed.stderr[-3000:]
    assert leaked in json.loads((tmp_path / "probe" / "results.json").read_text())["leaks"]
    assert "## Shared groups" in (tmp_path / "probe" / "report.md").read_text()


def test_finetune_trains_the_encoder_end_to_end_and_a_sigterm_resumes_to_the_same_result(
    checkpoint, prepared, tmp_path
):
    """Fine-tuning runs on pretraining's loop: checkpoints with the data iterator, metrics.jsonl, and
    SIGTERM saving; the stopped run, rerun, ends where an uninterrupted one does, digit for digit."""
    import jax
    import numpy as np
    import orbax.checkpoint as ocp

    from ssl_audio.pretrained import load_encoder
    from ssl_audio_pretrain.metrics_log import read_metrics

    args = ("--task", "genre", "--mode", "finetune", "--finetune-batch-size", "8", "--features", "pretrained")
    args += ("--finetune-steps", "8", "--finetune-eval-every", "2")
    out = tmp_path / "probe"
    result = probe(checkpoint, prepared, out, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "finetune genre: step 8/8 train loss" in result.stdout
    results = json.loads((out / "results.json").read_text())
    entry = results["tasks"]["genre"]["by_features"]["pretrained"]
    assert (
        results["mode"] == "finetune" and entry["fine_tuned"] and [h["step"] for h in entry["search"]] == [2, 4, 6, 8]
    )
    run = out / "finetune" / "genre-pretrained"
    assert (run / "checkpoints" / "8").is_dir() and (run / "tensorboard").is_dir()
    assert [r["step"] for r in read_metrics(run)] == [2, 4, 6, 8]
    # The encoder moved: fine-tuned weights are saved, and they differ from the pretrained ones.
    tuned = ocp.StandardCheckpointer().restore(run / "checkpoints" / "8" / "state")
    before = load_encoder(checkpoint).params["encoder"]
    moved = [
        float(np.abs(np.asarray(a) - np.asarray(b)).max())
        for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(tuned["params"]["encoder"]))
    ]
    assert max(moved) > 0

    stopped_out = tmp_path / "stopped"
    command = probe_command(checkpoint, prepared, stopped_out, *args)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=helpers.env())
    log = stopped_out / "finetune" / "genre-pretrained" / "metrics.jsonl"
    deadline = time.time() + 300
    while not (log.exists() and log.read_text().strip()):  # the first evaluation is logged: step 2
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "SIGTERM received: saved the checkpoint at step" in err + _ and "rerun the same command" in err
    stopped_at = int((err + _).split("saved the checkpoint at step ")[1].split()[0])
    assert 2 <= stopped_at < 8, "the run finished before it could be stopped"
    resumed = probe(checkpoint, prepared, stopped_out, *args)  # the same command: no --overwrite needed
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"finetune genre: resuming from step {stopped_at}" in resumed.stdout
    assert resumed.stdout.strip().splitlines()[-1] == result.stdout.strip().splitlines()[-1]
    again = json.loads((stopped_out / "results.json").read_text())["tasks"]["genre"]["by_features"]["pretrained"]
    assert again["search"] == entry["search"] and again["best_step"] == entry["best_step"]


def test_gtzan_and_magnatagatune_layouts_are_probed(checkpoint, tmp_path, tone):
    from ssl_audio.data.prepare import PrepareOptions, prepare
    from tests.data.test_layouts import make_gtzan, make_mtt

    data_dir = str(tmp_path / "tfds")
    prepare(
        make_gtzan(tmp_path / "gtzan", tone, per_genre=10), PrepareOptions(name="gtzan", data_dir=data_dir, workers=1)
    )
    prepare(make_mtt(tmp_path / "mtt", tone), PrepareOptions(name="mtt", data_dir=data_dir, workers=1))
    # The layouts are what is tested here (MFCC beside pretrained is the side-by-side test's job).
    gtzan = probe(checkpoint, ("gtzan", data_dir), tmp_path / "p_gtzan", "--features", "pretrained")
    assert gtzan.returncode == 0, gtzan.stderr[-3000:]
    assert gtzan.stdout.strip().splitlines()[-1].startswith("gtzan genre metric=accuracy pretrained=")
    mtt = probe(checkpoint, ("mtt", data_dir), tmp_path / "p_mtt", "--features", "pretrained")
    assert mtt.returncode == 2 and "is in test and" in mtt.stderr  # its folder split shares artists
    mtt = probe(checkpoint, ("mtt", data_dir), tmp_path / "p_mtt", "--features", "pretrained", "--allow-shared-groups")
    assert mtt.returncode == 0, mtt.stderr[-3000:]
    assert mtt.stdout.strip().splitlines()[-1].startswith("mtt tags metric=pr_auc_macro pretrained=")
