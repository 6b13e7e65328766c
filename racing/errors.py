"""The small tree of errors the scheduler raises, so callers can tell them apart.

A `FetchError` may go away if tried again later; a `PayloadError` will not, and is never
retried as if it were transient. A `ConfigError` stops the program at start-up.
"""


class RacingError(Exception):
    """Base of every error raised on purpose by racing-scheduler."""


class ConfigError(RacingError):
    """A setting has a bad value; the message names the variable and the fix."""


class TabError(RacingError):
    """Something went wrong talking to the TAB API."""


class FetchError(TabError):
    """The TAB API could not be reached or answered with an error status."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


class PayloadError(TabError):
    """The TAB API answered, but the body is not the shape we expect."""


class UnknownItemError(RacingError):
    """An operator named a meeting, race or job run that does not exist."""
