"""The study's final table over pretraining seeds, on fake probe folders whose answer is known."""

import json

import numpy as np
import pytest

from studies.seeds_table import main, seeds_table


def _probe(path, right_share, keys=None, seed=0, n=200):
    """A probe folder with a genre task: pretrained right on `right_share` of the clips, MFCC on half,
    random-init never."""
    path.mkdir()
    y = np.arange(n) % 4
    right = np.random.default_rng(seed).permutation(n) < right_share * n
    eye = np.eye(4)
    outputs = {
        "genre.labels": y,
        "genre.pretrained": eye[np.where(right, y, (y + 1) % 4)],
        "genre.mfcc": eye[np.where(np.arange(n) % 2 == 0, y, (y + 1) % 4)],
        "genre.random": eye[(y + 1) % 4],
        "keys": np.array([f"clip{i}.wav" for i in range(n)] if keys is None else keys),
    }
    np.savez(path / "test_outputs.npz", **outputs)
    tasks = {"genre": {"kind": "class", "metric": "accuracy"}}
    (path / "results.json").write_text(json.dumps({"dataset": "demo", "tasks": tasks}))
    return path


def test_means_over_seeds_and_verdicts(tmp_path):
    dirs = [_probe(tmp_path / f"s{s}", share, seed=s) for s, share in enumerate((0.8, 0.9, 0.85))]
    table, lines, numbers = seeds_table(dirs)
    genre = numbers["tasks"]["genre"]
    assert genre["test"]["pretrained"] == pytest.approx([0.8, 0.9, 0.85])
    assert genre["test"]["mfcc"] == [0.5] * 3 and genre["test"]["random"] == [0.0] * 3
    assert genre["comparisons"]["mfcc"]["difference"] == pytest.approx(0.35)
    assert genre["comparisons"]["mfcc"]["verdict"] == "better"
    assert genre["comparisons"]["mfcc"]["per_run"] == pytest.approx([0.3, 0.4, 0.35])
    assert table[2].startswith("| genre (accuracy) | 0.850 ± 0.050 | 0.500 ± 0.000 | 0.000 ± 0.000 | +0.350 [")
    assert lines == [
        "demo genre metric=accuracy pretrained=0.850 mfcc=0.500 random=0.000 seeds=3 "
        f"pretrained_vs_mfcc=+0.350[{genre['comparisons']['mfcc']['low']:+.3f},"
        f"{genre['comparisons']['mfcc']['high']:+.3f}]better "
        f"pretrained_vs_random=+0.850[{genre['comparisons']['random']['low']:+.3f},"
        f"{genre['comparisons']['random']['high']:+.3f}]better"
    ]


def test_folders_of_other_clips_are_refused_and_bad_arguments_are_one_line(tmp_path, capsys):
    a = _probe(tmp_path / "a", 0.8)
    other = _probe(tmp_path / "b", 0.8, keys=[f"other{i}.wav" for i in range(200)])
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "results.json").write_text("{}")
    (tmp_path / "taken.json").write_text("{}")
    for argv, says in (
        ([str(a), str(other)], "its test clips are not"),
        ([str(a), str(bare)], "no test_outputs.npz there"),
        ([str(a), str(tmp_path / "nowhere")], "no results.json there"),
        ([str(a), "--json", str(tmp_path / "taken.json")], "exists; give a new path"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and says in err and len(err.strip().splitlines()[-1]) < 300


def test_writes_the_numbers_when_asked(tmp_path, capsys):
    a, b = _probe(tmp_path / "a", 0.8), _probe(tmp_path / "b", 0.7, seed=1)
    assert main([str(a), str(b), "--json", str(tmp_path / "final.json")]) == 0
    assert "| genre (accuracy) | 0.750 ± 0.071 |" in capsys.readouterr().out
    assert json.loads((tmp_path / "final.json").read_text())["tasks"]["genre"]["test"]["pretrained"] == [0.8, 0.7]
