import re
import subprocess
import sys

import pytest
import soundfile as sf

from tests.augment.measure import SR, harmonic_tone


def run(*args):
    return subprocess.run([sys.executable, "-m", "ssl_audio.cli", *args], capture_output=True, text=True)


@pytest.mark.slow
def test_augment_preview_writes_views_and_refuses_to_overwrite(tmp_path):
    sf.write(tmp_path / "song.wav", harmonic_tone(220.0, seconds=3.0), SR)
    out = tmp_path / "preview"
    first = run(
        "augment-preview", "--input", str(tmp_path / "song.wav"), "--out", str(out), "--views", "3", "--seconds", "2"
    )
    assert first.returncode == 0, first.stderr
    for name in ("original.wav", "view_0.wav", "view_1.wav", "view_2.wav"):
        assert sf.info(out / name).frames == 2 * SR
    assert (out / "views.png").stat().st_size > 20_000
    before = (out / "view_0.wav").read_bytes()
    again = run("augment-preview", "--input", str(tmp_path / "song.wav"), "--out", str(out), "--seed", "9")
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert (out / "view_0.wav").read_bytes() == before


@pytest.mark.slow
def test_bench_augment_ends_with_the_ratio_line():
    result = run("bench", "augment", "--batch", "4", "--seconds", "1", "--repeats", "1", "--workers", "1")
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    match = re.fullmatch(
        r"augment jax_clips_per_s=([\d.]+) audiomentations_clips_per_s=([\d.]+) ratio=([\d.]+)"
        r" pedalboard_clips_per_s=([\d.]+) pedalboard_ratio=([\d.]+)",  # make test installs the bench extra
        last,
    )
    assert match and float(match[1]) > 0 and float(match[2]) > 0 and float(match[4]) > 0
    assert abs(float(match[1]) / float(match[2]) - float(match[3])) < 0.02
    # Rates are printed to 0.1 clips/s, so a slow reference's ratio is checked to 2% of itself.
    assert abs(float(match[1]) / float(match[4]) / float(match[5]) - 1) < 0.02
    assert "per op, JAX" in result.stdout and "per op, audiomentations" in result.stdout
    assert "full chain, pedalboard:" in result.stdout
    # Each figure is printed when measured, the JAX chain's first: a run stopped by a time limit keeps it.
    assert result.stdout.splitlines()[1].startswith("full chain, JAX: ")
