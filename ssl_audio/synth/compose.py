"""Turns (style, artist, mood) into a multi-instrument MIDI phrase.

Mood follows Russell's circumplex: valence picks the mode (major/minor), the
progression and the register; arousal picks the tempo inside the style's and
the artist's range, the loudness (velocity) and the note density (melody
subdivision, busier drums, faster comping). The labels written for a clip are
read off what was actually composed, e.g. an instrument family is listed only
if its part has notes.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pretty_midi

from ssl_audio.synth.personas import Persona
from ssl_audio.synth.styles import DRUM_KEYS, mood_of

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)

# Scale-degree progressions (0 = tonic). Bright ones for positive valence, dark ones for negative.
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (0, 5, 3, 4), (0, 3, 0, 4), (1, 4, 0, 0), (0, 2, 3, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4), (0, 1, 4, 0)),
}


@dataclasses.dataclass(frozen=True)
class ClipPlan:
    """Everything that decides one clip; drawn from the dataset seed and the clip index."""

    index: int
    persona: Persona
    valence: float
    arousal: float
    tonic: int
    mode: str
    tempo: float
    seconds: float
    seed: int

    @property
    def mood(self) -> str:
        return mood_of(self.valence, self.arousal)


def plan_clip(index: int, seed: int, personas: list[Persona], seconds: float) -> ClipPlan:
    rng = np.random.default_rng([seed, index, 0xC11])
    persona = personas[int(rng.integers(len(personas)))]
    # Balanced quadrants, kept away from the axes so each mood label is unambiguous.
    quadrant = int(rng.integers(4))
    valence = float(rng.uniform(0.2, 1.0)) * (1 if quadrant in (0, 3) else -1)
    arousal = float(rng.uniform(0.2, 1.0)) * (1 if quadrant in (0, 1) else -1)
    lo, hi = persona.style.tempo
    place = 0.7 * (arousal + 1) / 2 + 0.3 * persona.tempo_habit
    return ClipPlan(
        index=index,
        persona=persona,
        valence=round(valence, 4),
        arousal=round(arousal, 4),
        tonic=int(rng.choice(persona.tonics)),
        mode="major" if valence > 0 else "minor",
        tempo=round(lo + place * (hi - lo), 2),
        seconds=seconds,
        seed=seed,
    )


def instrument_family(program: int) -> str:
    return pretty_midi.program_to_instrument_class(program).lower().replace(" ", "_")


class _Writer:
    """Places notes on the 16th-note grid with swing and the artist's timing looseness."""

    def __init__(self, plan: ClipPlan, rng: np.random.Generator):
        self.plan, self.rng = plan, rng
        self.beat = 60.0 / plan.tempo
        self.step = self.beat / 4
        self.steps_per_bar = 4 * plan.persona.beats_per_bar
        self.bar = self.steps_per_bar * self.step
        self.n_bars = int(math.ceil(plan.seconds / self.bar)) + 1
        self.loudness = 45 + 70 * (plan.arousal + 1) / 2  # arousal -> velocity 45..115

    def time(self, bar: int, step: float) -> float:
        t = bar * self.bar + step * self.step
        if self.plan.persona.swing and int(step) % 4 == 2:
            t += self.plan.persona.swing * self.beat / 2
        return max(0.0, t + float(self.rng.normal(0, self.plan.persona.humanize_s)))

    def add(
        self, inst: pretty_midi.Instrument, pitch: int, bar: int, step: float, dur_steps: float, accent: float = 0.0
    ) -> None:
        start = self.time(bar, step)
        end = start + max(dur_steps * self.step * 0.92, 0.03)
        velocity = int(np.clip(self.loudness + accent + self.rng.normal(0, 5), 1, 127))
        inst.notes.append(pretty_midi.Note(velocity=velocity, pitch=int(np.clip(pitch, 0, 127)), start=start, end=end))


def _scale(plan: ClipPlan) -> tuple[int, ...]:
    return MAJOR if plan.mode == "major" else MINOR


