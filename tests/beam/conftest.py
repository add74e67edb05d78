"""The embed tests' audio folder, for the Beam pipeline's tests too."""

from tests.embed.conftest import folder  # noqa: F401  (a fixture, found by pytest here)
