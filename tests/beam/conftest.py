"""The embed tests' audio folder and prepare's messy folder, for every Beam test here."""

from tests.beam.test_prepare import messy  # noqa: F401  (a fixture, found by pytest here)
from tests.embed.conftest import folder  # noqa: F401  (a fixture, found by pytest here)
