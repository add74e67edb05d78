import pytest

from ssl_audio.data.labels import LabelsError, read_labels_csv


@pytest.fixture
def folder(tmp_path, tone):
    for name in ("a.wav", "b.wav", "sub/c.wav"):
        tone(tmp_path / name)
    return tmp_path


def _csv(folder, text):
    (folder / "labels.csv").write_text(text)
    return folder / "labels.csv"


def _error(folder, text):
    with pytest.raises(LabelsError) as info:
        read_labels_csv(_csv(folder, text))
    message = str(info.value)
    assert "\n" not in message and "labels.csv" in message
    return message


def test_reads_every_kind_of_column(folder):
    records, columns = read_labels_csv(
        _csv(
            folder,
            (
                "path,genre,instruments,artist,valence,split\n"
                "a.wav,rock,guitar;drums,x,0.5,train\n"
                "sub/c.wav,jazz,piano,y,-0.25,test\n"
            ),
        )
    )
    assert columns == ["genre", "instruments", "artist", "valence"]
    assert records[0].labels == {"genre": "rock", "instruments": ("drums", "guitar"), "artist": "x", "valence": 0.5}
    assert records[1].split == "test" and records[1].key == "sub/c.wav"
    assert records[1].path == str((folder / "sub" / "c.wav").resolve())


def test_missing_file_names_the_row(folder):
    message = _error(folder, "path,genre\na.wav,rock\nghost.wav,jazz\n")
    assert ":3 (ghost.wav)" in message and "does not exist" in message


def test_empty_label_names_the_row_and_column(folder):
    message = _error(folder, "path,genre,mood\na.wav,rock,happy\nb.wav,,sad\n")
    assert ":3 (b.wav)" in message and "empty 'genre'" in message


def test_unknown_column_names_the_column(folder):
    message = _error(folder, "path,genre,genere\na.wav,rock,rock\n")
    assert "unknown column 'genere'" in message and ":1" in message


def test_missing_path_column(folder):
    assert "no 'path' column" in _error(folder, "file,genre\na.wav,rock\n")


def test_bad_split_value(folder):
    assert "split 'dev'" in _error(folder, "path,split\na.wav,dev\n")


def test_duplicate_path(folder):
    assert "already on line 2" in _error(folder, "path,genre\na.wav,rock\na.wav,jazz\n")


def test_non_numeric_value(folder):
    assert "'valence' must be a number" in _error(folder, "path,valence\na.wav,high\n")


def test_wrong_field_count(folder):
    assert "3 fields but the header has 2" in _error(folder, "path,genre\na.wav,rock,extra\n")


def test_header_only(folder):
    assert "no rows" in _error(folder, "path,genre\n")
