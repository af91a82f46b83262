"""The store: trial tables, audited writes through a unit of work, and the verifiable audit trail.

Services write only through `unit_of_work`; every insert, update and delete of trial data is then
recorded in the hash-chained audit trail, and concurrent edits of one record raise ConflictError.
"""

from endotrial.store.audit import (
    AuditEntry,
    ChainVerification,
    FieldChange,
    field_history,
    verify_audit_chain,
)
from endotrial.store.base import Audited, Base
from endotrial.store.engine import DATABASE_URL_ENV, database_url, make_engine, open_existing
from endotrial.store.errors import AuditError, ConflictError, ReasonRequiredError, StoreError
from endotrial.store.migrate import (
    current_revision,
    head_revision,
    open_trial_database,
    schema_drift,
    upgrade_database,
)
from endotrial.store.models import (
    AdverseEvent,
    Allocation,
    Consent,
    Cycle,
    DataQuery,
    EmbryoTransfer,
    MedicationRecord,
    Participant,
    ParticipantIdentity,
    ParticipantLock,
    PregnancyOutcome,
    Procedure,
    ProtocolDeviation,
    QueryStatus,
    Relatedness,
    Role,
    Screening,
    ScreeningDecision,
    Site,
    TransferredEmbryo,
    Ultrasound,
    User,
    Withdrawal,
)
from endotrial.store.passwords import hash_password, needs_rehash, verify_password
from endotrial.store.reconcile import Mismatch, Reconciliation, reconcile_with_trail
from endotrial.store.unit_of_work import session_factory, unit_of_work

__all__ = [
    "DATABASE_URL_ENV",
    "AdverseEvent",
    "Allocation",
    "AuditEntry",
    "AuditError",
    "Audited",
    "Base",
    "ChainVerification",
    "ConflictError",
    "Consent",
    "Cycle",
    "DataQuery",
    "EmbryoTransfer",
    "FieldChange",
    "MedicationRecord",
    "Mismatch",
    "Participant",
    "ParticipantIdentity",
    "ParticipantLock",
    "PregnancyOutcome",
    "Procedure",
    "ProtocolDeviation",
    "QueryStatus",
    "ReasonRequiredError",
    "Reconciliation",
    "Relatedness",
    "Role",
    "Screening",
    "ScreeningDecision",
    "Site",
    "StoreError",
    "TransferredEmbryo",
    "Ultrasound",
    "User",
    "Withdrawal",
    "current_revision",
    "database_url",
    "field_history",
    "hash_password",
    "head_revision",
    "make_engine",
    "needs_rehash",
    "open_existing",
    "open_trial_database",
    "reconcile_with_trail",
    "schema_drift",
    "session_factory",
    "unit_of_work",
    "upgrade_database",
    "verify_audit_chain",
    "verify_password",
]
