"""The README's Python snippets run as written (with this test's small data in place of the demo's)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def block_with(marker: str) -> str:
    (block,) = [b for b in python_blocks() if marker in b]
    return block


def test_every_snippet_is_python_that_parses():
    import ast

    blocks = python_blocks()
    assert len(blocks) >= 4
    for block in blocks:
        ast.parse(block)


def test_the_augmentation_snippet_runs():
    namespace = {"batch": np.zeros((2, 16_000), np.float32)}
    exec(block_with("make_chain"), namespace)
    assert namespace["views"].shape == (2, 16_000)


@pytest.mark.slow
def test_the_embedding_and_hear_snippet_runs(checkpoint):
    rate = 22_050
    namespace = {
        "audio": np.random.default_rng(0).uniform(-0.3, 0.3, 2 * rate).astype(np.float32),
        "sample_rate": rate,
        "audio_batch": np.zeros((2, 16_000), np.float32),
    }
    exec(block_with("ssl_audio.load_model").replace("runs/demo/pretrain", str(checkpoint)), namespace)
    assert namespace["e"].scene.ndim == 1 and namespace["scene"].shape[0] == 2


def test_the_dataset_snippet_runs_as_a_script_with_its_workers(prepared, tmp_path):
    """As a user runs it: a file of its own, `python file.py`, with worker processes (which import the file
    again: without the README's `if __name__ == "__main__":` each would print a traceback)."""
    import subprocess
    import sys

    name, data_dir = prepared
    code = (
        block_with("open_dataset")
        .replace('"my_music", "~/tensorflow_datasets"', f"{name!r}, {data_dir!r}")
        .replace("global_batch_size=256", "global_batch_size=4")
        .replace("worker_count=4", "worker_count=2")
        .replace(
            "    return batch, clip",
            '    print("shapes", batch["view_a"].shape, clip["windows"].shape[1])\n    return batch, clip',
        )
    )
    script = tmp_path / "snippet.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "shapes (4, 48000) 48000" in r.stdout
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr, r.stderr[-3000:]


def test_every_command_line_of_the_readme_parses_with_flags_the_command_has():
    """The shell snippets (the three uses, your own data) name only commands and flags that exist."""
    import shlex

    from ssl_audio.cli import COMMANDS, build_parser

    lines = [
        line
        for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
        for line in block.replace("\\\n", " ").splitlines()
        if line.startswith("ssl-audio ")
    ]
    lines += re.findall(r"`(ssl-audio [a-z][^`]*)`", README.read_text())  # commands quoted in the prose
    assert len(lines) >= 10
    for line in lines:
        argv = shlex.split(line, comments=True)[1:]
        assert argv[0] in COMMANDS, line
        parser = build_parser(argv[0])
        args, extra = parser.parse_known_args(argv)
        assert all(e.startswith("--config.") for e in extra) and (not extra or args.takes_overrides), line
