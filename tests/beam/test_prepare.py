"""`ssl-audio prepare --runner direct|dask`: TFDS's Beam path builds the same dataset as the in-process
build, on Beam's DirectRunner and on a 2-worker Dask LocalCluster."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import tensorflow_datasets as tfds

from ssl_audio.data.location import BAD_LIST, SIDECAR, dataset_path
from tests.pretrain import helpers

pytestmark = pytest.mark.slow

BAD = {
    "bad/empty.wav": "empty file",
    "bad/broken.wav": "",
    "bad/silent.wav": "silent",
    "bad/nan.wav": "NaN",
    "bad/short.wav": "",
}


@pytest.fixture
def messy(synth_dir, tmp_path):
    """The tests' labelled dataset plus one labelled file of each bad kind."""
    root = tmp_path / "music"
    shutil.copytree(synth_dir, root)
    (root / "bad").mkdir()
    (root / "bad" / "empty.wav").write_bytes(b"")
    (root / "bad" / "broken.wav").write_bytes(b"RIFF\x00\x01 not a wave file")
    sf.write(root / "bad" / "silent.wav", np.zeros(48_000, np.float32), 16_000)
    x = np.full(48_000, 0.1, np.float32)
    x[7] = np.nan
    sf.write(root / "bad" / "nan.wav", x, 16_000, subtype="FLOAT")
    sf.write(root / "bad" / "short.wav", 0.3 * np.ones(3_000, np.float32), 16_000)
    labels = root / "labels.csv"
    first = labels.read_text().splitlines()[1].split(",", 1)[1]
    with open(labels, "a") as f:
        for name in BAD:
            f.write(f"{name},{first}\n")
    return root


def prepare(src, data_dir, *extra) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "ssl_audio.cli", "prepare", "--input", str(src), "--name", "messy",
           "--data-dir", str(data_dir), *extra]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, env=helpers.env(1), timeout=600)


def dataset(data_dir) -> dict:
    """split -> key -> example, read back with TFDS alone."""
    builder = tfds.builder_from_directory(str(dataset_path("messy", data_dir)))
    out = {}
    for split in builder.info.splits:
        examples = {ex["key"].decode(): ex for ex in builder.as_data_source(split)}
        assert len(examples) == builder.info.splits[split].num_examples, "a key twice"
        out[split] = examples
    return out


ENGINES = {
    "direct": ("--runner", "direct", "--beam-option", "direct_num_workers=2"),
    "dask": ("--runner", "dask", "--dask-workers", "2"),
}


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_beam_prepare_equals_in_process(messy, tmp_path, engine):
    here, there = tmp_path / "here", tmp_path / "beam"
    assert prepare(messy, here, "--workers", "1").returncode == 0
    result = prepare(messy, there, *ENGINES[engine])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "bad files skipped: 5" in result.stdout

    a, b = dataset(here), dataset(there)
    assert {s: set(e) for s, e in a.items()} == {s: set(e) for s, e in b.items()}  # same keys, same splits
    assert sum(len(e) for e in b.values()) == 30
    for split in a:
        for key, ex in a[split].items():
            other = b[split][key]
            assert set(ex) == set(other)
            for feature in ex:
                np.testing.assert_array_equal(np.asarray(other[feature]), np.asarray(ex[feature]), err_msg=key)

    def bad(data_dir):
        lines = (dataset_path("messy", data_dir) / BAD_LIST).read_text().splitlines()[1:]
        return [line.split("\t", 1) for line in lines]

    assert bad(here) == bad(there)  # the same lines in the same order
    listed = dict(bad(there))
    assert sorted(listed) == sorted(str(messy / name) for name in BAD)  # each bad file counted once
    for name, reason in BAD.items():
        assert reason in listed[str(messy / name)]
    sa, sb = (json.loads((dataset_path("messy", d) / SIDECAR).read_text()) for d in (here, there))
    for field in ("fingerprint", "splits", "hours", "bad_files", "columns", "kinds"):
        assert sa[field] == sb[field], field
    assert not (there / ".ssl_audio_staging").exists()

    # The same inputs and settings: either engine's build is reused by the other.
    again = prepare(messy, here, "--runner", "direct")
    assert again.returncode == 0 and "prepare: reused" in again.stdout


def test_unknown_beam_option_names_the_key(messy, tmp_path):
    result = prepare(messy, tmp_path / "tfds", "--runner", "direct", "--beam-option", "num_workers_typo=2")
    assert result.returncode == 2 and "num_workers_typo" in result.stderr
    assert result.stderr.strip().count("\n") == 0 and not (tmp_path / "tfds").exists()


def segments(data_dir) -> dict[str, list[bytes]]:
    """key -> the audio of each of its records (a file's segments share its key), sorted."""
    builder = tfds.builder_from_directory(str(dataset_path("messy", data_dir)))
    out: dict[str, list[bytes]] = {}
    for ex in builder.as_data_source("train"):
        out.setdefault(ex["key"].decode(), []).append(np.asarray(ex["audio"]).tobytes())
    return {k: sorted(v) for k, v in out.items()}


def test_an_unlabelled_folder_streams_to_the_same_dataset_on_beam(messy, tmp_path):
    # The labels and their CSV removed: an unlabelled folder, which prepare streams through a spool (no
    # Record per file in the driver) on either engine. --segment-seconds 2: every 3-s file is two records.
    (messy / "labels.csv").unlink()
    here, there = tmp_path / "here", tmp_path / "beam"
    assert prepare(messy, here, "--workers", "2", "--segment-seconds", "2").returncode == 0
    result = prepare(messy, there, "--runner", "direct", "--beam-option", "direct_num_workers=2",
                     "--segment-seconds", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "stored as" in result.stdout and "segments" in result.stdout
    a, b = segments(here), segments(there)
    assert a == b and len(a) == 31  # 30 clips, and nan.wav's clean second half
    assert all(len(v) == 2 for k, v in a.items() if k != "bad/nan.wav") and len(a["bad/nan.wav"]) == 1

    def bad(data_dir):
        return (dataset_path("messy", data_dir) / BAD_LIST).read_text().splitlines()

    # A segment is bad on its own (silent.wav's two, nan.wav's first half), but a file is listed once.
    assert bad(here) == bad(there) and len(bad(here)) == 1 + len(BAD)
    assert sum("2 segments bad, the first: segment 0.0-1.5 s is silent" in line for line in bad(here)) == 1
    assert sum("nan.wav\tcontains NaN" in line for line in bad(here)) == 1  # one of its two segments
    fingerprints = [json.loads((dataset_path("messy", d) / SIDECAR).read_text())["fingerprint"] for d in (here, there)]
    assert fingerprints[0] == fingerprints[1]
