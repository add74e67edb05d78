"""`ssl-audio bench embed`: our embeddings against classical descriptors, on the same files, in one process.

Both sides start from the audio files (decode and resample included) and use every core: ours runs the
embed job's pipeline (decoding threads, windows packed into device batches, XLA's CPU thread pool); the
reference extracts librosa's 20 MFCC + deltas, chroma and spectral contrast (mean and std, the probe's
baseline) in one worker process per core. Start-up (JAX compilation, worker processes, librosa's numba
JIT) is paid before the clocks start on both sides. Figures are x real time: seconds of audio per second.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor

from ssl_audio.audio.decode import DecodeError, DecodeOptions, load_audio
from ssl_audio.commands.flags import positive_int
from ssl_audio.embed.export import decoded, embed_stream
from ssl_audio.embed.inputs import list_inputs
from ssl_audio.embed.model import EmbeddingModel
from ssl_audio.errors import BadValueError
from ssl_audio.parallel import default_workers


def _descriptors_of_file(args) -> float:
    """Decodes one file and extracts its descriptors; returns its duration in seconds (0 if unusable)."""
    from ssl_audio.audio.descriptors import clip_descriptors

    path, options = args
    try:
        audio = load_audio(path, options)
    except DecodeError:
        return 0.0
    clip_descriptors(audio, options.sample_rate)
    return audio.shape[0] / options.sample_rate


def run(
    model: EmbeddingModel, input_dir: str, *, files: int = 100, repeats: int = 1, workers: int | None = None
) -> list[str]:
    items = list_inputs(input_dir)[:files]
    if not items:
        raise BadValueError(f"--input {input_dir}: no audio files to benchmark")
    workers = workers or default_workers()
    lines = [
        f"embed files={len(items)} from {input_dir}; {model.encoder.source}: {model.encoder.config.model.name} "
        f"(D={model.embedding_size}), window {model.window_seconds:g} s, hop {model.hop_seconds:g} s, "
        f"batch {model.batch_size} on {model.mesh.size} device(s); {workers} cores for the descriptors"
    ]

    def ours() -> tuple[float, float]:
        start, audio = time.perf_counter(), 0.0
        for finished in embed_stream(model, decoded(model, items, workers=2)):
            audio += sum(e.duration for _, e in finished)
        return audio, time.perf_counter() - start

    ours()  # compiles every batch shape the job uses
    audio_ours, t_ours = min((ours() for _ in range(repeats)), key=lambda r: r[1])

    options = DecodeOptions(sample_rate=model.sample_rate, min_seconds=0.0)
    args = [(str(path), options) for _, path in items]
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        list(pool.map(_descriptors_of_file, args[:workers]))  # imports and numba JIT in every worker
        best = None
        for _ in range(repeats):
            start = time.perf_counter()
            audio_ref = sum(pool.map(_descriptors_of_file, args))
            elapsed = time.perf_counter() - start
            best = elapsed if best is None else min(best, elapsed)
    t_ref = best

    x_ours, x_ref = audio_ours / t_ours, audio_ref / t_ref
    lines.append(
        f"embed ours: {audio_ours:.0f} s of audio in {t_ours:.2f} s = {x_ours:.0f}x real time "
        f"({len(items) / t_ours:.1f} files/s)"
    )
    lines.append(
        f"embed descriptors (librosa, {workers} processes): {audio_ref:.0f} s of audio in {t_ref:.2f} s "
        f"= {x_ref:.0f}x real time"
    )
    lines.append(f"embed ours_x_realtime={x_ours:.1f} descriptors_x_realtime={x_ref:.1f} ratio={x_ours / x_ref:.2f}")
    return lines


class PeakMemory:
    """Peak resident memory of this process and of each process under it (Beam's or dask's workers),
    sampled every 0.2 s while the block runs."""

    def __enter__(self):
        import threading

        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            try:
                family = [me, *me.children(recursive=True)]
            except psutil.Error:
                family = [me]
            for proc in family:
                try:
                    self.peaks[proc.pid] = max(self.peaks.get(proc.pid, 0), proc.memory_info().rss)
                except psutil.Error:
                    pass
            self._stop.wait(0.2)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def lines(self, driver: int) -> str:
        others = sorted((v for pid, v in self.peaks.items() if pid != driver), reverse=True)
        mb = 1 << 20
        largest = f"{others[0] / mb:.0f} MB" if others else "none"
        return f"peak RSS: this process {self.peaks.get(driver, 0) / mb:.0f} MB, largest worker process {largest}"


def run_beam(
    model: EmbeddingModel,
    checkpoint: str,
    input_dir: str,
    *,
    files: int,
    runner: str,
    beam_options: list[str],
    dask_address: str | None = None,
    dask_workers: int | None = None,
) -> list[str]:
    """The whole embed job on Beam against the whole job in this process, on the same files, each into a
    fresh output: decoding, embedding and writing Parquet. Beam's side includes what a run pays on a
    runner (starting workers, each loading and compiling the model), since a user pays it too; the
    in-process job is warmed up once (compilation) before its clock starts. Peak memory of the Beam run's
    processes is sampled too: a worker's should not grow with --files."""
    import os
    import tempfile

    from ssl_audio.beam.embed import export_beam
    from ssl_audio.embed.export import export

    items = list_inputs(input_dir)[:files]
    if not items:
        raise BadValueError(f"--input {input_dir}: no audio files to benchmark")
    with tempfile.TemporaryDirectory(prefix="bench-embed-") as tmp:
        listing = f"{tmp}/files.txt"
        with open(listing, "w", encoding="utf-8") as f:
            f.writelines(f"{path}\n" for _, path in items)
        export(model, listing, f"{tmp}/warm", progress=False)
        here = export(model, listing, f"{tmp}/here", progress=False)
        start = time.perf_counter()
        with PeakMemory() as memory:
            there = export_beam(model, listing, f"{tmp}/beam", checkpoint=checkpoint, runner=runner,
                                beam_options=beam_options, dask_address=dask_address,
                                dask_workers=dask_workers)  # fmt: skip
        t_beam = time.perf_counter() - start
    rate_here, rate_beam = here.embedded / here.seconds, there.embedded / t_beam
    options = " ".join(beam_options) or "default options"
    if runner == "dask":
        cluster = f"LocalCluster of {dask_workers or 'default'} workers"
        options = f"scheduler {dask_address}" if dask_address else cluster
    return [
        f"embed files={len(items)} from {input_dir}; {model.encoder.config.model.name} (D={model.embedding_size})",
        f"embed in-process: {here.embedded} files in {here.seconds:.2f} s = {rate_here:.2f} files/s",
        f"embed beam ({runner}, {options}): {there.embedded} files in {t_beam:.2f} s = {rate_beam:.2f} files/s "
        "(worker start-up and model loading included)",
        f"embed beam {memory.lines(os.getpid())}",
        f"embed beam_files_per_s={rate_beam:.2f} in_process_files_per_s={rate_here:.2f} "
        f"ratio={rate_beam / rate_here:.2f}",
    ]


