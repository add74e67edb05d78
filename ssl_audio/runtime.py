"""Process-wide settings the commands share (kept out of cli.py, which is only a table of commands)."""

from __future__ import annotations


def quiet_absl() -> None:
    """TFDS logs through absl at INFO; a command's own lines are what the user should read."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
