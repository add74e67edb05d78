"""The genres of the embedded dataset: each a palette, a tempo range, a groove and a harmony.

A style is data only; `compose.py` turns (style, persona, mood) into notes.
Programs are General MIDI numbers (0-based); drum steps are positions on a
16th-note grid within one bar (so 0..15 in 4/4, 0..11 in 3/4).
"""

from __future__ import annotations

import dataclasses

# General MIDI percussion keys used by the drum patterns.
DRUM_KEYS = {
    "kick": 36,
    "rim": 37,
    "snare": 38,
    "clap": 39,
    "hat": 42,
    "pedal_hat": 44,
    "open_hat": 46,
    "low_tom": 45,
    "high_tom": 50,
    "crash": 49,
    "ride": 51,
    "tambourine": 54,
    "cowbell": 56,
    "conga": 63,
    "shaker": 70,
    "claves": 75,
}

EIGHTHS = tuple(range(0, 16, 2))
SIXTEENTHS = tuple(range(16))
OFFBEAT_EIGHTHS = (2, 6, 10, 14)


@dataclasses.dataclass(frozen=True)
class Style:
    name: str
    tempo: tuple[float, float]  # BPM range; arousal picks the place inside it
    meters: tuple[int, ...]  # beats per bar a persona may use
    swing: float  # delay of off-beat 8ths, as a fraction of an 8th
    drums: dict[str, tuple[int, ...]] | None  # the groove at moderate arousal; None: no kit
    busy_drums: dict[str, tuple[int, ...]]  # added when arousal is high
    melody: tuple[int, ...]  # GM programs a persona picks its lead from
    chords: tuple[int, ...]
    bass: tuple[int, ...]
    pads: tuple[int, ...]  # () when the style has no pad layer
    comp: str  # how chords are played: a pattern name that compose._comp knows
    bass_line: str  # how the bass moves: a line name that compose._bass knows
    melody_center: int  # MIDI note the lead centres on
    sevenths: bool = False  # jazz/bossa harmony
    power_chords: bool = False  # rock/metal voicing: root, fifth, octave


STYLES: tuple[Style, ...] = (
    Style(
        "rock",
        (100, 150),
        (4,),
        0.0,
        {"kick": (0, 6, 8), "snare": (4, 12), "hat": EIGHTHS, "crash": (0,)},
        {"kick": (0, 6, 8, 10), "hat": SIXTEENTHS},
        melody=(29, 27, 30),
        chords=(29, 30, 18, 0),
        bass=(33, 34),
        pads=(),
        comp="strum8",
        bass_line="root8",
        melody_center=67,
        power_chords=True,
    ),
    Style(
        "jazz",
        (100, 180),
        (4,),
        0.3,
        {"ride": (0, 4, 6, 8, 12, 14), "pedal_hat": (4, 12), "kick": (0,)},
        {"snare": (7, 14), "ride": (0, 4, 6, 8, 10, 12, 14)},
        melody=(65, 66, 56, 11, 73),
        chords=(0, 4, 26),
        bass=(32,),
        pads=(),
        comp="jazz",
        bass_line="walking",
        melody_center=70,
        sevenths=True,
    ),
    Style(
        "classical",
        (60, 110),
        (3, 4),
        0.0,
        None,
        {},
        melody=(40, 73, 68, 71),
        chords=(48, 49, 46, 0),
        bass=(42, 43),
        pads=(),
        comp="arp",
        bass_line="root_half",
        melody_center=72,
    ),
    Style(
        "electronic",
        (118, 132),
        (4,),
        0.0,
        {"kick": (0, 4, 8, 12), "clap": (4, 12), "open_hat": OFFBEAT_EIGHTHS},
        {"hat": SIXTEENTHS},
        melody=(80, 81, 84),
        chords=(90, 81, 89),
        bass=(38, 39),
        pads=(88, 95),
        comp="arp",
        bass_line="offbeat8",
        melody_center=72,
    ),
    Style(
        "reggae",
        (66, 90),
        (4,),
        0.1,
        {"kick": (8,), "rim": (8,), "hat": EIGHTHS},
        {"kick": (0, 8), "hat": SIXTEENTHS},
        melody=(22, 56, 57),
        chords=(16, 27, 0),
        bass=(33,),
        pads=(),
        comp="skank",
        bass_line="reggae",
        melody_center=67,
    ),
    Style(
        "folk",
        (80, 125),
        (3, 4),
        0.0,
        {"shaker": EIGHTHS},
        {"tambourine": (4, 12)},
        melody=(73, 110, 21, 22),
        chords=(25, 24, 105),
        bass=(32,),
        pads=(),
        comp="boom_chick",
        bass_line="root_fifth",
        melody_center=72,
    ),
    Style(
        "metal",
        (140, 200),
        (4,),
        0.0,
        {"kick": EIGHTHS, "snare": (4, 12), "crash": (0, 8)},
        {"kick": SIXTEENTHS},
        melody=(30, 29),
        chords=(30,),
        bass=(34, 33),
        pads=(),
        comp="power16",
        bass_line="follow8",
        melody_center=64,
        power_chords=True,
    ),
    Style(
        "ambient",
        (56, 80),
        (4,),
        0.0,
        None,
        {},
        melody=(8, 11, 0, 79),
        chords=(89, 91, 92, 94),
        bass=(38, 42),
        pads=(95, 52, 88),
        comp="sustain",
        bass_line="drone",
        melody_center=74,
    ),
    Style(
        "hiphop",
        (80, 98),
        (4,),
        0.18,
        {"kick": (0, 7, 10), "snare": (4, 12), "hat": EIGHTHS},
        {"hat": SIXTEENTHS, "kick": (0, 3, 7, 10)},
        melody=(4, 11, 61, 0),
        chords=(4, 5, 0),
        bass=(33, 38),
        pads=(),
        comp="block",
        bass_line="hiphop",
        melody_center=69,
        sevenths=True,
    ),
    Style(
        "bossa_nova",
        (110, 145),
        (4,),
        0.0,
        {"rim": (0, 3, 6, 10, 13), "kick": (0, 3, 8, 11), "shaker": EIGHTHS},
        {"shaker": SIXTEENTHS},
        melody=(73, 65, 24),
        chords=(24, 0),
        bass=(32,),
        pads=(),
        comp="bossa",
        bass_line="root_fifth",
        melody_center=72,
        sevenths=True,
    ),
)

STYLE_BY_NAME = {s.name: s for s in STYLES}
GENRES = tuple(s.name for s in STYLES)

# Russell's circumplex quadrants: (valence > 0, arousal > 0) -> mood.
MOODS = ("happy", "tense", "sad", "calm")


def mood_of(valence: float, arousal: float) -> str:
    if arousal >= 0:
        return "happy" if valence >= 0 else "tense"
    return "calm" if valence >= 0 else "sad"
