"""The study's table rows: validation metrics only, mean ± sd over one probe directory per seed."""

import json

from studies.study_table import main, row


def _probe(path, genre, mood, test_genre=0.99):
    path.mkdir()
    tasks = {
        "genre": {"by_features": {"pretrained": {"validation": genre, "test": {"accuracy": test_genre}}}},
        "mood": {"by_features": {"pretrained": {"validation": mood}, "mfcc": {"validation": 0.1}}},
    }
    (path / "results.json").write_text(json.dumps({"tasks": tasks}))
    return str(path)


def test_row_is_mean_and_sd_of_the_validation_metric(tmp_path):
    a, b = _probe(tmp_path / "a", 0.70, 0.40), _probe(tmp_path / "b", 0.80, 0.50)
    line = row("lever", [a, b])
    assert line.startswith("| lever | 2 | 0.750 ± 0.071 | 0.450 ± 0.071 | – |")
    assert "0.990" not in line  # the test split is never read


def test_one_run_has_no_sd_and_features_can_be_chosen(tmp_path, capsys):
    a = _probe(tmp_path / "a", 0.70, 0.40)
    assert row("one", [a]).startswith("| one | 1 | 0.700 | 0.400 |")
    main(["--features=mfcc", f"m={a}"])
    assert "| m | 1 | – | 0.100 |" in capsys.readouterr().out


def test_a_wrong_argument_is_one_line_naming_it(tmp_path, capsys):
    import pytest

    for argv, says in ((["nonsense"], "write LABEL=PROBE_DIR"), ([f"x={tmp_path}"], "no results.json there")):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2 and says in capsys.readouterr().err
