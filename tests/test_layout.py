"""The shape of the codebase, as a user installs it and as a maintainer keeps it (docs: README's layout).

The layer and no-cycle contracts are import-linter's (`make lint`); these cover what it cannot see.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.pretrain import helpers

REPO = Path(__file__).resolve().parents[1]
# Folder in the repository -> the name it installs as.
INSTALLED = {
    "ssl_audio": "ssl_audio",
    "pretrain": "ssl_audio_pretrain",
    "linear_probe": "ssl_audio_linear_probe",
    "configs": "ssl_audio_configs",
}
FIRST_PARTY = (*INSTALLED.values(), "studies")
# Above the library: they turn flags into calls and may import argparse; nothing below them may.
COMMAND_LAYERS = ("ssl_audio/cli.py", "ssl_audio/commands", "ssl_audio/bench")


def modules(folders=tuple(INSTALLED)):
    for folder in folders:
        yield from sorted((REPO / folder).rglob("*.py"))


def imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module, [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            yield from ((alias.name, []) for alias in node.names)


def test_no_private_name_is_imported_from_another_module():
    crossings = [
        f"{path.relative_to(REPO)}: from {module} import {name}"
        for path in modules((*INSTALLED, "studies"))
        for module, names in imports(path)
        if module.split(".")[0] in FIRST_PARTY
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert crossings == []


def test_no_library_or_job_module_parses_flags():
    parsing = [
        str(path.relative_to(REPO))
        for path in modules()
        if not str(path.relative_to(REPO)).startswith(COMMAND_LAYERS)
        if any(module == "argparse" for module, _ in imports(path)) or "def add_arguments(" in path.read_text()
    ]
    assert parsing == []


@pytest.mark.slow
def test_the_wheel_installs_only_ssl_audio_names_and_pretrains_outside_the_repository(prepared, tmp_path):
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside the sources
    for folder in INSTALLED:
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("ssl_audio-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == set(INSTALLED.values())
    expected = {
        f"{INSTALLED[path.relative_to(REPO).parts[0]]}/{Path(*path.relative_to(REPO).parts[1:]).as_posix()}"
        for path in modules()
    }
    assert expected - set(names) == set()  # every module of the four folders ships

    # A fresh environment that sees the dependencies but not this checkout: the installed package only.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next(venv.glob("lib/python*/site-packages"))
    deps = next(p for p in sys.path if p.endswith("site-packages") and Path(p, "jax").is_dir())
    (site / "dependencies.pth").write_text(deps + "\n")  # a path line: no .pth of that folder (the editable
    installed = subprocess.run(  # install's finder) is read
        [venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in helpers.env().items() if k != "PYTHONPATH"}  # the tests' compilation cache
    name, data_dir = prepared
    run = subprocess.run(
        [
            venv / "bin" / "ssl-audio",
            "pretrain",
            "--config",
            "configs/simclr_logmel_cnn.py:tiny",  # no such file here: the installed one
            "--workdir",
            "run",
            "--no-progress",
            f"--config.dataset={name}",
            f"--config.data_dir={data_dir}",
            "--config.total_steps=1",
            "--config.optimizer.warmup_steps=0",
        ],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "pretrain: step 1/1" in run.stdout
    where = subprocess.run(
        [venv / "bin" / "python", "-c", "import ssl_audio, ssl_audio_pretrain; print(ssl_audio.__file__)"],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    for stray in ("configs", "pretrain", "linear_probe"):
        assert not (site / stray).exists()
