"""Errors a user can fix. Their message is one line: the file or key, what is wrong, what to do.

The CLI prints these without a traceback (set SSL_AUDIO_DEBUG=1 to see one).
"""


class SslAudioError(Exception):
    """Base of every error whose message is meant for the user as it is."""


class OutputExistsError(SslAudioError, FileExistsError):
    """An output would replace something the user made; refused without --overwrite."""


# Bad arguments surface as ValueError from option dataclasses and missing inputs as FileNotFoundError.
USER_ERRORS = (SslAudioError, ValueError, FileNotFoundError, FileExistsError)
