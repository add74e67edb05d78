"""Process-wide settings the commands share (kept out of cli.py, which is only a table of commands)."""

from __future__ import annotations


def quiet_absl() -> None:
    """TFDS logs through absl at INFO; a command's own lines are what the user should read."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def engine_logs() -> bool:
    """Whether the engines' own logs are shown (Beam's, Dask's): `--verbose` (SSL_AUDIO_VERBOSE, which the
    workers inherit) or SSL_AUDIO_DEBUG=1; otherwise only their errors."""
    import os

    return bool(os.environ.get("SSL_AUDIO_VERBOSE") or os.environ.get("SSL_AUDIO_DEBUG"))
