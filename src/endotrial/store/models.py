"""The trial's tables. Clinical dates are `date`; moments are aware UTC `datetime`s.

Identifying data lives only in `participant_identity`, so every other table (and every export built
from them) is pseudonymous by construction.
"""

import enum
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from endotrial.store.base import Audited, str_enum

ID = BigInteger().with_variant(Integer(), "sqlite")


def participant_fk(*, unique: bool = False, nullable: bool = False) -> Mapped[Any]:
    """The usual link to a participant, indexed because nearly every query filters by it."""
    return mapped_column(
        ID, ForeignKey("participants.id"), index=not unique, unique=unique, nullable=nullable
    )


class Role(enum.StrEnum):
    INVESTIGATOR = "investigator"
    COORDINATOR = "coordinator"
    RADIOLOGIST = "radiologist"
    CELL_LAB = "cell_lab"
    EMBRYOLOGIST = "embryologist"
    MONITOR = "monitor"
    STATISTICIAN = "statistician"
    SAFETY_BOARD = "safety_board"


class ScreeningDecision(enum.StrEnum):
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    INCOMPLETE = "incomplete"


class Relatedness(enum.StrEnum):
    NOT_RELATED = "not_related"
    UNLIKELY = "unlikely"
    POSSIBLE = "possible"
    PROBABLE = "probable"
    DEFINITE = "definite"


