"""The error model: what the user did wrong is a `UsageError`; anything else is a bug.

User-facing checks raise a `UsageError` (or a subclass) on purpose, with a one-line message: the file or
key, what is wrong, what to do, naming a flag the command has. The CLI prints those as one line (exit 2).
Every other exception is a bug and keeps its traceback; SSL_AUDIO_DEBUG=1 shows a traceback for usage
errors too. A plain ValueError or FileNotFoundError from deep inside is therefore never mistaken for the
user's fault.
"""


class UsageError(Exception):
    """Base of every error whose message is meant for the user as it is."""


class BadValueError(UsageError, ValueError):
    """A flag, config value or argument that cannot work; still a ValueError for Python callers."""


class MissingInputError(UsageError, FileNotFoundError):
    """An input file, folder or dataset that is not there."""


class OutputExistsError(UsageError, FileExistsError):
    """An output would replace something the user made; refused without --overwrite."""


def refuse_existing(path, flag: str) -> None:
    """A file a command would write over: refused, naming the flag, unless the command was given --overwrite
    (callers check that first)."""
    import os

    if os.path.lexists(path):
        raise OutputExistsError(
            f"{flag} {path}: the file exists; choose another name, or add --overwrite to replace it"
        )


class StoppedBySignal(Exception):
    """A job saved its work and stopped early on SIGTERM or Ctrl-C: not an error, not finished either. The CLI
    prints the message and exits 128 + the signal's number, as a shell reports a command ended by it."""

    def __init__(self, signal_name: str, message: str):
        super().__init__(message)
        self.signal_name = signal_name
