"""Errors of the services: a stable code, the field and record concerned, and parameters.

The English message comes from the catalogue (`messages.MESSAGES`) keyed by the code, so an API
returns the code and field as problem details and a translation needs no change here.
"""

from __future__ import annotations

from typing import Any

from endotrial.errors import EndotrialError
from endotrial.services.messages import render


class ServiceError(EndotrialError):
    """An operation of the study team could not be done as asked."""

    default_code = "service.error"

    def __init__(
        self, code: str, /, *, field: str | None = None, record: str | None = None, **params: Any
    ) -> None:
        # Messages name the field concerned ('{field} ... is in the future'), so it is theirs too.
        message = render(code, {"field": field, **params})
        super().__init__(message, code=code, field=field, record=record, params=params)


class RuleViolation(ServiceError):
    """The operation breaks a rule of the protocol or of good clinical practice."""


class InvalidInput(RuleViolation):
    """A value given to an operation has the wrong type, shape or range (nothing was read)."""


class NotFoundError(ServiceError):
    """A record named by id does not exist (or is not one the acting user may see)."""


class LockedError(RuleViolation):
    """The participant's data are locked by an investigator's sign-off."""


class PermissionDenied(RuleViolation):
    """The acting user's role or sites do not allow this (e.g. only an investigator overrides)."""


class NotSignedIn(PermissionDenied):
    """The operation was called without a valid sign-in (unknown, expired or revoked)."""
