import math
from pathlib import Path

import numpy as np
import pytest

from ssl_audio.data.pipeline import DatasetNotFoundError, eval_clips, open_dataset, pretrain_loader


@pytest.fixture(scope="module")
def handle(prepared):
    name, data_dir = prepared
    return open_dataset(name, data_dir, sample_rate=16_000)


@pytest.fixture(scope="module")
def clips_by_split(handle):
    return {s: [ex["audio"] for ex in handle.source(s)] for s in handle.splits}


def locate(view, clips):
    """(clip number, start) of the crop inside one of the clips, by exact sample match."""
    pcm = np.round(view * 32768).astype(np.int16)
    for n, clip in enumerate(clips):
        for start in np.flatnonzero(clip[: len(clip) - len(pcm) + 1] == pcm[0]):
            if np.array_equal(clip[start : start + len(pcm)], pcm):
                return n, int(start)
    raise AssertionError("crop not found in any clip")


def test_pairs_are_two_crops_of_the_same_clip(handle, clips_by_split):
    loader = pretrain_loader(handle, global_batch_size=4, crop_seconds=1.0, seed=0, shard_index=0, shard_count=1)
    it = iter(loader)
    offsets_differ = 0
    for _ in range(3):
        batch = next(it)
        assert batch["view_a"].shape == (4, 16_000) and batch["view_a"].dtype == np.float32
        for a, b in zip(batch["view_a"], batch["view_b"]):
            (clip_a, start_a), (clip_b, start_b) = (
                locate(a, clips_by_split["train"]),
                locate(b, clips_by_split["train"]),
            )
            assert clip_a == clip_b
            offsets_differ += start_a != start_b
    assert offsets_differ >= 10  # independent crops, not one crop twice


def test_clips_shorter_than_the_crop_give_two_different_views(handle, clips_by_split):
    """The hardening trial's crop_seconds=100: every clip is shorter than the crop, and the views must still
    differ (they were identical: a positive pair any model matches without learning)."""
    loader = pretrain_loader(handle, global_batch_size=8, crop_seconds=100.0, seed=0, shard_index=0, shard_count=1)
    batch = next(iter(loader))
    assert batch["view_a"].shape == (8, 1_600_000)
    assert all(not np.array_equal(a, b) for a, b in zip(batch["view_a"], batch["view_b"]))
    n = len(clips_by_split["train"][0])
    assert {len(c) for c in clips_by_split["train"]} == {n}  # the test clips are all 3 s
    for view in (*batch["view_a"], *batch["view_b"]):  # each view is its clip looped, whole
        assert np.array_equal(view[n:], view[:-n])


def test_each_process_reads_its_own_shard(handle, clips_by_split):
    seen = []
    for index in (0, 1):
        loader = pretrain_loader(
            handle, global_batch_size=4, crop_seconds=1.0, seed=0, shard_index=index, shard_count=2, num_epochs=1
        )
        clips = set()
        for batch in loader:
            assert batch["view_a"].shape[0] == 2  # global batch split over two processes
            clips.update(locate(v, clips_by_split["train"])[0] for v in batch["view_a"])
        seen.append(clips)
    assert seen[0] and seen[1] and seen[0].isdisjoint(seen[1])


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_iterator_state_resumes_exactly(handle, workers):
    loader = pretrain_loader(
        handle, global_batch_size=4, crop_seconds=1.0, seed=3, worker_count=workers, shard_index=0, shard_count=1
    )
    it = iter(loader)
    for _ in range(3):
        next(it)
    state = it.get_state()
    expected = [next(it) for _ in range(4)]
    resumed = iter(loader)
    resumed.set_state(state)
    for want in expected:
        got = next(resumed)
        np.testing.assert_array_equal(got["view_a"], want["view_a"])
        np.testing.assert_array_equal(got["view_b"], want["view_b"])


def test_batch_must_divide_over_processes(handle):
    with pytest.raises(ValueError, match="not divisible"):
        pretrain_loader(handle, global_batch_size=5, crop_seconds=1.0, seed=0, shard_index=0, shard_count=2)


def test_sample_rate_mismatch_and_missing_dataset_are_clear(prepared, tmp_path):
    name, data_dir = prepared
    with pytest.raises(ValueError, match="stored at 16000 Hz but 22050 Hz"):
        open_dataset(name, data_dir, sample_rate=22_050)
    with pytest.raises(DatasetNotFoundError, match="ssl-audio prepare"):
        open_dataset("nothing_here", tmp_path)


def test_a_dataset_without_its_sidecar_is_unfinished_and_not_read(prepared, tmp_path):
    """What a prepare killed before its end left behind (before prepare built in a staging folder)."""
    import shutil

    from ssl_audio.data.location import SIDECAR, dataset_path

    name, data_dir = prepared
    copy = dataset_path(name, tmp_path)
    shutil.copytree(dataset_path(name, data_dir), copy)
    (copy / SIDECAR).unlink()
    with pytest.raises(DatasetNotFoundError, match="unfinished.*--overwrite"):
        open_dataset(name, tmp_path)


