"""`ssl-audio bench memory`: peak memory of each job on a long file against a short one, in one run.

Two FLAC files of music-like audio at 44.1 kHz stereo (what real catalogues hold) are written block by
block: a long one (--long-minutes, default 120) and a short one (--short-minutes, default 3), each alone in
its folder (or, with --source, a real recording repeated). Each job then runs as its own process on each
folder, at its default workers, and its peak resident memory is read
from the kernel (getrusage of a small parent that starts only the job): `scan`, `prepare`, `embed` (given
--checkpoint) and the pretraining loader (grain over the prepared dataset, --batches batches of two crops
per clip). Prints per job
`memory JOB long_mb=... short_mb=... ratio=...`, and last `memory max_ratio=...`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

RATE = 44_100
LOADER = """
import sys
from ssl_audio.data.pipeline import open_dataset, pretrain_loader
handle = open_dataset(sys.argv[1], sys.argv[2])
loader = pretrain_loader(handle, global_batch_size=int(sys.argv[3]), crop_seconds=3.0, seed=0, shard_index=0,
                         shard_count=1)
for _, batch in zip(range(int(sys.argv[4])), loader):
    assert batch["view_a"].shape[0] == int(sys.argv[3])
"""


def write_from_source(path: Path, minutes: float, source: Path, block_seconds: float = 30.0) -> Path:
    """A FLAC at 44.1 kHz stereo of `minutes` of a real recording, the source repeated (each pass resampled
    to 44.1 kHz with soxr, mono made stereo), written a block at a time: real music compresses, and decodes,
    unlike the synthetic partials, which is what a catalogue's files cost to read."""
    import soundfile as sf
    import soxr

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(source, "rb") as f:
        audio, rate = sf.read(f, dtype="float32", always_2d=True)
    if rate != RATE:
        audio = soxr.resample(audio, rate, RATE)
    audio = audio[:, :2] if audio.shape[1] >= 2 else np.repeat(audio, 2, axis=1)
    frames, block, done = int(minutes * 60 * RATE), int(block_seconds * RATE), 0
    with sf.SoundFile(path, "w", RATE, 2, format="FLAC", subtype="PCM_16") as out:
        while done < frames:
            start = done % len(audio)
            n = min(block, frames - done, len(audio) - start)
            out.write(audio[start : start + n])
            done += n
    return path


def write_music(path: Path, minutes: float, seed: int = 0, block_seconds: float = 30.0) -> Path:
    """A FLAC of decaying partials and a little noise, written a block at a time (the bench's own memory
    stays small), different every block so that nothing compresses away."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frames = int(minutes * 60 * RATE)
    block = int(block_seconds * RATE)
    with sf.SoundFile(path, "w", RATE, 2, format="FLAC", subtype="PCM_16") as f:
        for start in range(0, frames, block):
            n = min(block, frames - start)
            t = (start + np.arange(n)) / RATE
            x = sum(
                0.08 * np.sin(2 * np.pi * rng.uniform(80, 3000) * t) * np.exp(-(t % 0.5) * rng.uniform(1, 8))
                for _ in range(6)
            )
            x = x + 0.01 * rng.standard_normal(n)
            f.write(np.stack([x, 0.7 * x], axis=1).astype(np.float32))
    return path


# Started by a small Python (-S: no site imports), the job's peak is its own: a process started by vfork or
# fork inherits its parent's resident pages into its peak until exec, so a job started straight from a big
# parent (a test worker holding JAX) would report that parent's size instead.
MEASURE = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
open(sys.argv[1], "w").write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.stdout.buffer.write(code.stdout[-4000:])
sys.exit(code.returncode)
"""


def peak_mb(args: list[str], env: dict | None = None) -> float:
    """Runs a command and returns its peak resident memory in MB (its own and its children's, as the kernel
    counted them); a failure is an error with the command's last lines."""
    with tempfile.NamedTemporaryFile(prefix="peak-", suffix=".txt") as peak:
        done = subprocess.run([sys.executable, "-S", "-c", MEASURE, peak.name, *args], capture_output=True, env=env)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(map(str, args[:4]))} failed ({done.returncode}):\n{tail}")
        return int(Path(peak.name).read_text()) / 1024  # Linux: kilobytes