def _degree_pitch(plan: ClipPlan, degree: int, base_octave_note: int) -> int:
    """MIDI pitch of a scale degree, in the octave that starts at or below base_octave_note."""
    scale = _scale(plan)
    octave_start = base_octave_note - ((base_octave_note - plan.tonic) % 12)
    return octave_start + scale[degree % 7] + 12 * (degree // 7)


def _chord(plan: ClipPlan, degree: int, base: int) -> list[int]:
    style = plan.persona.style
    root = _degree_pitch(plan, degree, base)
    if style.power_chords:
        return [root, root + 7, root + 12]
    tones = [degree, degree + 2, degree + 4] + ([degree + 6] if style.sevenths else [])
    return [_degree_pitch(plan, d, base) for d in tones]


def _drums(w: _Writer, inst: pretty_midi.Instrument) -> None:
    style, a = w.plan.persona.style, w.plan.arousal
    pattern = {k: set(v) for k, v in style.drums.items()}
    if a > 0.4:
        for k, v in style.busy_drums.items():
            pattern.setdefault(k, set()).update(v)
    for bar in range(w.n_bars):
        for name, steps in pattern.items():
            for s in sorted(steps):
                if s >= w.steps_per_bar:
                    continue
                if a < -0.4 and name in ("hat", "shaker", "open_hat") and s % 4 != 0:
                    continue  # calm clips: only on the beat
                if name == "crash" and bar % 4 != 0:
                    continue
                accent = 10 if s % 4 == 0 else -8
                w.add(inst, DRUM_KEYS[name], bar, s, 1, accent)
        if a > 0 and bar % 4 == 3:  # a tom fill into the next phrase
            for i, s in enumerate(range(w.steps_per_bar - 4, w.steps_per_bar)):
                w.add(inst, DRUM_KEYS["high_tom"] if i < 2 else DRUM_KEYS["low_tom"], bar, s, 1, 5)


def _comp(w: _Writer, inst: pretty_midi.Instrument, progression: tuple[int, ...]) -> None:
    style, a, S = w.plan.persona.style, w.plan.arousal, w.steps_per_bar
    for bar in range(w.n_bars):
        chord = _chord(w.plan, progression[bar % len(progression)], 55)
        kind = style.comp
        if kind == "strum8":
            hits = [(s, 2) for s in range(0, S, 2)]
        elif kind == "power16":
            hits = [(s, 1) for s in range(0, S, 1 if a > 0.3 else 2)]
        elif kind == "block":
            hits = [(s, 4) for s in range(0, S, 4)] if a > 0.3 else [(0, S // 2), (S // 2, S // 2)]
        elif kind == "skank":
            hits = [(s, 1) for s in (2, 6, 10, 14) if s < S]
        elif kind == "sustain":
            hits = [(0, S)]
        elif kind == "jazz":
            cand = [s for s in (0, 3, 6, 8, 10, 14) if s < S]
            hits = [(int(s), 2) for s in sorted(w.rng.choice(cand, size=3 if a > 0 else 2, replace=False))]
        elif kind == "bossa":
            hits = [(s, 2) for s in (0, 3, 6, 8, 11, 14) if s < S]
        elif kind == "boom_chick":
            hits = [(s, 3) for s in range(4, S, 4)]
        elif kind == "arp":
            every = 1 if a > 0.3 else 2 if a > -0.3 else 4
            tones = chord + [chord[1] + 12]
            for i, s in enumerate(range(0, S, every)):
                w.add(inst, tones[i % len(tones)], bar, s, every, -6 if s % 4 else 4)
            continue
        else:
            raise ValueError(f"unknown comp pattern {kind!r} in style {style.name!r}")
        if a < -0.3 and kind in ("strum8", "power16"):
            hits = [(s, 4) for s, _ in hits if s % 4 == 0]  # calm: on the beat only
        for s, dur in hits:
            for p in chord:
                w.add(inst, p, bar, s, dur, -4 if s % 4 else 4)


def _bass(w: _Writer, inst: pretty_midi.Instrument, progression: tuple[int, ...]) -> None:
    style, a, S = w.plan.persona.style, w.plan.arousal, w.steps_per_bar
    for bar in range(w.n_bars):
        degree = progression[bar % len(progression)]
        root = _degree_pitch(w.plan, degree, 40)
        fifth = _degree_pitch(w.plan, degree + 4, 40)
        kind = style.bass_line
        if kind == "root8":
            notes = [(s, 2, root) for s in range(0, S, 2)]
        elif kind == "follow8":
            notes = [(s, 1, root) for s in range(0, S, 1 if a > 0.3 else 2)]
        elif kind == "root_half":
            notes = [(0, S // 2, root), (S // 2, S // 2, fifth if bar % 2 else root)]
        elif kind == "root_fifth":
            notes = [(0, 4, root)] + ([(8, 4, fifth)] if S > 8 else [])
        elif kind == "offbeat8":
            notes = [(s, 2, root) for s in (2, 6, 10, 14) if s < S] + ([(0, 1, root)] if a > 0.3 else [])
        elif kind == "reggae":
            notes = [(0, 3, root), (6, 2, fifth), (10, 2, root + 12)]
        elif kind == "hiphop":
            notes = [(0, 3, root), (7, 2, root), (10, 3, fifth)]
        elif kind == "drone":
            notes = [(0, S, root)]
        elif kind == "walking":
            next_root = _degree_pitch(w.plan, progression[(bar + 1) % len(progression)], 40)
            third = _degree_pitch(w.plan, degree + 2, 40)
            approach = next_root + (1 if w.rng.random() < 0.5 else -1)
            line = [root, third, fifth, approach][: S // 4]
            notes = [(4 * i, 4, p) for i, p in enumerate(line)]
        else:
            raise ValueError(f"unknown bass line {kind!r} in style {style.name!r}")
        if a < -0.3 and kind in ("root8", "follow8"):
            notes = [(s, 4, p) for s, _, p in notes if s % 4 == 0]  # calm: on the beat only
        for s, dur, pitch in notes:
            w.add(inst, pitch, bar, s, dur, 6 if s == 0 else 0)


def _melody(w: _Writer, inst: pretty_midi.Instrument, progression: tuple[int, ...]) -> None:
    plan, a, S = w.plan, w.plan.arousal, w.steps_per_bar
    # Arousal -> density: long notes when calm, 8ths and 16ths when excited.
    durations = (8, 4) if a < -0.3 else (4, 2) if a < 0.3 else (2, 1, 2)
    center = plan.persona.style.melody_center + (3 if plan.valence > 0.5 else -3 if plan.valence < -0.5 else 0)
    degree = 7  # one octave above the tonic in the register set by `center`
    motif: list[tuple[int, int, int]] = []  # (step, dur, degree offset) of a 2-bar phrase
    for bar in range(2):
        s = 0
        while s < S:
            dur = int(w.rng.choice(durations))
            if s % 4 == 0:  # strong beats land on chord tones
                chord_degree = progression[bar % len(progression)]
                degree = min(
                    (chord_degree + k + 7 * o for k in (0, 2, 4) for o in (0, 1, 2)), key=lambda d: abs(d - degree)
                )
            else:
                degree += int(w.rng.choice((-2, -1, -1, 1, 1, 2)))
            degree = int(np.clip(degree, 3, 14))
            if w.rng.random() > 0.12:  # some rests keep it phrased
                motif.append((bar * S + s, dur, degree))
            s += dur
    base = center - 12
    for bar in range(0, w.n_bars, 2):
        shift = progression[bar % len(progression)] - progression[0]
        for step, dur, deg in motif:
            if w.rng.random() < 0.25:  # vary the repeat
                deg += int(w.rng.choice((-1, 1)))
            b, s = bar + step // S, step % S
            if b < w.n_bars:
                w.add(inst, _degree_pitch(plan, deg + shift, base), b, s, dur, 8)


def _pad(w: _Writer, inst: pretty_midi.Instrument, progression: tuple[int, ...]) -> None:
    for bar in range(w.n_bars):
        for p in _chord(w.plan, progression[bar % len(progression)], 62):
            w.add(inst, p, bar, 0, w.steps_per_bar * 1.05, -25)


def compose(plan: ClipPlan) -> tuple[pretty_midi.PrettyMIDI, list[str]]:
    """The clip's MIDI and the sorted instrument families that sound in it."""
    rng = np.random.default_rng([plan.seed, plan.index, 0xC0DE])
    persona, style = plan.persona, plan.persona.style
    progression = PROGRESSIONS[plan.mode][int(rng.integers(len(PROGRESSIONS[plan.mode])))]
    writer = _Writer(plan, rng)

    melody_program = int(rng.choice(persona.melody_programs))
    chord_program = int(rng.choice(persona.chord_programs))
    parts = [
        ("melody", melody_program, _melody),
        ("chords", chord_program, _comp),
        ("bass", persona.bass_program, _bass),
    ]
    if persona.pad_program >= 0:
        parts.append(("pad", persona.pad_program, _pad))
    keep = [rng.random() < persona.part_keep for _ in parts]
    if sum(keep) < 2:  # at least two pitched parts: the clip must be music, not a lone line
        keep[0] = keep[1] = True
    midi = pretty_midi.PrettyMIDI(initial_tempo=plan.tempo)
    for (name, program, write), kept in zip(parts, keep):
        if kept:
            inst = pretty_midi.Instrument(program=program, name=name)
            write(writer, inst, progression)
            midi.instruments.append(inst)
    if style.drums is not None and rng.random() < max(persona.part_keep, 0.85):
        kit = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
        _drums(writer, kit)
        midi.instruments.append(kit)

    # Only what sounds inside the clip counts towards the label.
    families = set()
    for inst in midi.instruments:
        inst.notes = [n for n in inst.notes if n.start < plan.seconds]
        if inst.notes:
            families.add("drums" if inst.is_drum else instrument_family(inst.program))
    midi.instruments = [inst for inst in midi.instruments if inst.notes]
    return midi, sorted(families)
