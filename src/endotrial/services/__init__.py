"""The operations the study team performs: the one place for the trial's rules.

Every operation takes the `Study` (the database and its protocol: `open_study`), the signed-in
`Actor` (`sign_in`; on a new database `set_up_study` creates the first investigator) and one
typed input, checks them against the protocol in one audited transaction, and returns ids or
typed results. A refusal is a `ServiceError` (`RuleViolation`, `InvalidInput`,
`PermissionDenied`, `NotSignedIn`, `LockedError`, `NotFoundError`) carrying a stable `code`,
the `field` concerned and a message saying what to do; nothing is written then. Edit checks
open `DataQuery` rows (opened_by 'edit_check:<name>') instead of refusing.
"""

from endotrial.services.clinical import (
    THICKNESS_RANGE_MM,
    OutcomeInput,
    TransferInput,
    UltrasoundCorrection,
    UltrasoundInput,
    correct_ultrasound,
    pregnancy_outcome,
    record_outcome,
    record_transfer,
    record_ultrasound,
)
from endotrial.services.context import Actor, Context, Study, open_study, sign_in, sign_out
from endotrial.services.enrolment import (
    AllocationInput,
    ConsentInput,
    EnrolmentInput,
    allocate,
    enrol,
    record_consent,
)
from endotrial.services.errors import (
    InvalidInput,
    LockedError,
    NotFoundError,
    NotSignedIn,
    PermissionDenied,
    RuleViolation,
    ServiceError,
)
from endotrial.services.locks import is_locked, lock_participant, unlock_participant
from endotrial.services.people import (
    SiteInput,
    TeamMember,
    add_site,
    add_user,
    set_account_active,
    set_up_study,
    unblock_sign_in,
)
from endotrial.services.permissions import PERMISSIONS, Operation
from endotrial.services.queries import (
    QueryAnswer,
    QueryClosure,
    QueryInput,
    QueryView,
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
    CycleStartInput,
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
    "Actor",
    "AdverseEventInput",
    "AllocationInput",
    "CandidateInput",
    "ConsentInput",
    "Context",
    "CycleStartInput",
    "DeviationInput",
    "EnrolmentInput",
    "InvalidInput",
    "LockedError",
    "MedicationInput",
    "NotFoundError",
    "NotSignedIn",
    "Operation",
    "OutcomeInput",
    "PermissionDenied",
    "ProcedureInput",
    "ProcedureRecord",
    "QueryAnswer",
    "QueryClosure",
    "QueryInput",
    "QueryView",
    "RuleViolation",
    "ScreeningRecord",
    "ServiceError",
    "SiteInput",
    "Study",
    "TeamMember",
    "TransferInput",
    "UltrasoundCorrection",
    "UltrasoundInput",
    "WithdrawalInput",
    "add_site",
    "add_user",
    "allocate",
    "answer_query",
    "close_query",
    "correct_ultrasound",
    "eligible_arms",
    "enrol",
    "is_locked",
    "list_queries",
    "lock_participant",
    "open_query",
    "open_study",
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
    "set_up_study",
    "sign_in",
    "sign_out",
    "start_cycle",
    "unblock_sign_in",
    "unlock_participant",
    "withdraw",
]
