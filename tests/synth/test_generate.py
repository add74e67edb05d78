import csv
import os

import numpy as np
import pytest
import soundfile as sf

from ssl_audio.errors import OutputExistsError
from ssl_audio.synth.generate import LABEL_COLUMNS, SynthOptions, synth_dataset
from ssl_audio.synth.styles import GENRES, MOODS, mood_of


def _read(out):
    rows = list(csv.DictReader(open(out / "labels.csv")))
    audio = [sf.read(out / r["path"], dtype="int16")[0] for r in rows]
    return rows, audio


def test_same_seed_same_dataset_whatever_the_worker_count(tmp_path):
    opt = SynthOptions(clips=6, seed=3, seconds=2.0)
    synth_dataset(tmp_path / "a", opt, workers=1, progress=False)
    synth_dataset(tmp_path / "b", opt, workers=2, progress=False)
    rows_a, audio_a = _read(tmp_path / "a")
    rows_b, audio_b = _read(tmp_path / "b")
    assert rows_a == rows_b
    assert all(np.array_equal(x, y) for x, y in zip(audio_a, audio_b))


def test_another_seed_gives_other_music(tmp_path):
    synth_dataset(tmp_path / "a", SynthOptions(clips=3, seed=1, seconds=2.0), workers=1, progress=False)
    synth_dataset(tmp_path / "b", SynthOptions(clips=3, seed=2, seconds=2.0), workers=1, progress=False)
    _, audio_a = _read(tmp_path / "a")
    _, audio_b = _read(tmp_path / "b")
    assert not any(np.array_equal(x, y) for x, y in zip(audio_a, audio_b))


def test_labels_are_complete_and_consistent(synth_dir):
    rows = list(csv.DictReader(open(synth_dir / "labels.csv")))
    assert tuple(rows[0].keys()) == LABEL_COLUMNS
    assert len(rows) == 30
    for r in rows:
        assert r["genre"] in GENRES and r["mood"] in MOODS
        assert r["mood"] == mood_of(float(r["valence"]), float(r["arousal"]))
        assert r["artist"].startswith(r["genre"] + "_")
        assert r["instruments"] and all(f == f.lower() for f in r["instruments"].split(";"))
        info = sf.info(synth_dir / r["path"])
        assert info.samplerate == 16_000 and info.channels == 1 and info.frames == 48_000
    # One artist always plays in one genre: the structure artist-grouped splits rely on.
    by_artist = {}
    for r in rows:
        by_artist.setdefault(r["artist"], set()).add(r["genre"])
    assert all(len(g) == 1 for g in by_artist.values())


def test_clips_are_audible_music_not_silence(synth_dir):
    for path in sorted((synth_dir / "clips").iterdir())[:10]:
        x, _ = sf.read(path)
        rms_db = 20 * np.log10(np.sqrt(np.mean(x**2)))
        assert -30 < rms_db < -12 and np.abs(x).max() < 1.0


def test_rerun_resumes_and_renders_only_what_is_missing(tmp_path):
    opt = SynthOptions(clips=4, seed=5, seconds=2.0)
    first = synth_dataset(tmp_path / "d", opt, workers=1, progress=False)
    assert first.rendered == 4
    before = sf.read(tmp_path / "d" / "clips" / "000002.wav", dtype="int16")[0]
    os.remove(tmp_path / "d" / "clips" / "000002.wav")
    second = synth_dataset(tmp_path / "d", opt, workers=1, progress=False)
    assert (second.rendered, second.reused) == (1, 3)
    assert np.array_equal(before, sf.read(tmp_path / "d" / "clips" / "000002.wav", dtype="int16")[0])
    more = synth_dataset(tmp_path / "d", SynthOptions(clips=6, seed=5, seconds=2.0), workers=1, progress=False)
    assert (more.rendered, more.reused) == (2, 4)


def test_refuses_to_mix_settings_or_write_into_a_users_folder(tmp_path):
    synth_dataset(tmp_path / "d", SynthOptions(clips=2, seed=5, seconds=2.0), workers=1, progress=False)
    with pytest.raises(OutputExistsError, match="seed=5"):
        synth_dataset(tmp_path / "d", SynthOptions(clips=2, seed=6, seconds=2.0), workers=1, progress=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "song.wav").write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="not empty"):
        synth_dataset(mine, SynthOptions(clips=2, seconds=2.0), workers=1, progress=False)
    assert (mine / "song.wav").read_bytes() == b"precious"
    manifest = tmp_path / "d" / "synth.json"
    manifest.write_text(manifest.read_text().replace('"generator_version": 2', '"generator_version": 1'))
    with pytest.raises(OutputExistsError, match="generator version 1"):
        synth_dataset(tmp_path / "d", SynthOptions(clips=2, seed=5, seconds=2.0), workers=1, progress=False)
    redone = synth_dataset(
        tmp_path / "d", SynthOptions(clips=2, seed=6, seconds=2.0), workers=1, overwrite=True, progress=False
    )
    assert redone.rendered == 2


@pytest.mark.parametrize(
    "kwargs,match",
    [({"clips": 0}, "--clips"), ({"clips": 1, "seconds": 0}, "--seconds"), ({"clips": 1, "format": "mp3"}, "--format")],
)
def test_bad_options_name_the_flag(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SynthOptions(**kwargs)


def test_demo_settings_put_every_label_in_every_held_out_split():
    """At the demo's size (1,000 clips, seed 0, 6 artists per genre) every genre, mood and instrument family is
    in train, validation and test after the artist-grouped split, so every class can be evaluated."""
    from ssl_audio.data.labels import Record
    from ssl_audio.data.splits import assign_splits
    from ssl_audio.synth.compose import compose, plan_clip
    from ssl_audio.synth.personas import make_personas

    personas = make_personas(0, 6)
    records = []
    for i in range(1000):
        plan = plan_clip(i, 0, personas, 10.0)
        _, families = compose(plan)
        records.append(
            Record(
                path=str(i),
                key=str(i),
                labels={
                    "genre": plan.persona.style.name,
                    "mood": plan.mood,
                    "artist": plan.persona.artist,
                    "instruments": tuple(families),
                },
            )
        )
    assign_splits(records, group_by="artist", fractions=(0.8, 0.1, 0.1), seed=0, stratify_by="genre")
    for column in ("genre", "mood", "instruments"):
        per_split = {s: set() for s in ("train", "validation", "test")}
        for r in records:
            value = r.labels[column]
            per_split[r.split].update(value if isinstance(value, tuple) else [value])
        assert per_split["train"] == per_split["validation"] == per_split["test"], column
