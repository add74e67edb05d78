"""Artists of the embedded dataset: personas with fixed habits inside a style.

Real music evaluation must hold whole artists out (an artist's sound leaks
across their songs). The synthetic artists give the embedded dataset that same
structure: an artist always uses its own instruments, keys and tempo habits,
so an artist-grouped split is a real test of generalisation.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ssl_audio.synth.styles import STYLES, Style


@dataclasses.dataclass(frozen=True)
class Persona:
    artist: str
    style: Style
    melody_programs: tuple[int, ...]  # the artist's own small palette; each clip picks one
    chord_programs: tuple[int, ...]
    bass_program: int
    pad_program: int  # -1: this artist never uses a pad
    tonics: tuple[int, ...]  # pitch classes the artist writes in
    tempo_habit: float  # 0..1: where in the style's range this artist likes to sit
    beats_per_bar: int
    swing: float
    humanize_s: float  # timing looseness, seconds (std)
    part_keep: float  # probability that each optional part plays in a clip


def _palette(rng: np.random.Generator, choices: tuple[int, ...], size: int = 3) -> tuple[int, ...]:
    """Up to `size` distinct programs: an artist has a sound, but not a single instrument for life."""
    picked = rng.choice(choices, size=min(size, len(choices)), replace=False)
    return tuple(int(p) for p in picked)


def make_personas(seed: int, per_style: int) -> list[Persona]:
    """All artists for a dataset seed: `per_style` per style, deterministic."""
    rng = np.random.default_rng([seed, 0x50E7A])
    personas = []
    for style in STYLES:
        for k in range(per_style):
            pads = style.pads
            personas.append(
                Persona(
                    artist=f"{style.name}_{k:02d}",
                    style=style,
                    melody_programs=_palette(rng, style.melody),
                    chord_programs=_palette(rng, style.chords),
                    bass_program=int(rng.choice(style.bass)),
                    pad_program=int(rng.choice(pads)) if pads and rng.random() < 0.7 else -1,
                    tonics=tuple(int(t) for t in rng.choice(12, size=2, replace=False)),
                    tempo_habit=float(rng.uniform(0.0, 1.0)),
                    beats_per_bar=int(rng.choice(style.meters)),
                    swing=float(np.clip(style.swing + rng.normal(0, 0.04), 0.0, 0.4)) if style.swing else 0.0,
                    humanize_s=float(rng.uniform(0.002, 0.012)),
                    part_keep=float(rng.uniform(0.75, 0.95)),
                )
            )
    return personas
