"""The store: trial tables, audited writes through a unit of work, and the verifiable audit trail.

Trial data are written only by the services, through `store.unit_of_work` (a signed-in user's
serialized transaction); every insert, update and delete is then recorded in the hash-chained
audit trail, and concurrent edits of one record raise ConflictError.
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
from endotrial.store.errors import (
    AuditError,
    AuthenticationError,
    ConflictError,
    ReasonRequiredError,
    StoreError,
)
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
    ParticipantLock,
    Person,
    PersonIdentity,
    PregnancyOutcome,
    Procedure,
    ProtocolDeviation,
    QueryStatus,
    Relatedness,
    Role,
    Screening,
    ScreeningDecision,
    Site,
    SiteMembership,
    TransferredEmbryo,
    TrialProtocol,
    Ultrasound,
    User,
    Withdrawal,
)
from endotrial.store.passwords import hash_password, needs_rehash, verify_password
from endotrial.store.reconcile import Mismatch, Reconciliation, reconcile_with_trail
from endotrial.store.unit_of_work import read_session

__all__ = [
    "DATABASE_URL_ENV",
    "AdverseEvent",
    "Allocation",
    "AuditEntry",
    "AuditError",
    "Audited",
    "AuthenticationError",
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
    "ParticipantLock",
    "Person",
    "PersonIdentity",
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
    "SiteMembership",
    "StoreError",
    "TransferredEmbryo",
    "TrialProtocol",
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
    "read_session",
    "reconcile_with_trail",
    "schema_drift",
    "upgrade_database",
    "verify_audit_chain",
    "verify_password",
]
