"""Errors of the services: each says which rule refused the operation and what to do."""

from endotrial.errors import EndotrialError


class ServiceError(EndotrialError):
    """An operation of the study team could not be done as asked."""


class RuleViolation(ServiceError):
    """The operation breaks a rule of the protocol or of good clinical practice."""


class NotFoundError(ServiceError):
    """A record named by id does not exist."""


class LockedError(RuleViolation):
    """The participant's data are locked by an investigator's sign-off."""


class PermissionDenied(RuleViolation):
    """The acting user's role may not do this (e.g. only an investigator may override)."""