def run(
    work: Path,
    long_minutes: float,
    short_minutes: float,
    checkpoint: str | None,
    batches: int,
    batch: int,
    source: Path | None = None,
) -> list[str]:
    cli = [sys.executable, "-m", "ssl_audio.cli"]
    folders = {"long": work / "long", "short": work / "short"}
    for name, minutes, seed in (("long", long_minutes, 1), ("short", short_minutes, 2)):
        target = folders[name] / f"{name}.flac"
        if not target.exists():
            if source is not None:
                write_from_source(target, minutes, source)
            else:
                write_music(target, minutes, seed)
    made_of = f"a real recording ({source.name}), repeated" if source is not None else "synthetic partials"
    print(f"memory: 44.1 kHz stereo FLAC of {made_of}: {long_minutes:g} min against {short_minutes:g} min", flush=True)
    jobs = {
        # At their default workers, as a user runs them: a worker pool is where results can pile up.
        "scan": lambda name: [*cli, "scan", str(folders[name]), "--quiet"],
        "prepare": lambda name: [*cli, "prepare", "--input", str(folders[name]), "--name", f"bench_{name}",
                                 "--data-dir", str(work / f"tfds_{name}"), "--quiet"],
        "loader": lambda name: [sys.executable, "-c", LOADER, f"bench_{name}", str(work / f"tfds_{name}"), str(batch),
                                str(batches)],
    }  # fmt: skip
    if checkpoint:
        jobs["embed"] = lambda name: [
            *cli, "embed", "--checkpoint", checkpoint, "--input", str(folders[name]), "--output",
            str(work / f"embed_{name}"), "--windows", "--quiet", "--overwrite",
        ]  # fmt: skip
    lines, ratios = [], []
    print(f"memory: the loader reads batches of {batch} clips (two 3-s crops each), {batches} batches", flush=True)
    for job, command in jobs.items():
        if job == "prepare":  # built afresh each run, not reused
            for name in ("long", "short"):
                shutil.rmtree(work / f"tfds_{name}", ignore_errors=True)
        peaks = {name: peak_mb(command(name)) for name in ("long", "short")}
        ratio = peaks["long"] / peaks["short"]
        ratios.append(ratio)
        lines.append(f"memory {job} long_mb={peaks['long']:.0f} short_mb={peaks['short']:.0f} ratio={ratio:.2f}")
        print(lines[-1], flush=True)
    if not checkpoint:
        lines.append("memory embed: skipped (give --checkpoint to measure it)")
    lines.append(f"memory max_ratio={max(ratios):.2f} ({long_minutes:g} min against {short_minutes:g} min)")
    return lines


HELP = "peak memory of scan, prepare, embed and the pretraining loader on a long file against a short one"
DESCRIPTION = __doc__.split("\n\n", 1)[1].replace("\n", " ")


def add_arguments(p) -> None:
    p.add_argument("--checkpoint", default=None, help="a pretraining workdir, to measure embed too")
    p.add_argument("--long-minutes", type=float, default=120.0, help="the long file's length (default 120)")
    p.add_argument("--short-minutes", type=float, default=3.0, help="the short file's length (default 3)")
    p.add_argument("--batches", type=int, default=40, help="loader batches (default 40)")
    p.add_argument(
        "--batch",
        type=int,
        default=3,
        help="clips per loader batch, on both files (default 3: the short file's "
        "segments at the default --segment-seconds)",
    )
    p.add_argument(
        "--source",
        default=None,
        help="a real recording (any format soundfile reads) repeated into both files; default: synthetic "
        "partials. docs/benchmarks.md uses a Debian game soundtrack",
    )
    p.add_argument("--dir", default=None, help="where the files and outputs go, reused if there (default: temp)")


def main(args) -> int:
    from ssl_audio.errors import MissingInputError

    source = Path(args.source).expanduser() if args.source else None
    if source is not None and not source.is_file():
        raise MissingInputError(f"--source {source}: no such file; give a recording to repeat, or leave it out")
    common = (args.long_minutes, args.short_minutes, args.checkpoint, args.batches, args.batch, source)
    if args.dir:
        lines = run(Path(args.dir), *common)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
            lines = run(Path(tmp), *common)
    print(lines[-1])
    return 0
