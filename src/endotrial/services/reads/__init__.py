"""The read side: what the study team sees, as typed, frozen results.

Every read takes the `Study` and the signed-in `Actor`, is authorised by role (one
`Operation.READ_*` each, `services.permissions`), runs in a read-only session, and shows only
the reader's sites: another site's participant is "not found", exactly as for a write, and
every count is of her sites. No ORM object leaves a read, and no identifying value: a
candidate appears by her pseudonym, a participant by her study id.
"""

from endotrial.services.reads.dashboard import ArmCount, Dashboard, SiteCounts, dashboard
from endotrial.services.reads.measures import (
    MeasuredAt,
    MeasureState,
    MeasureView,
    outcome_measures,
)
from endotrial.services.reads.medication import MedicationView, medication
from endotrial.services.reads.participant_page import ParticipantPage, participant_page
from endotrial.services.reads.participants import (
    ConsentView,
    CycleView,
    ParticipantSummary,
    RecordCounts,
    SignatureView,
    TransferView,
    participant_summary,
    participants,
)
from endotrial.services.reads.permitted import permitted, permitted_operations
from endotrial.services.reads.queries import QueryView, data_queries
from endotrial.services.reads.records import (
    FieldChangeView,
    FieldValue,
    RecordView,
    participant_records,
)
from endotrial.services.reads.safety import AdverseEventView, adverse_events
from endotrial.services.reads.safety_monitoring import (
    ArmSafety,
    PosteriorExcess,
    SafetyMonitoring,
    may_read_safety_monitoring,
    safety_monitoring,
)
from endotrial.services.reads.screening_log import (
    CriterionReason,
    ScreeningLogEntry,
    screening_log,
)
from endotrial.services.reads.team import MemberView, SiteView, Team, team
from endotrial.services.reads.timeline import (
    EventState,
    MeasureAtEvent,
    Timeline,
    TimelineEvent,
    participant_timeline,
)
from endotrial.services.reads.visits import VisitDue, visits_due

__all__ = [
    "AdverseEventView",
    "ArmCount",
    "ArmSafety",
    "ConsentView",
    "CriterionReason",
    "CycleView",
    "Dashboard",
    "EventState",
    "FieldChangeView",
    "FieldValue",
    "MeasureAtEvent",
    "MeasureState",
    "MeasureView",
    "MeasuredAt",
    "MedicationView",
    "MemberView",
    "ParticipantPage",
    "ParticipantSummary",
    "PosteriorExcess",
    "QueryView",
    "RecordCounts",
    "RecordView",
    "SafetyMonitoring",
    "ScreeningLogEntry",
    "SignatureView",
    "SiteCounts",
    "SiteView",
    "Team",
    "Timeline",
    "TimelineEvent",
    "TransferView",
    "VisitDue",
    "adverse_events",
    "dashboard",
    "data_queries",
    "may_read_safety_monitoring",
    "medication",
    "outcome_measures",
    "participant_page",
    "participant_records",
    "participant_summary",
    "participant_timeline",
    "participants",
    "permitted",
    "permitted_operations",
    "safety_monitoring",
    "screening_log",
    "team",
    "visits_due",
]
