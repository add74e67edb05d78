import collections

import numpy as np
import pytest

from ssl_audio.data.labels import Record
from ssl_audio.data.splits import assign_splits, find_leaks, parse_fractions, record_groups


def _records(n_genres=5, artists=8, clips=(3, 12), seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for g in range(n_genres):
        for a in range(artists):
            for c in range(int(rng.integers(*clips))):
                key = f"g{g}/a{a}/{c}.wav"
                out.append(Record(path="/x/" + key, key=key, labels={"genre": f"g{g}", "artist": f"g{g}a{a}"}))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_no_artist_in_two_splits(seed):
    records = _records(seed=seed)
    assign_splits(records, group_by="artist", fractions=(0.8, 0.1, 0.1), seed=seed, stratify_by="genre")
    assert find_leaks(record_groups(records, "artist")) == {}
    splits = collections.defaultdict(set)
    for r in records:
        splits[r.split].add(r.labels["artist"])
    assert splits["train"].isdisjoint(splits["test"]) and splits["train"].isdisjoint(splits["validation"])
    assert splits["validation"].isdisjoint(splits["test"])


def test_every_genre_has_held_out_artists_and_fractions_are_close():
    records = _records(artists=10)
    assign_splits(records, group_by="artist", fractions=(0.8, 0.1, 0.1), seed=0, stratify_by="genre")
    for g in range(5):
        got = {r.split for r in records if r.labels["genre"] == f"g{g}"}
        assert got == {"train", "validation", "test"}
    artists = collections.Counter()
    for split in ("train", "validation", "test"):
        artists[split] = len({r.labels["artist"] for r in records if r.split == split})
    assert artists == {"train": 40, "validation": 5, "test": 5}


def test_deterministic_for_a_seed_and_different_across_seeds():
    a, b, c = _records(), _records(), _records()
    assign_splits(a, group_by="artist", fractions=(0.8, 0.1, 0.1), seed=1)
    assign_splits(b, group_by="artist", fractions=(0.8, 0.1, 0.1), seed=1)
    assign_splits(c, group_by="artist", fractions=(0.8, 0.1, 0.1), seed=2)
    assert [r.split for r in a] == [r.split for r in b]
    assert [r.split for r in a] != [r.split for r in c]


def test_without_the_column_each_file_is_its_own_group():
    records = [Record(path=f"/x/{i}.wav", key=f"{i}.wav") for i in range(100)]
    assign_splits(records, group_by="artist", fractions=(0.5, 0.25, 0.25), seed=0)
    assert collections.Counter(r.split for r in records) == {"train": 50, "validation": 25, "test": 25}


def test_find_leaks_reports_the_shared_group():
    records = [
        Record(path="/a", key="a", labels={"artist": "x"}, split="train"),
        Record(path="/b", key="b", labels={"artist": "x"}, split="test"),
        Record(path="/c", key="c", labels={"artist": "y"}, split="test"),
    ]
    assert find_leaks(record_groups(records, "artist")) == {"x": ["test", "train"]}


@pytest.mark.parametrize("text", ["0.8,0.2", "a,b,c", "-1,1,1", "0,0,0"])
def test_bad_fractions(text):
    with pytest.raises(ValueError, match="--splits"):
        parse_fractions(text)