class QueryStatus(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


#: The time zone of a site added without one (and of every site before revision 0005).
DEFAULT_TIME_ZONE = "Asia/Shanghai"
#: A schedule event id (the protocol's, or one the schedule derives such as '<regimen>_start').
EVENT_ID_LENGTH = 64
#: A data item's name, and a category item's code, as a measurement stores them.
MEASUREMENT_ITEM_LENGTH = 64
MEASUREMENT_TEXT_LENGTH = 200


class TrialProtocol(Audited):
    """The protocol the database runs, recorded when the study is set up: every operation is
    checked against it, so two calls cannot pass two different protocol files.

    Amendments (not yet supported) will add rows with the next `sequence`, each with its own
    content hash; the database runs the protocol of its highest sequence."""

    __tablename__ = "trial_protocols"
    #: 1 for the protocol the study was set up with (an amendment would take 2, 3, ...).
    sequence: Mapped[int] = mapped_column(unique=True)
    protocol_id: Mapped[str] = mapped_column(String(64))
    format_version: Mapped[int]
    #: sha256 of the validated protocol's canonical JSON (`services.context.protocol_sha256`).
    content_sha256: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class Site(Audited):
    __tablename__ = "sites"
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: IANA time zone (e.g. 'Asia/Shanghai'): the site's calendar day is what dates are checked
    #: against.
    time_zone: Mapped[str] = mapped_column(
        String(64), default=DEFAULT_TIME_ZONE, server_default=DEFAULT_TIME_ZONE
    )


class User(Audited):
    __tablename__ = "users"
    __audit_redacted__: ClassVar[frozenset[str]] = frozenset({"password_hash"})
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    #: Her first (home) site; None for central staff, who work on every site's data. Further
    #: sites are `SiteMembership` rows.
    site_id: Mapped[int | None] = mapped_column(ID, ForeignKey("sites.id"))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    #: The language of her pages ('en', 'zh_Hans'), chosen by her; None: her browser's.
    language: Mapped[str | None] = mapped_column(String(16))


class SiteMembership(Audited):
    """A further site a site's team member works at, beside her home site (`User.site_id`).

    Her home site stays on the account, so accounts entered before revision 0005 keep what the
    audit trail recorded for them (rows a migration added would not be in the trail)."""

    __tablename__ = "site_memberships"
    __table_args__ = (Index("uq_site_memberships_user_site", "user_id", "site_id", unique=True),)
    user_id: Mapped[int] = mapped_column(ID, ForeignKey("users.id"))
    site_id: Mapped[int] = mapped_column(ID, ForeignKey("sites.id"))


class Participant(Audited):
    __tablename__ = "participants"
    __table_args__ = (Index("uq_participants_enrolment_number", "enrolment_number", unique=True),)
    study_id: Mapped[str] = mapped_column(String(32), unique=True)
    site_id: Mapped[int] = mapped_column(ID, ForeignKey("sites.id"), index=True)
    arm: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    #: The date she was enrolled (None until then); the trial's day 0 for recruitment reports.
    enrolled_on: Mapped[date | None]
    #: Her place in the enrolment order (1, 2, ...): unique, so two enrolments saved at once
    #: cannot both take the last place of the target.
    enrolment_number: Mapped[int | None]


class Person(Audited):
    """Someone screened at a site, with the key that seals her identifying data.

    The key is kept wrapped by the trial's identity key (in the key file, never here); erasing
    her identity (PIPL) destroys it, so what was sealed with it can never be read again while
    the audit trail, which holds only ciphertext and a digest of the wrapped key, stays whole.
    """

    __tablename__ = "persons"
    __audit_redacted__: ClassVar[frozenset[str]] = frozenset({"wrapped_key"})
    __table_args__ = (Index("uq_persons_site_pseudonym", "site_id", "pseudonym", unique=True),)
    site_id: Mapped[int] = mapped_column(ID, ForeignKey("sites.id"))
    #: A keyed hash of the site and the candidate id the site gave: what the tables and the
    #: trail show instead of an id that may be a hospital record number.
    pseudonym: Mapped[str] = mapped_column(String(32))
    wrapped_key: Mapped[str | None] = mapped_column(String(200))
    erased_at: Mapped[datetime | None]
    erased_by: Mapped[str | None] = mapped_column(String(64))


class PersonIdentity(Audited):
    """One identifying value of a person (name, national id, phone, birth date, hospital record
    number, the candidate id given at screening), sealed with her key (AES-GCM)."""

    __tablename__ = "person_identity"
    __table_args__ = (Index("uq_person_identity_person_field", "person_id", "field", unique=True),)
    person_id: Mapped[int] = mapped_column(ID, ForeignKey("persons.id"), index=True)
    field: Mapped[str] = mapped_column(String(32))
    sealed_value: Mapped[str] = mapped_column(Text)


class Consent(Audited):
    __tablename__ = "consents"
    participant_id: Mapped[int] = participant_fk()
    form_version: Mapped[str] = mapped_column(String(32))
    consent_date: Mapped[date]
    taken_by: Mapped[str] = mapped_column(String(64))


class Screening(Audited):
    """One screening of one candidate; kept for everyone screened (CONSORT screening log)."""

    __tablename__ = "screenings"
    __table_args__ = (Index("ix_screenings_site_candidate", "site_id", "candidate_ref"),)
    #: The person's pseudonym (screenings before revision 0004: the id as typed).
    candidate_ref: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[int | None] = mapped_column(ID, ForeignKey("persons.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ID, ForeignKey("sites.id"))
    participant_id: Mapped[int | None] = participant_fk(nullable=True)
    item_values: Mapped[dict[str, Any]]
    decision: Mapped[ScreeningDecision] = mapped_column(str_enum(ScreeningDecision))
    failed_criteria: Mapped[list[str]]
    unknown_criteria: Mapped[list[str]]
    #: Arms still open after the arm-specific criteria (empty when ineligible). None only on
    #: screenings stored before revision 0002, whose open arms are derived from failed_criteria.
    eligible_arms: Mapped[list[str] | None]
    screened_at: Mapped[datetime]
    screened_by: Mapped[str] = mapped_column(String(64))


class Allocation(Audited):
    """Enrolment and arm allocation (non-randomized trial: the basis is recorded as text)."""

    __tablename__ = "allocations"
    participant_id: Mapped[int] = participant_fk(unique=True)
    arm: Mapped[str] = mapped_column(String(64))
    allocated_on: Mapped[date]
    allocation_basis: Mapped[str] = mapped_column(Text)
    allocated_by: Mapped[str] = mapped_column(String(64))


class Cycle(Audited):
    """One of her cycles; `kind` is the protocol's cycle id (e.g. 'treatment', 'transfer')."""

    __tablename__ = "cycles"
    #: A cycle of the protocol starts once per participant.
    __table_args__ = (Index("uq_cycles_participant_kind", "participant_id", "kind", unique=True),)
    participant_id: Mapped[int] = participant_fk()
    kind: Mapped[str] = mapped_column(String(32))
    start_date: Mapped[date]
    #: The schedule event its start is (the cycle's start event; None before revision 0005).
    event_id: Mapped[str | None] = mapped_column(String(EVENT_ID_LENGTH))


class MedicationRecord(Audited):
    """Doses of one regimen taken over a period (first to last day, both included)."""

    __tablename__ = "medication_records"
    __table_args__ = (
        CheckConstraint("doses_taken >= 0 AND doses_planned >= 0", name="doses_not_negative"),
        CheckConstraint("last_day >= first_day", name="period_in_order"),
    )
    participant_id: Mapped[int] = participant_fk()
    cycle_id: Mapped[int | None] = mapped_column(ID, ForeignKey("cycles.id"), index=True)
    regimen_id: Mapped[str] = mapped_column(String(64))
    #: The period's first day (None on records stored before revision 0005, which kept only
    #: the last day; their doses_planned tells how many days they covered).
    first_day: Mapped[date | None]
    #: The period's last day (before revision 0005: `taken_on`).
    last_day: Mapped[date]
    #: The schedule event of the course it belongs to (e.g. '<regimen>_start'); None for
    #: records stored before revision 0005 or outside her schedule.
    event_id: Mapped[str | None] = mapped_column(String(EVENT_ID_LENGTH))
    doses_taken: Mapped[int]
    doses_planned: Mapped[int]


class Procedure(Audited):
    """The uterine-artery infusion of cells, with its checklist and dose arithmetic inputs."""

    __tablename__ = "procedures"
    #: A procedure is given once per cycle (a database rule behind the service's count).
    __table_args__ = (
        Index(
            "uq_procedures_participant_procedure_cycle",
            "participant_id",
            "procedure_id",
            "cycle_id",
            unique=True,
        ),
    )
    participant_id: Mapped[int] = participant_fk()
    #: The protocol's procedure id ('' on procedures stored before revision 0003).
    procedure_id: Mapped[str] = mapped_column(String(32), server_default="")
    cycle_id: Mapped[int | None] = mapped_column(ID, ForeignKey("cycles.id"))
    procedure_date: Mapped[date]
    #: The schedule event it fulfils (the protocol's procedure id; None before revision 0005).
    event_id: Mapped[str | None] = mapped_column(String(EVENT_ID_LENGTH))
    checklist: Mapped[dict[str, Any]]
    pre_checks: Mapped[dict[str, Any]]
    cell_lot: Mapped[str | None] = mapped_column(String(64))
    viability_pct: Mapped[float | None]
    weight_kg: Mapped[float | None]
    dose_cells: Mapped[int | None] = mapped_column(BigInteger)
    volume_ml: Mapped[float | None]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    complications: Mapped[str | None] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(Text)


class Ultrasound(Audited):
    __tablename__ = "ultrasounds"
    __table_args__ = (CheckConstraint("thickness_mm >= 0", name="thickness_not_negative"),)
    participant_id: Mapped[int] = participant_fk()
    cycle_id: Mapped[int | None] = mapped_column(ID, ForeignKey("cycles.id"))
    scan_date: Mapped[date]
    thickness_mm: Mapped[float | None]
    trilaminar: Mapped[bool | None]
    #: The scheduled scan it is (None: unscheduled, or stored before revision 0005).
    event_id: Mapped[str | None] = mapped_column(String(EVENT_ID_LENGTH))


class Visit(Audited):
    """A scheduled visit no other record fulfils (a safety visit, a pregnancy follow-up): the
    day it was held, or the day it was found missed (`attended` False)."""

    __tablename__ = "visits"
    #: One visit per participant and scheduled event.
    __table_args__ = (
        Index("uq_visits_participant_event", "participant_id", "event_id", unique=True),
    )
    participant_id: Mapped[int] = participant_fk()
    event_id: Mapped[str] = mapped_column(String(EVENT_ID_LENGTH))
    visit_date: Mapped[date]
    attended: Mapped[bool] = mapped_column(default=True)
    notes: Mapped[str | None] = mapped_column(Text)


class Measurement(Audited):
    """A value of an outcome measure's data item taken at a schedule event (thickness at
    3 months, a niche present or absent): what the protocol's `outcome_measures` ask for.

    The value is typed by its item: a number (number and integer items) in `value_number`, a
    yes/no (boolean items) in `value_boolean`, a code (category items) in `value_text`; exactly
    one of them is set."""

    __tablename__ = "measurements"
    __table_args__ = (
        #: One value of an item per participant and scheduled event.
        Index(
            "uq_measurements_participant_event_item",
            "participant_id",
            "event_id",
            "item",
            unique=True,
        ),
        CheckConstraint(
            "(CASE WHEN value_number IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN value_boolean IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN value_text IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_value",
        ),
    )
    participant_id: Mapped[int] = participant_fk()
    event_id: Mapped[str] = mapped_column(String(EVENT_ID_LENGTH))
    #: The protocol's data item measured (its name carries its unit).
    item: Mapped[str] = mapped_column(String(MEASUREMENT_ITEM_LENGTH))
    value_number: Mapped[float | None]
    value_boolean: Mapped[bool | None]
    value_text: Mapped[str | None] = mapped_column(String(MEASUREMENT_TEXT_LENGTH))
    measured_date: Mapped[date]
    notes: Mapped[str | None] = mapped_column(Text)

    @property
    def typed_value(self) -> float | bool | str:
        """The value, typed as its item types it (the one column that is set)."""
        if self.value_boolean is not None:
            return self.value_boolean
        if self.value_number is not None:
            return self.value_number
        return self.value_text or ""


class EmbryoTransfer(Audited):
    __tablename__ = "embryo_transfers"
    #: One transfer (done or cancelled) per cycle.
    __table_args__ = (
        Index("uq_embryo_transfers_participant_cycle", "participant_id", "cycle_id", unique=True),
    )
    participant_id: Mapped[int] = participant_fk()
    cycle_id: Mapped[int | None] = mapped_column(ID, ForeignKey("cycles.id"))
    transfer_date: Mapped[date]
    #: The schedule event it fulfils (None: unscheduled, or stored before revision 0005).
    event_id: Mapped[str | None] = mapped_column(String(EVENT_ID_LENGTH))
    cancelled: Mapped[bool] = mapped_column(default=False)
    cancel_reason: Mapped[str | None] = mapped_column(Text)


class TransferredEmbryo(Audited):
    """One blastocyst of a transfer, with its Gardner grade."""

    __tablename__ = "transferred_embryos"
    __table_args__ = (
        CheckConstraint("embryo_day IN (5, 6)", name="embryo_day_5_or_6"),
        CheckConstraint("expansion BETWEEN 1 AND 6", name="expansion_1_to_6"),
        CheckConstraint("icm IN ('A', 'B', 'C')", name="icm_grade"),
        CheckConstraint("te IN ('A', 'B', 'C')", name="te_grade"),
    )
    transfer_id: Mapped[int] = mapped_column(ID, ForeignKey("embryo_transfers.id"), index=True)
    embryo_day: Mapped[int]
    expansion: Mapped[int]
    icm: Mapped[str] = mapped_column(String(1))
    te: Mapped[str] = mapped_column(String(1))


class PregnancyOutcome(Audited):
    __tablename__ = "pregnancy_outcomes"
    __table_args__ = (CheckConstraint("live_born_count >= 0", name="live_born_count_not_negative"),)
    participant_id: Mapped[int] = participant_fk()
    transfer_id: Mapped[int] = mapped_column(ID, ForeignKey("embryo_transfers.id"), unique=True)
    beta_hcg_miu_ml: Mapped[float | None]
    beta_hcg_date: Mapped[date | None]
    #: The scheduled visits the β-hCG test and the pregnancy scan fulfil (None: unscheduled,
    #: not done, or stored before revision 0005).
    beta_hcg_event_id: Mapped[str | None] = mapped_column(String(EVENT_ID_LENGTH))
    ultrasound_date: Mapped[date | None]
    ultrasound_event_id: Mapped[str | None] = mapped_column(String(EVENT_ID_LENGTH))
    gestational_sacs: Mapped[int | None]
    fetal_heartbeat: Mapped[bool | None]
    biochemical: Mapped[bool | None]
    miscarriage: Mapped[bool | None]
    miscarriage_date: Mapped[date | None]
    ectopic: Mapped[bool | None]
    ongoing: Mapped[bool | None]
    ongoing_date: Mapped[date | None]
    live_birth: Mapped[bool | None]
    birth_date: Mapped[date | None]
    #: Babies born alive at this delivery (twins: 2); live_birth is derived from it.
    live_born_count: Mapped[int | None]


class AdverseEvent(Audited):
    __tablename__ = "adverse_events"
    __table_args__ = (CheckConstraint("ctcae_grade BETWEEN 1 AND 5", name="ctcae_grade_1_to_5"),)
    participant_id: Mapped[int] = participant_fk()
    term: Mapped[str] = mapped_column(String(200))
    ctcae_grade: Mapped[int]
    serious: Mapped[bool]
    related_procedure: Mapped[Relatedness] = mapped_column(str_enum(Relatedness))
    related_cells: Mapped[Relatedness] = mapped_column(str_enum(Relatedness))
    related_hrt: Mapped[Relatedness] = mapped_column(str_enum(Relatedness))
    expected: Mapped[bool]
    onset_date: Mapped[date]
    resolution_date: Mapped[date | None]
    outcome: Mapped[str | None] = mapped_column(String(64))
    action_taken: Mapped[str | None] = mapped_column(String(200))
    expedited_report_due_at: Mapped[datetime | None]


class ProtocolDeviation(Audited):
    __tablename__ = "protocol_deviations"
    participant_id: Mapped[int | None] = participant_fk(nullable=True)
    site_id: Mapped[int | None] = mapped_column(ID, ForeignKey("sites.id"))
    occurred_on: Mapped[date]
    category: Mapped[str] = mapped_column(String(64))
    major: Mapped[bool] = mapped_column(default=False)
    description: Mapped[str] = mapped_column(Text)
    reported_by: Mapped[str] = mapped_column(String(64))


class Withdrawal(Audited):
    __tablename__ = "withdrawals"
    participant_id: Mapped[int] = participant_fk(unique=True)
    withdrawn_on: Mapped[date]
    initiated_by: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    data_use_allowed: Mapped[bool] = mapped_column(default=True)


class DataQuery(Audited):
    """A question on one field of one record, raised by an edit check or by a user (monitor)."""

    __tablename__ = "data_queries"
    entity: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[QueryStatus] = mapped_column(str_enum(QueryStatus), default=QueryStatus.OPEN)
    opened_by: Mapped[str] = mapped_column(String(128))
    opened_at: Mapped[datetime]
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class ParticipantLock(Audited):
    """An investigator's sign-off freezing one participant's data (unlocking is audited too)."""

    __tablename__ = "participant_locks"
    participant_id: Mapped[int] = participant_fk(unique=True)
    locked: Mapped[bool]
    locked_by: Mapped[str] = mapped_column(String(64))
    locked_at: Mapped[datetime]
    # The electronic signature of the sign-off (21 CFR 11.50): who signed (username and printed
    # name), when, what the signature means, and a digest of her records as signed (11.70: the
    # signature bound to what was signed). Kept when unlocked, with who voided it and why.
    signed_by: Mapped[str | None] = mapped_column(String(64))
    signer_name: Mapped[str | None] = mapped_column(String(200))
    signed_at: Mapped[datetime | None]
    meaning: Mapped[str | None] = mapped_column(String(32))
    records_sha256: Mapped[str | None] = mapped_column(String(64))
    voided_by: Mapped[str | None] = mapped_column(String(64))
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(Text)
