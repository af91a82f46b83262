"""The operations the study team performs: the one place for the trial's rules.

Each operation takes typed input, checks it against the protocol, writes in one audited
transaction (`unit_of_work`) and returns ids or typed results, or raises a `ServiceError`
(`RuleViolation`, `LockedError`, `PermissionDenied`, `NotFoundError`) saying what to do.
Edit checks open `DataQuery` rows (opened_by 'edit_check:<name>') instead of refusing.
Each operation first checks the acting user's role against `PERMISSIONS` (see permissions).
"""

from endotrial.services.clinical import (
    THICKNESS_RANGE_MM,
    OutcomeInput,
    TransferInput,
    UltrasoundInput,
    correct_ultrasound,
    pregnancy_outcome,
    record_outcome,
    record_transfer,
    record_ultrasound,
)
from endotrial.services.enrolment import (
    AllocationInput,
    ConsentInput,
    allocate,
    enrol,
    record_consent,
)
from endotrial.services.errors import (
    LockedError,
    NotFoundError,
    PermissionDenied,
    RuleViolation,
    ServiceError,
)
from endotrial.services.locks import is_locked, lock_participant, unlock_participant
from endotrial.services.people import TeamMember, add_site, add_user, set_account_active
from endotrial.services.permissions import PERMISSIONS, Operation, authorize
from endotrial.services.queries import (
    QueryInput,
    answer_query,
    close_query,
    list_queries,
    open_query,
    participant_queries,
)
from endotrial.services.safety import (
    AdverseEventInput,
    DeviationInput,
    WithdrawalInput,
    record_deviation,
    report_adverse_event,
    withdraw,
)
from endotrial.services.screening import (
    CandidateInput,
    ScreeningRecord,
    eligible_arms,
    screen,
    screen_many,
)
from endotrial.services.treatment import (
    MedicationInput,
    ProcedureInput,
    ProcedureRecord,
    record_medication,
    record_procedure,
    start_cycle,
)

__all__ = [
    "PERMISSIONS",
    "THICKNESS_RANGE_MM",
    "AdverseEventInput",
    "AllocationInput",
    "CandidateInput",
    "ConsentInput",
    "DeviationInput",
    "LockedError",
    "MedicationInput",
    "NotFoundError",
    "Operation",
    "OutcomeInput",
    "PermissionDenied",
    "ProcedureInput",
    "ProcedureRecord",
    "QueryInput",
    "RuleViolation",
    "ScreeningRecord",
    "ServiceError",
    "TeamMember",
    "TransferInput",
    "UltrasoundInput",
    "WithdrawalInput",
    "add_site",
    "add_user",
    "allocate",
    "answer_query",
    "authorize",
    "close_query",
    "correct_ultrasound",
    "eligible_arms",
    "enrol",
    "is_locked",
    "list_queries",
    "lock_participant",
    "open_query",
    "participant_queries",
    "pregnancy_outcome",
    "record_consent",
    "record_deviation",
    "record_medication",
    "record_outcome",
    "record_procedure",
    "record_transfer",
    "record_ultrasound",
    "report_adverse_event",
    "screen",
    "screen_many",
    "set_account_active",
    "start_cycle",
    "unlock_participant",
    "withdraw",
]
