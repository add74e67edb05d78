"""`ssl-audio synth`: renders the embedded labelled music dataset to a folder.

Layout written:
  OUT/clips/000000.wav ...   16 kHz mono (or FLAC)
  OUT/labels.csv             path, genre, mood, instruments, artist, valence, arousal
  OUT/synth.json             the settings, so a rerun can resume and a mismatch is caught

Deterministic for a seed (each clip draws from its own (seed, index) stream, so
the worker count does not change a single sample). A killed run resumes: files
are written atomically, and a rerun with the same settings renders only what
is missing.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import functools
import json
import os
import shutil
import time
from pathlib import Path

import soundfile as sf

from ssl_audio.errors import BadValueError, OutputExistsError
from ssl_audio.parallel import parallel_map
from ssl_audio.synth.compose import compose, plan_clip
from ssl_audio.synth.personas import Persona, make_personas
from ssl_audio.synth.render import render

LABEL_COLUMNS = ("path", "genre", "mood", "instruments", "artist", "valence", "arousal")
MANIFEST = "synth.json"
# Bump whenever composition or rendering changes what a (seed, index) produces: resuming a folder
# made by another generator would pair old clips with new labels.
GENERATOR_VERSION = 2
FORMATS = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16")}


@dataclasses.dataclass(frozen=True)
class SynthOptions:
    clips: int
    seed: int = 0
    seconds: float = 10.0
    sample_rate: int = 16_000
    format: str = "wav"
    artists_per_genre: int = 6

    def __post_init__(self):
        if self.clips < 1:
            raise BadValueError(f"--clips must be at least 1, got {self.clips}")
        if self.seconds <= 0:
            raise BadValueError(f"--seconds must be positive, got {self.seconds}")
        if self.format not in FORMATS:
            raise BadValueError(f"--format must be one of {sorted(FORMATS)}, got {self.format!r}")
        if self.artists_per_genre < 1:
            raise BadValueError(f"--artists-per-genre must be at least 1, got {self.artists_per_genre}")


@dataclasses.dataclass
class SynthResult:
    out: Path
    rendered: int
    reused: int
    seconds_taken: float
    genres: dict[str, int]
    moods: dict[str, int]
    artists: int

    @property
    def clips_per_second(self) -> float:
        return self.rendered / self.seconds_taken if self.seconds_taken > 0 else float("nan")


@functools.lru_cache(maxsize=4)
def _personas(seed: int, per_style: int) -> list[Persona]:
    return make_personas(seed, per_style)


def clip_path(index: int, fmt: str) -> str:
    return f"clips/{index:06d}.{fmt}"


def _render_one(job: tuple[str, int, SynthOptions]) -> tuple[dict, bool]:
    """Composes clip `index` (always: the labels come from it) and renders it unless already on disk."""
    out, index, opt = job
    plan = plan_clip(index, opt.seed, _personas(opt.seed, opt.artists_per_genre), opt.seconds)
    midi, families = compose(plan)
    rel = clip_path(index, opt.format)
    target = os.path.join(out, rel)
    rendered = False
    if not os.path.exists(target):
        audio = render(midi, opt.seconds, opt.sample_rate, plan.arousal)
        fmt, subtype = FORMATS[opt.format]
        tmp = target + ".part"
        sf.write(tmp, audio, opt.sample_rate, format=fmt, subtype=subtype)
        os.replace(tmp, target)  # atomic: a killed run never leaves a half-written clip behind
        rendered = True
    row = {
        "path": rel,
        "genre": plan.persona.style.name,
        "mood": plan.mood,
        "instruments": ";".join(families),
        "artist": plan.persona.artist,
        "valence": f"{plan.valence:.4f}",
        "arousal": f"{plan.arousal:.4f}",
    }
    return row, rendered


def _check_output(out: Path, opt: SynthOptions, overwrite: bool) -> None:
    manifest = out / MANIFEST
    settings = dataclasses.asdict(opt)
    if overwrite:
        for name in ("clips", "labels.csv", MANIFEST):
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        return
    if manifest.exists():
        made = json.loads(manifest.read_text())
        if made.get("generator_version") != GENERATOR_VERSION:
            raise OutputExistsError(
                f"{out}: made by synth generator version {made.get('generator_version')}, this is version "
                f"{GENERATOR_VERSION}; its clips would not match new labels. Use a new --out, or --overwrite "
                "(for the demo: make clean-demo)"
            )
        previous = made.get("settings", {})
        # A different clip count is a resume/extension of the same stream; anything else is another dataset.
        differing = sorted(k for k in settings if k != "clips" and previous.get(k) != settings[k])
        if differing:
            key = differing[0]
            raise OutputExistsError(
                f"{out}: holds a synth dataset made with {key}={previous.get(key)!r}, not {settings[key]!r}; "
                "use a new --out, or --overwrite to replace it"
            )
    elif out.exists() and any(out.iterdir()):
        raise OutputExistsError(
            f"{out}: not empty and not made by `ssl-audio synth`; "
            "refusing to write into it (use a new --out, or --overwrite)"
        )


def synth_dataset(
    out: str | os.PathLike,
    opt: SynthOptions,
    *,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> SynthResult:
    out = Path(out)
    _check_output(out, opt, overwrite)
    (out / "clips").mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).write_text(
        json.dumps(
            {"tool": "ssl-audio synth", "generator_version": GENERATOR_VERSION, "settings": dataclasses.asdict(opt)},
            indent=2,
        )
        + "\n"
    )
    start = time.perf_counter()
    jobs = [(str(out), i, opt) for i in range(opt.clips)]
    rows, rendered = [], 0
    for row, was_rendered in parallel_map(
        _render_one, jobs, workers=workers, desc="synth", unit="clip", progress=progress
    ):
        rows.append(row)
        rendered += was_rendered
    taken = time.perf_counter() - start

    tmp = out / "labels.csv.part"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=LABEL_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out / "labels.csv")
    return SynthResult(
        out=out,
        rendered=rendered,
        reused=len(rows) - rendered,
        seconds_taken=taken,
        genres=dict(sorted(collections.Counter(r["genre"] for r in rows).items())),
        moods=dict(sorted(collections.Counter(r["mood"] for r in rows).items())),
        artists=len({r["artist"] for r in rows}),
    )
