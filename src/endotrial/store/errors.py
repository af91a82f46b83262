"""Errors raised by the store; all are `EndotrialError`s so shells show them to the user as is."""

from endotrial.errors import EndotrialError


class StoreError(EndotrialError):
    """Something about the database itself (connection, schema, migrations) needs attention."""

    default_code = "store.error"


class ConflictError(StoreError):
    """Someone else saved the same record after it was opened: reload and re-apply the change."""

    default_code = "store.conflict"


class AuditError(StoreError):
    """A write would break the audit trail's rules, so nothing was written."""

    default_code = "store.audit"


class ReasonRequiredError(AuditError):
    """A change to data already entered must say why (GCP / 21 CFR 11 audit trail)."""

    default_code = "store.reason_required"


class AuthenticationError(StoreError):
    """A write was attempted without a live sign-in (or set-up on a database with accounts)."""

    default_code = "auth.not_signed_in"
