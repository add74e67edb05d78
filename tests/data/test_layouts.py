import pytest

from ssl_audio.data.labels import LabelsError
from ssl_audio.data.layouts import detect_layout, load_catalog
from ssl_audio.data.splits import find_leaks, record_groups


def make_gtzan(root, tone, genres=("blues", "jazz", "rock"), per_genre=4, sub="genres"):
    for g in genres:
        for i in range(per_genre):
            tone(root / sub / g / f"{g}.{i:05d}.wav", seconds=1.5, rate=22_050, freq=200 + 50 * i)
    return root


def make_mtt(root, tone, n_tags=55):
    """A tiny MagnaTagATune: annotations_final.csv (tab-separated, quoted like some copies) + mp3 folders."""
    tags = [f"tag{t:02d}" for t in range(n_tags)]
    folders = ["0", "5", "a", "b", "c", "d", "e", "f"]
    rows = []
    for i, folder in enumerate(folders * 2):
        artist = f"artist{i % 5}"
        rel = f"{folder}/{artist}-album-{i:02d}-track-0-29.mp3"
        tone(root / rel, seconds=1.5, rate=22_050, fmt="MP3", subtype="MPEG_LAYER_III", freq=300 + 20 * i)
        # tag t is on for clip i when t <= i * 4: lower tags are more frequent, so the top 50 are tag00..tag49.
        rows.append([str(i)] + ["1" if t <= i * 4 else "0" for t in range(n_tags)] + [rel])
    rows.append([str(99)] + ["1"] * n_tags + ["f/missing-file-99-0-29.mp3"])  # named but absent
    header = ["clip_id"] + tags + ["mp3_path"]
    lines = ["\t".join(f'"{h}"' for h in header)] + ["\t".join(f'"{c}"' for c in r) for r in rows]
    (root / "annotations_final.csv").write_text("\n".join(lines) + "\n")
    return root


def test_gtzan_layout_reads_genre_from_the_folder(tmp_path, tone):
    make_gtzan(tmp_path, tone)
    assert detect_layout(tmp_path) == "gtzan"
    catalog = load_catalog(tmp_path)
    assert catalog.layout == "gtzan" and catalog.columns == ["genre"]
    assert len(catalog.records) == 12
    assert {r.labels["genre"] for r in catalog.records} == {"blues", "jazz", "rock"}
    assert all(r.key.startswith("genres/") for r in catalog.records)
    assert any("no artist" in n for n in catalog.notes)


def test_gtzan_kaggle_variant_genres_original(tmp_path, tone):
    make_gtzan(tmp_path, tone, sub="genres_original", per_genre=2)
    assert load_catalog(tmp_path).layout == "gtzan"


def test_mtt_top50_tags_folder_splits_and_artists(tmp_path, tone):
    make_mtt(tmp_path, tone)
    assert detect_layout(tmp_path) == "mtt"
    catalog = load_catalog(tmp_path)
    assert catalog.columns == ["tags", "artist"]
    assert len(catalog.records) == 16 and any("no file" in n for n in catalog.notes)
    vocab = set().union(*(r.labels["tags"] for r in catalog.records))
    assert vocab == {f"tag{t:02d}" for t in range(50)}  # tag50..tag54 are rarer and left out
    by_folder = {r.key.split("/")[0]: r.split for r in catalog.records}
    assert by_folder == {
        "0": "train",
        "5": "train",
        "a": "train",
        "b": "train",
        "c": "validation",
        "d": "test",
        "e": "test",
        "f": "test",
    }
    assert {r.labels["artist"] for r in catalog.records} == {f"artist{i}" for i in range(5)}
    # The usual MTT split is by folder, not by artist: it does leak artists, and we can say so.
    assert find_leaks(record_groups(catalog.records, "artist"))


def test_mtt_bad_folder_is_a_clear_error(tmp_path, tone):
    make_mtt(tmp_path, tone, n_tags=3)
    text = (tmp_path / "annotations_final.csv").read_text().replace('"0/', '"zz/', 1)
    (tmp_path / "annotations_final.csv").write_text(text)
    tone(tmp_path / "zz" / "artist0-album-00-track-0-29.mp3", fmt="MP3", subtype="MPEG_LAYER_III")
    with pytest.raises(LabelsError, match="folder 'zz'"):
        load_catalog(tmp_path)


def test_plain_folder_without_labels_is_unlabelled(tmp_path, tone):
    tone(tmp_path / "x" / "1.wav")
    tone(tmp_path / "2.flac", fmt="FLAC")
    catalog = load_catalog(tmp_path)
    assert catalog.layout == "folder" and not catalog.labelled
    assert catalog.records is None  # streamed: nothing held per file
    assert [r.key for r in catalog.stream()] == ["2.flac", "x/1.wav"]
    assert [r.key for r in catalog.stream()] == ["2.flac", "x/1.wav"]  # each call walks again


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no audio files"):
        load_catalog(tmp_path)