def test_eval_view_windows_and_labels(handle, clips_by_split):
    clips = list(eval_clips(handle, "test", window_seconds=1.0, hop_seconds=0.5, shard_index=0, shard_count=1))
    assert len(clips) == handle.splits["test"]
    for clip, audio in zip(clips, clips_by_split["test"]):
        assert clip["windows"].shape == (5, 16_000)  # 3 s clip, 1 s windows every 0.5 s
        np.testing.assert_allclose(clip["windows"][-1], audio[-16_000:] / 32768)
        labels = clip["labels"]
        assert 0 <= labels["genre"] < len(handle.class_names["genre"])
        assert labels["instruments"].shape == (len(handle.class_names["instruments"]),)
        assert labels["instruments"].sum() >= 1 and set(np.unique(labels["instruments"])) <= {0.0, 1.0}


def test_data_dir_with_a_tilde_is_the_home_folder(prepared, monkeypatch):
    # `--config.data_dir=~/tfds` reaches us unexpanded: the shell expands `~` only at the start of a word.
    from pathlib import Path

    name, data_dir = prepared
    monkeypatch.setenv("HOME", str(Path(data_dir).parent))
    handle = open_dataset(name, f"~/{Path(data_dir).name}")
    assert handle.splits["train"] > 0


def test_stored_samples_are_read_as_float_one_way_everywhere():
    """int16 PCM is scaled to [-1, 1), float samples are kept: the pretraining crop, the eval windows and
    the MFCC workers all read a record through location.as_float."""
    from ssl_audio.data.location import as_float
    from ssl_audio.data.pipeline import random_crop
    from ssl_audio_linear_probe import mfcc_worker

    pcm = np.array([-32768, 0, 16384, 32767], np.int16)
    np.testing.assert_allclose(as_float(pcm), [-1.0, 0.0, 0.5, 32767 / 32768])
    samples = np.array([-0.25, 0.0, 0.5, 0.75], np.float32)
    np.testing.assert_array_equal(as_float(samples), samples)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(random_crop(samples, 4, rng), samples)  # not divided by 32768
    np.testing.assert_allclose(random_crop(pcm, 4, rng), as_float(pcm))
    assert mfcc_worker.as_float is as_float  # the workers' reader is the same function


@pytest.mark.slow
def test_bench_input_times_the_loader_per_worker_count_and_prints_its_line_last(prepared):
    import subprocess
    import sys

    name, data_dir = prepared
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ssl_audio.cli",
            "bench",
            "input",
            "--config",
            str(Path(__file__).resolve().parents[2] / "configs" / "simclr_logmel_cnn.py") + ":tiny",
            "--workers",
            "1",
            "--batches",
            "3",
            "--demand",
            "1000",
            f"--config.dataset={name}",
            f"--config.data_dir={data_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert "0 worker process(es)" in result.stdout and "1 worker process(es)" in result.stdout
    assert "a clip's time, in this process: read" in result.stdout
    fields = dict(item.split("=") for item in lines[-1].split()[1:])
    assert lines[-1].startswith("input ") and set(fields) == {"clips_per_s", "per_core", "cores_for_demand"}
    per_core, cores = float(fields["per_core"]), int(fields["cores_for_demand"])
    assert per_core > 0 and cores == math.ceil(1000 / per_core)


@pytest.mark.parametrize("workers", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_batches_made_from_int16_views_are_the_per_crop_floats_bit_for_bit(handle, workers):
    """The loader crops views of the stored int16 samples and makes the batch as float32 in one array (with
    workers: grain's stack, then one conversion); a clip's crops and their numbers are those of converting
    each crop and stacking, as the loader did before, so a run's batches did not change."""
    from itertools import islice

    import grain

    from ssl_audio.data.pipeline import crop_loader, random_crop

    class FloatCrops(grain.transforms.RandomMap):  # the former transform: each crop converted on its own
        def random_map(self, element, rng):
            return {view: random_crop(element["audio"], 12_000, rng) for view in ("view_a", "view_b")}

    common = dict(split="train", global_batch_size=4, seed=5, shard_index=0, shard_count=1)
    before = crop_loader(handle, FloatCrops(), **common)
    now = pretrain_loader(handle, crop_seconds=0.75, worker_count=workers, **common)
    for old, new in zip(islice(before, 3), islice(now, 3)):
        for view in ("view_a", "view_b"):
            assert new[view].dtype == np.float32 and new[view].shape == (4, 12_000)
            np.testing.assert_array_equal(new[view], old[view])


def test_auto_data_workers_read_in_process_on_a_cpu_and_use_half_the_cores_beside_an_accelerator():
    from ssl_audio.data.pipeline import loader_workers

    assert loader_workers("auto", "cpu", cores=2) == 0 and loader_workers("auto", "cpu", cores=64) == 0
    assert loader_workers("auto", "gpu", cores=16) == 8 and loader_workers("auto", "gpu", cores=2) == 1
    assert loader_workers("auto", "tpu", cores=96) == 16
    assert loader_workers(3, "cpu") == 3 and loader_workers("2", "gpu") == 2
