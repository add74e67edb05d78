"""What each worker process of the MFCC baseline runs: it opens the split itself and reads its own records.

Kept apart from features.py so that a spawned worker imports only TFDS's reader, numpy and librosa, not
JAX and Flax (4 s per worker on 2 cores, paid again for every split).
"""

from __future__ import annotations

import numpy as np

from ssl_audio.audio.descriptors import clip_descriptors
from ssl_audio.data.location import as_float

_SPLIT_SOURCE = None  # in each worker process: the split it reads its own records from


def open_split(path: str, split: str) -> None:
    """Worker initialiser: the split's data source, and one descriptor call so that librosa's lazy imports
    and compiled kernels (4 s) are paid before the first real clip, not inside its timing."""
    global _SPLIT_SOURCE
    import tensorflow_datasets as tfds

    _SPLIT_SOURCE = tfds.builder_from_directory(path).as_data_source(split)
    clip_descriptors(np.zeros(4096, np.float32), 16_000)


def mfcc_of_index(args) -> tuple[np.ndarray, dict]:
    """Record i of the worker's split -> (descriptors, the record without its audio). Workers read their own
    records, so memory is bounded by the clips in flight, not by the split (MagnaTagATune's audio is 24 GB)."""
    index, sample_rate = args
    record = dict(_SPLIT_SOURCE[index])
    audio = record.pop("audio")
    return clip_descriptors(as_float(audio), sample_rate), record
