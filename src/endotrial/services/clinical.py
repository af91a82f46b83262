"""Ultrasounds, embryo transfers and pregnancy outcomes (facts stored; outcomes derived)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from endotrial.errors import InputError
from endotrial.outcomes import (
    GardnerGrade,
    PregnancyFacts,
    derive_outcome,
    gestational_age_days,
    parse_gardner,
)
from endotrial.outcomes.pregnancy import PregnancyOutcome as DerivedOutcome
from endotrial.protocol.models import EventRole, Protocol
from endotrial.protocol.settings import (
    BETA_HCG_POSITIVE_MIU_ML,
    PREGNANCY_LOSS_BOUNDARY_WEEKS,
    TRANSFER_THICKNESS_MIN_MM,
)
from endotrial.services._common import (
    TRANSFER_EVENT_KIND,
    allocated_participant,
    check_not_before_enrolment,
    check_study_dates,
    check_window,
    cycle_on,
    event_around,
    event_cycle,
    event_in_schedule,
    get_row,
    meaningful_reason,
    named_event,
    open_edit_query,
    readable_participant,
)
from endotrial.services._input import OptionalText, RecordId, ServiceInput, as_id
from endotrial.services.context import Actor, Study, Tx, reading, writing
from endotrial.services.errors import InvalidInput, RuleViolation
from endotrial.services.permissions import Operation
from endotrial.store import (
    EmbryoTransfer,
    Participant,
    PregnancyOutcome,
    TransferredEmbryo,
    Ultrasound,
)

#: Plausible endometrial thickness; a value outside opens a query (edit check).
THICKNESS_RANGE_MM = (0.0, 30.0)
#: Thicker than any endometrium: a typing error (cm for mm, a decimal point lost), refused.
THICKNESS_IMPOSSIBLE_MM = 100.0
Thickness = Annotated[float, Field(ge=0, le=THICKNESS_IMPOSSIBLE_MM)]
EventId = Annotated[str, Field(min_length=1, max_length=64)]


class UltrasoundInput(ServiceInput):
    participant_id: RecordId
    scan_date: dt.date
    thickness_mm: Thickness | None
    trilaminar: bool | None = None
    event_id: EventId | None = None
    """The scheduled scan this is (an ultrasound event of her arm's schedule), for the window
    check; left out, the scan event whose window holds the date is stored (none: unscheduled)."""


#: The schedule event kinds a scan can fulfil.
SCAN_KINDS = ("ultrasound",)


def record_ultrasound(study: Study, actor: Actor, scan: UltrasoundInput) -> int:
    """Record a transvaginal ultrasound and the scheduled scan it is; implausible values and
    off-window visits open queries."""
    if scan.event_id is not None and scan.event_id not in {e.id for e in study.protocol.schedule}:
        raise InvalidInput(
            "scan.unknown_event", field="event_id", event=scan.event_id,
            known=[e.id for e in study.protocol.schedule if e.kind == "ultrasound"],
        )  # fmt: skip
    with writing(study, actor, Operation.RECORD_ULTRASOUND) as tx:
        participant = allocated_participant(tx, scan.participant_id)
        check_study_dates(tx, participant.site_id, scan_date=scan.scan_date)
        check_not_before_enrolment(participant, "scan_date", scan.scan_date)
        event_id = named_event(tx, participant, scan.event_id, SCAN_KINDS, "event_id")
        cycle = cycle_on(tx.session, participant.id, scan.scan_date)
        row = Ultrasound(
            participant_id=participant.id,
            cycle_id=cycle.id if cycle is not None else None,
            scan_date=scan.scan_date,
            thickness_mm=scan.thickness_mm,
            trilaminar=scan.trilaminar,
            event_id=event_id or event_around(tx, participant, SCAN_KINDS, scan.scan_date),
        )
        tx.session.add(row)
        tx.session.flush()
        _check_thickness_range(tx.session, row)
        if event_id is not None:
            check_window(tx, participant, row, "scan_date", event_id, scan.scan_date)
        return row.id


def _check_thickness_range(session: Session, row: Ultrasound) -> None:
    low, high = THICKNESS_RANGE_MM
    if row.thickness_mm is not None and not low <= row.thickness_mm <= high:
        text = f"thickness_mm {row.thickness_mm} is outside {low:g}-{high:g} mm: confirm"
        open_edit_query(session, row, "thickness_mm", text, "range")


class UltrasoundCorrection(ServiceInput):
    scan_id: RecordId
    thickness_mm: Thickness
    reason: str


def correct_ultrasound(study: Study, actor: Actor, correction: UltrasoundCorrection) -> None:
    """Correct a scan's thickness (e.g. answering a range query); the reason is audited."""
    reason = meaningful_reason(correction.reason, "a correction")
    with writing(study, actor, Operation.CORRECT_ULTRASOUND, reason=reason) as tx:
        scan = get_row(tx.session, Ultrasound, correction.scan_id)
        allocated_participant(tx, scan.participant_id, via=("ultrasounds", scan.id))
        scan.thickness_mm = correction.thickness_mm


class TransferInput(ServiceInput):
    """A frozen embryo transfer (Gardner grades such as '4AB'), or its cancellation."""

    participant_id: RecordId
    transfer_date: dt.date
    embryo_grades: Annotated[list[Annotated[str, Field(max_length=8)]], Field(max_length=6)] = (
        Field(default_factory=list)
    )
    embryo_day: int = 5
    cancel_reason: OptionalText = None
    event_id: EventId | None = None
    """The scheduled transfer it is (a transfer event of her arm's schedule); left out, the
    protocol's transfer event."""


def record_transfer(study: Study, actor: Actor, transfer: TransferInput) -> int:
    """Record the transfer of graded blastocysts, or a cancelled transfer with its reason, and
    the scheduled transfer it is."""
    grades = _grades(transfer)
    cancelled = transfer.cancel_reason is not None
    _check_transfer_shape(transfer, cancelled)
    with writing(study, actor, Operation.RECORD_TRANSFER) as tx:
        participant = allocated_participant(tx, transfer.participant_id, treatment=True)
        check_study_dates(tx, participant.site_id, transfer_date=transfer.transfer_date)
        check_not_before_enrolment(participant, "transfer_date", transfer.transfer_date)
        cycle = cycle_on(tx.session, participant.id, transfer.transfer_date)
        expected = _transfer_cycle(tx.protocol)
        if cycle is None or (expected is not None and cycle.kind != expected):
            raise RuleViolation("transfer.no_cycle", cycle=expected or "current")
        if _transfer_of(tx.session, participant.id) is not None:
            raise RuleViolation("transfer.already", study_id=participant.study_id)
        event_id = named_event(
            tx, participant, transfer.event_id, (TRANSFER_EVENT_KIND,), "event_id"
        )
        planned = tx.protocol.role_event(EventRole.embryo_transfer, participant.arm)
        if event_id is None and planned is not None:
            event_id = event_in_schedule(tx.protocol, participant, planned)
        row = EmbryoTransfer(
            participant_id=participant.id,
            cycle_id=cycle.id,
            transfer_date=transfer.transfer_date,
            event_id=event_id,
            cancelled=cancelled,
            cancel_reason=transfer.cancel_reason,
        )
        tx.session.add(row)
        tx.session.flush()
        for grade in grades:
            tx.session.add(
                TransferredEmbryo(
                    transfer_id=row.id,
                    embryo_day=transfer.embryo_day,
                    expansion=grade.expansion,
                    icm=grade.inner_cell_mass,
                    te=grade.trophectoderm,
                )
            )
        if not cancelled:
            _check_thickness(tx, row)
        return row.id


def _grades(transfer: TransferInput) -> list[GardnerGrade]:
    try:
        return [parse_gardner(g) for g in transfer.embryo_grades]
    except InputError as error:
        raise InvalidInput(
            "input.invalid", field="embryo_grades", what="embryo_grades", problems=str(error)
        ) from None


def _transfer_cycle(protocol: Protocol) -> str | None:
    event_id = protocol.role_event(EventRole.embryo_transfer)
    return event_cycle(protocol, event_id) if event_id is not None else None


def _check_transfer_shape(transfer: TransferInput, cancelled: bool) -> None:
    if cancelled and transfer.embryo_grades:
        raise RuleViolation("transfer.cancelled_with_embryos", field="embryo_grades")
    if not cancelled and not transfer.embryo_grades:
        raise RuleViolation("transfer.no_grades", field="embryo_grades")
    if transfer.embryo_day not in (5, 6):
        raise RuleViolation("transfer.embryo_day", field="embryo_day", day=transfer.embryo_day)


def _check_thickness(tx: Tx, transfer: EmbryoTransfer) -> None:
    """A transfer below the protocol's thickness threshold opens a query (a protocol whose
    schedule has no embryo transfer has no threshold, and no such query)."""
    if TRANSFER_THICKNESS_MIN_MM.name not in tx.protocol.settings:
        return
    threshold_mm = TRANSFER_THICKNESS_MIN_MM.number(tx.protocol)
    scan = tx.session.scalars(
        select(Ultrasound)
        .where(
            Ultrasound.participant_id == transfer.participant_id,
            Ultrasound.cycle_id == transfer.cycle_id,
            Ultrasound.thickness_mm.is_not(None),
        )
        .order_by(Ultrasound.scan_date.desc(), Ultrasound.id.desc())
    ).first()
    if scan is not None and (scan.thickness_mm or 0.0) < threshold_mm:
        text = (
            f"transfer done after a scan of {scan.thickness_mm} mm, below the protocol's "
            f"{threshold_mm:g} mm threshold: confirm, or record a deviation"
        )
        open_edit_query(tx.session, transfer, "transfer_date", text, "transfer_threshold")


def _transfer_of(session: Session, participant_id: int) -> EmbryoTransfer | None:
    return session.scalar(
        select(EmbryoTransfer).where(EmbryoTransfer.participant_id == participant_id)
    )


#: Gestational sacs (or babies) per embryo above which a count is impossible, not rare: one
#: embryo can split into identical twins or triplets, not more.
MAX_PER_EMBRYO = 3
#: A delivery later than this many weeks of gestation is impossible (a date typed wrong).
LATEST_DELIVERY_WEEKS = 45


class OutcomeInput(ServiceInput):
    """What was observed after a transfer; None = not (yet) known. Loss/birth are dates."""

    transfer_id: RecordId
    beta_hcg_miu_ml: Annotated[float, Field(ge=0, le=1_000_000)] | None = None
    beta_hcg_date: dt.date | None = None
    ultrasound_date: dt.date | None = None
    gestational_sacs: Annotated[int, Field(ge=0, le=20)] | None = None
    ectopic: bool | None = None
    fetal_heartbeat_12_weeks: bool | None = None
    ongoing_date: dt.date | None = None
    loss_date: dt.date | None = None
    birth_date: dt.date | None = None
    live_born_count: Annotated[int, Field(ge=0, le=20)] | None = None
    """Babies born alive at the delivery on birth_date (twins: 2)."""
    beta_hcg_event_id: EventId | None = None
    """The scheduled test the β-hCG is (a lab event of her schedule); left out, her schedule's
    event with `role: beta_hcg_test` when it has one."""
    ultrasound_event_id: EventId | None = None
    """The scheduled scan that counted the sacs; left out, her schedule's event with
    `role: pregnancy_scan` when it has one."""


#: Input fields that name events, not observations.
_EVENT_FIELDS = frozenset({"beta_hcg_event_id", "ultrasound_event_id"})


def record_outcome(
    study: Study, actor: Actor, facts: OutcomeInput, *, reason: str | None = None
) -> DerivedOutcome:
    """Store the observed facts of a transfer (updating them needs a reason) and return the
    outcomes derived by the protocol's definitions. Impossible facts (a date before the
    transfer, a birth before the protocol's loss boundary, more sacs than embryos can give)
    are refused; unusual ones open queries."""
    why = None if reason is None else meaningful_reason(reason, "changing a recorded outcome")
    with writing(study, actor, Operation.RECORD_OUTCOME, reason=why) as tx:
        transfer = get_row(tx.session, EmbryoTransfer, facts.transfer_id)
        via = ("embryo_transfers", transfer.id)
        participant = allocated_participant(tx, transfer.participant_id, via=via)
        _check_outcome_dates(tx, transfer, facts, participant.site_id)
        embryos = _embryos(tx.session, transfer.id)
        _check_counts(len(embryos), facts)
        row = _outcome_row(tx.session, transfer)
        derived = derive_outcome(_facts(transfer, embryos, facts), tx.protocol)
        _store(row, facts, derived)
        _store_events(tx, participant, row, facts)
        tx.session.flush()
        _check_consistency(tx, row, derived, len(embryos))
        _check_dates(tx, participant, row, facts)
        return derived


def pregnancy_outcome(study: Study, actor: Actor, transfer_id: int) -> DerivedOutcome:
    """The outcomes of one transfer, derived again from the stored facts."""
    transfer_id = as_id(transfer_id, "transfer_id")
    with reading(study, actor, Operation.READ_TRIAL_DATA) as tx:
        transfer = get_row(tx.session, EmbryoTransfer, transfer_id)
        readable_participant(tx, transfer.participant_id, via=("embryo_transfers", transfer_id))
        return outcome_of(tx, transfer)


def outcome_of(tx: Tx, transfer: EmbryoTransfer) -> DerivedOutcome:
    """The outcomes of a transfer the reader may see, derived from its stored facts."""
    row = tx.session.scalar(
        select(PregnancyOutcome).where(PregnancyOutcome.transfer_id == transfer.id)
    )
    return outcome_from(tx.protocol, transfer, row, _embryos(tx.session, transfer.id))


def outcome_from(
    protocol: Protocol,
    transfer: EmbryoTransfer,
    stored: PregnancyOutcome | None,
    embryos: list[TransferredEmbryo],
) -> DerivedOutcome:
    """The outcomes of a transfer from its rows already read: its outcome row (None: none
    recorded yet) and its embryos."""
    facts = OutcomeInput(transfer_id=transfer.id) if stored is None else _stored_facts(stored)
    return derive_outcome(_facts(transfer, embryos, facts), protocol)


def _check_outcome_dates(
    tx: Tx, transfer: EmbryoTransfer, facts: OutcomeInput, site_id: int | None = None
) -> None:
    """The facts' dates: happened (by the day at her site), after the transfer, and a birth or
    a loss at a possible gestational age."""
    dates = {
        "beta_hcg_date": facts.beta_hcg_date,
        "ultrasound_date": facts.ultrasound_date,
        "ongoing_date": facts.ongoing_date,
        "loss_date": facts.loss_date,
        "birth_date": facts.birth_date,
    }
    check_study_dates(tx, site_id, **dates)
    for field, on in dates.items():
        if on is not None and on < transfer.transfer_date:
            raise RuleViolation(
                "date.before_transfer", field=field, date=on, transfer_date=transfer.transfer_date
            )
    observed = facts.model_dump(exclude={"transfer_id", *_EVENT_FIELDS}, exclude_none=True)
    if transfer.cancelled and observed:
        raise RuleViolation("outcome.cancelled_transfer", field=next(iter(observed)))
    boundary = PREGNANCY_LOSS_BOUNDARY_WEEKS.number(tx.protocol)
    embryo_day = _embryo_day(tx.session, transfer.id)
    for field, on in (("birth_date", facts.birth_date), ("loss_date", facts.loss_date)):
        if on is None:
            continue
        weeks = gestational_age_days(transfer.transfer_date, embryo_day, on) / 7
        too_early = field == "birth_date" and weeks < boundary
        too_late = weeks > LATEST_DELIVERY_WEEKS or (field == "loss_date" and weeks >= boundary)
        if too_early or too_late:
            raise RuleViolation(
                f"outcome.{field}_weeks", field=field, date=on, weeks=round(weeks, 1),
                boundary=boundary, latest=LATEST_DELIVERY_WEEKS,
            )  # fmt: skip


def _check_counts(embryos: int, facts: OutcomeInput) -> None:
    for field, count in (
        ("gestational_sacs", facts.gestational_sacs),
        ("live_born_count", facts.live_born_count),
    ):
        if count is not None and count > MAX_PER_EMBRYO * max(embryos, 1):
            raise RuleViolation(
                "outcome.too_many", field=field, count=count, embryos=embryos,
                most=MAX_PER_EMBRYO * max(embryos, 1),
            )  # fmt: skip


def _outcome_row(session: Session, transfer: EmbryoTransfer) -> PregnancyOutcome:
    row = session.scalar(
        select(PregnancyOutcome).where(PregnancyOutcome.transfer_id == transfer.id)
    )
    if row is None:
        row = PregnancyOutcome(participant_id=transfer.participant_id, transfer_id=transfer.id)
        session.add(row)
    return row


def _embryos(session: Session, transfer_id: int) -> list[TransferredEmbryo]:
    query = select(TransferredEmbryo).where(TransferredEmbryo.transfer_id == transfer_id)
    return list(session.scalars(query))


def _embryo_day(session: Session, transfer_id: int) -> int:
    embryos = _embryos(session, transfer_id)
    return embryos[0].embryo_day if embryos else 5


def _facts(
    transfer: EmbryoTransfer, embryos: list[TransferredEmbryo], facts: OutcomeInput
) -> PregnancyFacts:
    embryo_day = embryos[0].embryo_day if embryos else 5

    def weeks(on: dt.date | None) -> float | None:
        if on is None:
            return None
        return gestational_age_days(transfer.transfer_date, embryo_day, on) / 7

    return PregnancyFacts(
        transfer_cancelled=transfer.cancelled,
        embryos_transferred=len(embryos),
        beta_hcg_miu_ml=facts.beta_hcg_miu_ml,
        gestational_sacs=facts.gestational_sacs,
        ectopic=bool(facts.ectopic),
        fetal_heartbeat_12_weeks=facts.fetal_heartbeat_12_weeks,
        loss_gestational_weeks=weeks(facts.loss_date),
        delivery_gestational_weeks=weeks(facts.birth_date),
        live_born=facts.live_born_count,
    )


def _store(row: PregnancyOutcome, facts: OutcomeInput, derived: DerivedOutcome) -> None:
    row.beta_hcg_miu_ml = facts.beta_hcg_miu_ml
    row.beta_hcg_date = facts.beta_hcg_date
    row.ultrasound_date = facts.ultrasound_date
    row.gestational_sacs = facts.gestational_sacs
    row.ectopic = facts.ectopic
    row.fetal_heartbeat = facts.fetal_heartbeat_12_weeks
    row.ongoing_date = facts.ongoing_date
    row.miscarriage_date = facts.loss_date
    row.birth_date = facts.birth_date
    row.live_born_count = facts.live_born_count
    # Derived, never typed in: kept for reporting, recomputed on every save.
    row.biochemical = derived.biochemical_pregnancy
    row.miscarriage = derived.miscarriage
    row.ongoing = derived.ongoing_pregnancy
    row.live_birth = derived.live_birth


def _stored_facts(row: PregnancyOutcome) -> OutcomeInput:
    return OutcomeInput(
        transfer_id=row.transfer_id,
        beta_hcg_miu_ml=row.beta_hcg_miu_ml,
        beta_hcg_date=row.beta_hcg_date,
        ultrasound_date=row.ultrasound_date,
        gestational_sacs=row.gestational_sacs,
        ectopic=row.ectopic,
        fetal_heartbeat_12_weeks=row.fetal_heartbeat,
        ongoing_date=row.ongoing_date,
        loss_date=row.miscarriage_date,
        birth_date=row.birth_date,
        live_born_count=row.live_born_count,
    )


def _check_consistency(
    tx: Tx, row: PregnancyOutcome, derived: DerivedOutcome, embryos: int
) -> None:
    sacs = row.gestational_sacs or 0
    session = tx.session
    if derived.positive_hcg is False and sacs > 0:
        threshold = BETA_HCG_POSITIVE_MIU_ML.value(tx.protocol)
        text = (
            f"{sacs} gestational sac(s) recorded but beta-hCG {row.beta_hcg_miu_ml} mIU/mL is "
            f"negative (threshold {threshold}): confirm"
        )
        open_edit_query(session, row, "gestational_sacs", text, "consistency")
    if sacs > embryos:
        text = (
            f"{sacs} gestational sacs after {embryos} embryo(s) transferred: confirm (an embryo "
            "splitting into identical twins is rare)"
        )
        open_edit_query(session, row, "gestational_sacs", text, "sacs_per_embryo")
    if row.fetal_heartbeat and sacs == 0 and not row.ectopic:
        text = "fetal heartbeat recorded without a gestational sac: confirm the sac count"
        open_edit_query(session, row, "fetal_heartbeat", text, "consistency")
    if row.birth_date is not None and row.live_born_count is None:
        text = "a delivery date is recorded without the number of babies born alive: add it"
        open_edit_query(session, row, "live_born_count", text, "consistency")
    for field, contradiction in _contradictions(row, derived):
        open_edit_query(session, row, field, f"{contradiction}: confirm", "contradiction")


def _contradictions(row: PregnancyOutcome, derived: DerivedOutcome) -> Iterator[tuple[str, str]]:
    """Facts that cannot all be true of one pregnancy: each opens a query on a field."""
    born_alive = (row.live_born_count or 0) > 0
    if born_alive and row.ectopic:
        yield "ectopic", "an ectopic pregnancy is recorded together with a baby born alive"
    if row.birth_date is not None and row.miscarriage_date is not None:
        yield "miscarriage_date", "both a pregnancy loss and a delivery are recorded"
    if born_alive and derived.positive_hcg is False:
        yield "beta_hcg_miu_ml", "a baby born alive after a negative beta-hCG"
    if born_alive and row.birth_date is None:
        yield "birth_date", "babies born alive are recorded without the delivery date"
    if born_alive and row.fetal_heartbeat is False:
        yield "fetal_heartbeat", "no fetal heartbeat at 12 weeks, yet a baby born alive"


def _store_events(
    tx: Tx, participant: Participant, row: PregnancyOutcome, facts: OutcomeInput
) -> None:
    """The visits the dates fulfil: those named, else the protocol's (when her schedule has
    them); none for a date not given."""
    row.beta_hcg_event_id = _outcome_event(
        tx, participant, facts.beta_hcg_date, facts.beta_hcg_event_id, "beta_hcg_event_id",
        ("lab",), EventRole.beta_hcg_test,
    )  # fmt: skip
    row.ultrasound_event_id = _outcome_event(
        tx, participant, facts.ultrasound_date, facts.ultrasound_event_id, "ultrasound_event_id",
        SCAN_KINDS, EventRole.pregnancy_scan,
    )  # fmt: skip


def _check_dates(
    tx: Tx, participant: Participant, row: PregnancyOutcome, facts: OutcomeInput
) -> None:
    if facts.beta_hcg_date is not None and row.beta_hcg_event_id is not None:
        event = row.beta_hcg_event_id
        check_window(tx, participant, row, "beta_hcg_date", event, facts.beta_hcg_date)
    if facts.ultrasound_date is not None and row.ultrasound_event_id is not None:
        event = row.ultrasound_event_id
        check_window(tx, participant, row, "ultrasound_date", event, facts.ultrasound_date)


def _outcome_event(
    tx: Tx,
    participant: Participant,
    on: dt.date | None,
    given: str | None,
    field: str,
    kinds: tuple[str, ...],
    role: EventRole,
) -> str | None:
    named = named_event(tx, participant, given, kinds, field)
    if on is None:
        if named is not None:
            raise RuleViolation("visit.no_date", field=field, event=named)
        return None
    if named is not None:
        return named
    default = tx.protocol.role_event(role, participant.arm)
    return None if default is None else event_in_schedule(tx.protocol, participant, default)
