"""`--runner` and `--beam-option`: which Beam runner a job runs on, and the options handed to it.

One flag picks the engine (`direct` here, `dask` here or on a cluster, `dataflow`, `flink` or `spark`); every other
setting is Beam's own option, passed through as `--beam-option KEY=VALUE` (e.g. `project=my-project`,
`region=europe-west4`, `flink_master=host:8081`, `direct_num_workers=4`) and checked against the options
Beam knows, so a typo is one line naming the key instead of a warning lost in the log. On the DirectRunner
the files are spread over worker *processes* (one per core unless `direct_num_workers` says otherwise):
decoding is CPU work that threads in one interpreter would serialise.
"""

from __future__ import annotations

import contextlib
import difflib
import logging

from ssl_audio.errors import BadValueError, UsageError
from ssl_audio.parallel import default_workers
from ssl_audio.runtime import engine_logs

RUNNERS = {
    "direct": "DirectRunner",
    "dask": "ssl_audio.beam.dask.MendedDaskRunner",  # Beam's DaskRunner with three defects mended
    "dataflow": "DataflowRunner",
    "flink": "FlinkRunner",
    "spark": "SparkRunner",
}


def parse_beam_options(items: list[str]) -> dict[str, str]:
    """KEY=VALUE strings -> {key: value}; the key may be written with or without leading dashes."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().lstrip("-").replace("-", "_")
        if not sep or not key:
            raise BadValueError(f"--beam-option {item!r}: write KEY=VALUE, e.g. --beam-option direct_num_workers=2")
        out[key] = value
    return out


def import_beam():
    previous = logging.root.manager.disable
    # Beam's import logs a warning on the root logger when the GCP client libraries are absent (they are
    # only needed on Dataflow); the user of a local run should not see it on every command.
    logging.disable(logging.WARNING)
    try:
        import apache_beam as beam
    except ImportError:
        raise UsageError(
            "--runner needs Apache Beam: pip install 'ssl_audio[beam]' (or leave --runner out to run in this process)"
        ) from None
    finally:
        logging.disable(previous)
    return beam


def pipeline_options(runner: str, options: dict[str, str] | list[str] | None = None):
    """Beam PipelineOptions for `runner` (a RUNNERS key, or a Beam runner class name for tests) and the
    user's options, every key checked against those Beam knows."""
    import_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    if runner == "dask":
        try:  # registers Beam's Dask options, so that their keys are known below
            import apache_beam.runners.dask.dask_runner  # noqa: F401
        except ImportError:
            raise UsageError("--runner dask needs dask: pip install 'ssl_audio[dask]'") from None
    if isinstance(options, list):
        options = parse_beam_options(options)
    options = dict(options or {})
    known = set(PipelineOptions([]).get_all_options(retain_unknown_options=False))
    if runner == "dask":  # Beam's Dask options are flags whose names differ from their keys
        from ssl_audio.beam.dask import DASK_FLAGS

        options = {DASK_FLAGS.get(k, k): v for k, v in options.items()}
        known |= set(DASK_FLAGS.values())
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise BadValueError(f"--beam-option {key}: not an Apache Beam pipeline option{hint}")
    if "runner" in options:
        raise BadValueError("--beam-option runner: choose the runner with --runner")
    name = RUNNERS.get(runner, runner)
    # Beam logs each worker's start, channels and shutdown at INFO and forwards every worker warning to the
    # driver: dozens of lines a run that say nothing about the user's files. Errors still show, and
    # SSL_AUDIO_DEBUG=1 keeps everything.
    if not engine_logs():
        options.setdefault("default_sdk_harness_log_level", "ERROR")
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
    if name == "DirectRunner":
        # Worker processes, not threads: decoding holds the GIL between the C calls.
        options.setdefault("direct_running_mode", "multi_processing")
        options.setdefault("direct_num_workers", str(default_workers()))  # the cores this process may use
    flags = [f"--runner={name}"] + [f"--{k}={v}" for k, v in options.items()]
    return PipelineOptions(flags)


def check_engine(runner: str, options, dask_address: str | None, dask_workers: int | None) -> None:
    """The runner's options and the Dask flags checked, one line naming what is wrong; nothing started."""
    if runner != "dask" and (dask_address or dask_workers):
        raise BadValueError("--dask-address and --dask-workers go with --runner dask")
    if dask_address and dask_workers:
        raise BadValueError("--dask-workers starts a local cluster, --dask-address uses a running one: give one")
    pipeline_options(runner, options)


@contextlib.contextmanager
def engine(runner: str, options: dict[str, str] | list[str] | None, dask_address: str | None, dask_workers: int | None):
    """The PipelineOptions of a run, with the engine it needs up while the block runs: for `dask`, the
    scheduler at `dask_address`, or a LocalCluster of `dask_workers` processes started and closed here."""
    check_engine(runner, options, dask_address, dask_workers)  # before a cluster is started
    if runner != "dask":
        yield pipeline_options(runner, options)
        return
    from ssl_audio.beam.dask import dask_engine

    options = parse_beam_options(options) if isinstance(options, list) else dict(options or {})
    with dask_engine(dask_address, dask_workers) as extra:
        yield pipeline_options(runner, {**extra, **options})
