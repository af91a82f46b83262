"""The one error family users see.

Every message says what was wrong, where (file, line, row, field) and what to do.
"""


class EndotrialError(Exception):
    """Base of every error a user of endotrial can act on."""


class ProtocolError(EndotrialError):
    """A protocol file is malformed or inconsistent; raised at load time."""


class InputError(EndotrialError):
    """A data file or value given by a user cannot be used as it is."""
