"""`--runner dask`: Beam's DaskRunner as mended by ssl_audio.beam.dask, on 2-worker LocalClusters.

The stock runner's three defects are shown first (if a Beam release mends them, these assertions fail and
the subclass can go); then embed's faults: a worker killed mid-run, and the whole job killed and rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from ssl_audio.beam import embed as beam_embed
from ssl_audio.beam.embed import STAGING_PREFIX, DecodeAndCut, export_beam
from ssl_audio.embed.export import export
from ssl_audio.embed.model import load_model
from tests.embed.conftest import BAD, GOOD, write
from tests.embed.test_export import command
from tests.pretrain import helpers

pytestmark = pytest.mark.slow
pytest.importorskip("dask.distributed", reason="the dask extra: pip install 'ssl_audio[dask]'")


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        yield c


def _odd(x):
    import apache_beam as beam

    yield beam.pvalue.TaggedOutput("odd", x) if x % 2 else x


class _CountAtFinish:
    """Emits one count per bundle, from finish_bundle (as Beam's file sinks report their files)."""

    def __new__(cls):
        import apache_beam as beam
        from apache_beam.transforms.window import GlobalWindows

        class Fn(beam.DoFn):
            def start_bundle(self):
                self.n = 0

            def process(self, x):
                self.n += 1

            def finish_bundle(self):
                yield GlobalWindows.windowed_value(self.n)

        return Fn()


def _run_probe_pipeline(runner: str, address: str, out) -> dict:
    """Three branches, each written to its own file by its last step: which ran, and what they saw."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    def save(name):
        def f(values):
            (out / f"{name}.json").write_text(json.dumps(sorted(values)))
            return name

        return f

    options = PipelineOptions([f"--runner={runner}", f"--dask_client_address={address}", "--dask_partition_size=1"])
    p = beam.Pipeline(options=options)
    xs = p | beam.Create(list(range(6)))
    split = xs | beam.FlatMap(_odd).with_outputs("odd", main="even")
    split.odd | "OddList" >> beam.combiners.ToList() | "SaveOdd" >> beam.Map(save("odd"))
    counts = xs | "Finish" >> beam.ParDo(_CountAtFinish())
    counts | "FinList" >> beam.combiners.ToList() | "SaveFin" >> beam.Map(save("fin"))
    split.even | "EvenList" >> beam.combiners.ToList() | "SaveEven" >> beam.Map(save("even"))
    result = p.run()
    result.wait_until_finish()
    if hasattr(result, "client"):
        result.client.close()
    return {f.stem: json.loads(f.read_text()) for f in out.glob("*.json")}


def test_the_stock_dask_runner_loses_and_mixes_outputs_and_the_mended_one_does_not(cluster, tmp_path):
    stock, mended = tmp_path / "stock", tmp_path / "mended"
    stock.mkdir()
    mended.mkdir()
    seen = _run_probe_pipeline("apache_beam.runners.dask.dask_runner.DaskRunner", cluster.scheduler_address, stock)
    assert set(seen) == {"even"}  # only the last branch ran
    assert seen["even"] == list(range(6))  # and the main output got the tagged ones too
    seen = _run_probe_pipeline("ssl_audio.beam.dask.MendedDaskRunner", cluster.scheduler_address, mended)
    assert seen == {"even": [0, 2, 4], "odd": [1, 3, 5], "fin": [1] * 6}  # one per bundle, from finish_bundle


def scene_paths(out) -> list[str]:
    return pq.read_table(out / "scene", columns=["path"]).to_pydict()["path"]


class KillsItsWorker(DecodeAndCut):
    """The first attempt at one file kills the worker process running it (SIGKILL: no cleanup, as when a
    node is lost); dask reruns the lost tasks on the other worker. Attempts are counted in files."""

    def __init__(self, base: DecodeAndCut, marks, victim: str):
        super().__init__(base.options, base.window_samples, base.hop_samples, base.sample_rate)
        self.marks, self.victim = str(marks), victim

    def windows(self, key, path, *stamp):
        from pathlib import Path

        mark = Path(self.marks) / key.replace("/", "__")
        attempts = int(mark.read_text()) if mark.exists() else 0
        mark.write_text(str(attempts + 1))
        if key == self.victim and attempts == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        yield from super().windows(key, path, *stamp)


def test_a_worker_killed_mid_run_leaves_every_file_exactly_once(checkpoint, folder, tmp_path, monkeypatch):
    monkeypatch.setattr(beam_embed, "SHARD_FILES", 2)  # four shards, so four bundles over the two workers
    m = load_model(checkpoint, batch_size=4)
    base = DecodeAndCut(m.decode_options, m.window_samples, m.hop_samples, m.sample_rate)
    marks = tmp_path / "marks"
    marks.mkdir()
    out = tmp_path / "emb"
    result = export_beam(m, folder, out, checkpoint=checkpoint, runner="dask", dask_workers=2, windows=True,
                         decoder=KillsItsWorker(base, marks, victim="rock/b.flac"))  # fmt: skip
    assert int((marks / "rock__b.flac").read_text()) == 2  # killed once, done on the rerun
    assert (result.embedded, result.failed) == (4, 3)
    paths = scene_paths(out)
    assert sorted(paths) == sorted(GOOD)  # every good file, each once
    windows = pq.read_table(out / "windows", columns=["path", "window"]).to_pydict()
    pairs = list(zip(windows["path"], windows["window"]))
    assert len(pairs) == len(set(pairs)) and {p for p, _ in pairs} == GOOD
    assert not list(out.glob(STAGING_PREFIX + "*"))


def test_a_killed_job_leaves_nothing_that_blocks_a_rerun_which_adds_only_what_is_missing(checkpoint, folder, tmp_path):
    out = tmp_path / "emb"
    cmd = command(checkpoint, folder, out, "--batch-size", "4", "--runner", "dask", "--dask-workers", "2")
    first = export(load_model(checkpoint, batch_size=4), folder, out, progress=False)  # either engine's OUT
    assert first.embedded == 4
    first = sorted(scene_paths(out))
    for i in range(8):  # new files, for a second run to be killed in the middle of
        write(folder / "more" / f"m{i:02d}.wav", 6.0, seed=20 + i)
    job = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=helpers.env(1),
                           start_new_session=True)  # fmt: skip
    deadline = time.time() + 240
    while not any(out.glob(f"{STAGING_PREFIX}*/inputs-*.jsonl")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # the cluster up and the pipeline under way
    os.killpg(job.pid, signal.SIGKILL)  # the driver, the scheduler and the workers, at once
    job.wait()
    assert sorted(scene_paths(out)) == first  # nothing of the killed run counts as done
    again = subprocess.run(cmd, capture_output=True, text=True, env=helpers.env(1), timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "8 files embedded" in again.stdout and "4 already done" in again.stdout, again.stdout
    paths = scene_paths(out)
    assert len(paths) == len(set(paths)) and set(paths) == GOOD | {f"more/m{i:02d}.wav" for i in range(8)}
    assert not list(out.glob(STAGING_PREFIX + "*"))
    assert set(BAD) <= set(line.split("\t", 1)[0] for line in (out / "errors.tsv").read_text().splitlines()[1:])


def kill_first_attempt(job):
    """prepare's decode, except that the first attempt at one file kills its worker process (SIGKILL)."""
    from pathlib import Path

    from ssl_audio.data import builder

    path = Path(str(job[0]))
    mark = Path(os.environ["SSL_AUDIO_TEST_MARKS"]) / path.name
    attempts = int(mark.read_text()) if mark.exists() else 0
    mark.write_text(str(attempts + 1))
    if path.name == os.environ["SSL_AUDIO_TEST_VICTIM"] and attempts == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return builder._decode_pcm16(job)  # in a worker, the module as shipped: the patch lives in the driver


def test_prepare_with_a_worker_killed_mid_run_builds_the_in_process_dataset(messy, tmp_path, monkeypatch):
    from ssl_audio.data import builder
    from ssl_audio.data.prepare import PrepareOptions, prepare
    from tests.beam.test_prepare import dataset
    from tests.beam.test_prepare import prepare as prepare_cli

    here = tmp_path / "here"
    assert prepare_cli(messy, here, "--workers", "1").returncode == 0
    marks = tmp_path / "marks"
    marks.mkdir()
    victim = sorted(p.name for p in messy.rglob("*.wav"))[3]
    # The workers inherit this environment; the patched decode travels with the pickled DoFn.
    monkeypatch.setenv("SSL_AUDIO_TEST_MARKS", str(marks))
    monkeypatch.setenv("SSL_AUDIO_TEST_VICTIM", victim)
    monkeypatch.setattr(builder, "_decode_pcm16", kill_first_attempt)
    monkeypatch.setattr(builder, "SHARD_RECORDS", 4)  # several bundles over the two workers
    there = tmp_path / "dask"
    opt = PrepareOptions(name="messy", data_dir=str(there), runner="dask", dask_workers=2, progress=False)
    prepare(messy, opt)
    assert int((marks / victim).read_text()) == 2  # killed once, decoded on the rerun
    a, b = dataset(here), dataset(there)  # dataset() asserts that no key is there twice
    assert {s: set(e) for s, e in a.items()} == {s: set(e) for s, e in b.items()}
    for split in a:
        for key, ex in a[split].items():
            np.testing.assert_array_equal(np.asarray(b[split][key]["audio"]), np.asarray(ex["audio"]), err_msg=key)