# ------------------------------------------------------------------------------------------ the command

HELP = "`ssl-audio embed`'s pipeline against librosa descriptors on the same files"
DESCRIPTION = (
    "`ssl-audio embed`'s pipeline against librosa descriptors (20 MFCC + deltas, chroma, contrast) on "
    "the same files, decoding included, both on all cores; prints, last, `embed ours_x_realtime=... "
    "descriptors_x_realtime=... ratio=...`. With --runner: the embed job on Beam against the job in "
    "this process, last line `embed beam_files_per_s=... in_process_files_per_s=... ratio=...`."
)
TAKES_OVERRIDES = True


def add_arguments(p) -> None:
    from ssl_audio.commands.flags import add_checkpoint_argument

    add_checkpoint_argument(p, required=False)
    p.add_argument(
        "--config",
        default=None,
        help="instead of --checkpoint: a random-init encoder of this pretraining config's size "
        "(--config.KEY=VALUE overrides allowed)",
    )
    p.add_argument("--input", default="data/demo/audio", help="folder of audio (default data/demo/audio)")
    p.add_argument("--files", type=int, default=100, help="number of files from --input (default 100)")
    p.add_argument("--batch", type=int, default=64, help="windows per device batch (default 64)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats after warm-up (default 3)")
    p.add_argument(
        "--workers", type=positive_int, default=None, help="processes for the descriptors (default: all cores)"
    )
    from ssl_audio.commands.flags import add_runner_arguments

    add_runner_arguments(p)  # with --runner: the embed job on Beam against the job in this process


def main(args) -> int:
    from ssl_audio.embed.model import load_model

    if bool(args.checkpoint) == bool(args.config):
        raise BadValueError(
            "bench embed: give --checkpoint (e.g. runs/demo/pretrain), or --config for a "
            "random-init encoder of that config's size"
        )
    if args.overrides and not args.config:
        raise BadValueError(f"bench embed: {args.overrides[0]} needs --config (the config it overrides)")
    if args.checkpoint:
        model = load_model(args.checkpoint, batch_size=args.batch)
    else:
        from ssl_audio.pretrained import random_encoder
        from ssl_audio_pretrain.config import load_config

        model = EmbeddingModel(random_encoder(load_config(args.config, args.overrides)), batch_size=args.batch)
    if args.runner:
        if not args.checkpoint:
            raise BadValueError("bench embed --runner: give --checkpoint (what the Beam workers load)")
        lines = run_beam(model, args.checkpoint, args.input, files=args.files, runner=args.runner,
                         beam_options=args.beam_option, dask_address=args.dask_address,
                         dask_workers=args.dask_workers)  # fmt: skip
    else:
        lines = run(model, args.input, files=args.files, repeats=args.repeats, workers=args.workers)
    for line in lines:
        print(line, flush=True)
    return 0
