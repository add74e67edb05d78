"""Where a prepared dataset lives, and the files beside it: shared by the writer (prepare) and every reader."""

from __future__ import annotations

import os
from pathlib import Path

BUILDER_NAME = "ssl_audio_folder"
DATASET_VERSION = "1.0.0"
# Written last by prepare: a dataset folder without it is not finished and is never read.
SIDECAR = "ssl_audio_prepare.json"
BAD_LIST = "bad_files.tsv"
# Clips are stored as 16-bit PCM; readers scale them back to [-1, 1) by this (`as_float`).
PCM_SCALE = 1.0 / 32768.0


def as_float(audio):
    """A record's samples as the model reads them: float32, int16 PCM scaled to [-1, 1), float samples as
    they are. The one place that knows the stored format; here, not in pipeline.py, so that the MFCC
    workers can use it without importing what the pipeline does."""
    import numpy as np

    out = audio.astype(np.float32)
    if audio.dtype == np.int16:
        out *= PCM_SCALE  # in place: the same float32 product as `out * PCM_SCALE`, one pass fewer
    return out


def default_data_dir() -> str:
    return os.environ.get("TFDS_DATA_DIR", os.path.expanduser("~/tensorflow_datasets"))


def dataset_path(name: str, data_dir: str | os.PathLike) -> Path:
    # expanduser: the shell leaves `~` alone inside `--config.data_dir=~/tfds`.
    return Path(data_dir).expanduser() / BUILDER_NAME / name / DATASET_VERSION
