"""The one error family users see.

Every message says what was wrong, where (file, line, row, field) and what to do. Each error also
carries a stable `code` (what a program, an API's problem details or a translation keys on), the
`field` and `record` it concerns when there is one, and the `params` its message was built from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class EndotrialError(Exception):
    """Base of every error a user of endotrial can act on."""

    default_code: ClassVar[str] = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        record: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        self.record = record
        self.params: dict[str, Any] = dict(params or {})

    def __str__(self) -> str:
        return self.message


class ProtocolError(EndotrialError):
    """A protocol file is malformed or inconsistent; raised at load time."""

    default_code = "protocol.invalid"


class InputError(EndotrialError):
    """A data file or value given by a user cannot be used as it is."""

    default_code = "input.invalid"
