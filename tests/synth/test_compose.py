import dataclasses

import numpy as np
import pytest

from ssl_audio.synth.compose import compose, instrument_family, plan_clip
from ssl_audio.synth.personas import make_personas
from ssl_audio.synth.styles import GENRES, STYLE_BY_NAME, STYLES, mood_of

PERSONAS = make_personas(seed=0, per_style=3)


def test_at_least_eight_distinct_styles():
    assert len(GENRES) >= 8
    signatures = {(s.tempo, s.comp, s.bass_line, s.drums is None, s.melody) for s in STYLES}
    assert len(signatures) == len(STYLES)


def test_personas_keep_their_habits_across_the_dataset():
    again = make_personas(seed=0, per_style=3)
    assert again == PERSONAS
    assert len({p.artist for p in PERSONAS}) == len(PERSONAS) == 3 * len(STYLES)
    for p in PERSONAS:
        assert set(p.melody_programs) <= set(p.style.melody) and p.bass_program in p.style.bass
        assert set(p.chord_programs) <= set(p.style.chords)


@pytest.mark.parametrize(
    "v,a,mood", [(0.5, 0.5, "happy"), (-0.5, 0.5, "tense"), (-0.5, -0.5, "sad"), (0.5, -0.5, "calm")]
)
def test_mood_quadrants(v, a, mood):
    assert mood_of(v, a) == mood


def _plan(persona, valence, arousal):
    base = plan_clip(0, 0, [persona], 6.0)
    lo, hi = persona.style.tempo
    tempo = lo + (0.7 * (arousal + 1) / 2 + 0.3 * persona.tempo_habit) * (hi - lo)
    return dataclasses.replace(
        base, valence=valence, arousal=arousal, tempo=tempo, mode="major" if valence > 0 else "minor"
    )


def test_moods_are_balanced_and_valence_sets_the_mode():
    plans = [plan_clip(i, 0, PERSONAS, 10.0) for i in range(400)]
    counts = {m: sum(p.mood == m for p in plans) for m in ("happy", "tense", "sad", "calm")}
    assert min(counts.values()) > 70
    assert all((p.mode == "major") == (p.valence > 0) for p in plans)
    for p in plans:
        lo, hi = p.persona.style.tempo
        assert lo <= p.tempo <= hi


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.artist)
def test_arousal_raises_tempo_loudness_and_density(persona):
    calm, _ = compose(_plan(persona, 0.5, -0.9))
    excited, _ = compose(_plan(persona, 0.5, 0.9))
    assert excited.get_tempo_changes()[1][0] > calm.get_tempo_changes()[1][0]

    def stats(midi):
        notes = [n for inst in midi.instruments for n in inst.notes]
        return np.mean([n.velocity for n in notes]), len(notes) / 6.0

    (v_calm, d_calm), (v_exc, d_exc) = stats(calm), stats(excited)
    assert v_exc > v_calm + 30
    assert d_exc > 1.15 * d_calm


def test_instrument_label_lists_exactly_the_families_that_sound():
    for i in range(60):
        plan = plan_clip(i, 1, PERSONAS, 4.0)
        midi, families = compose(plan)
        sounding = {
            "drums" if inst.is_drum else instrument_family(inst.program)
            for inst in midi.instruments
            if any(n.start < 4.0 for n in inst.notes)
        }
        assert families == sorted(sounding)
        assert all(n.start < 4.0 for inst in midi.instruments for n in inst.notes)


def test_styles_without_a_kit_never_get_drums():
    for name in ("classical", "ambient"):
        assert STYLE_BY_NAME[name].drums is None
    for i in range(80):
        plan = plan_clip(i, 2, PERSONAS, 3.0)
        _, families = compose(plan)
        if plan.persona.style.drums is None:
            assert "drums" not in families
