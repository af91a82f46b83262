"""Ultrasounds, embryo transfers and pregnancy outcomes (facts stored; outcomes derived)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.outcomes import (
    PregnancyFacts,
    derive_outcome,
    gestational_age_days,
    parse_gardner,
)
from endotrial.outcomes.pregnancy import PregnancyOutcome as DerivedOutcome
from endotrial.protocol.models import Protocol
from endotrial.services._common import (
    allocated_participant,
    check_finite,
    check_not_future,
    check_window,
    cycle_on,
    event_cycle,
    get_row,
    open_edit_query,
    transfer_event,
    writable_participant,
)
from endotrial.services.errors import RuleViolation
from endotrial.services.permissions import Operation, authorize
from endotrial.store import (
    EmbryoTransfer,
    Participant,
    PregnancyOutcome,
    TransferredEmbryo,
    Ultrasound,
    unit_of_work,
)

#: Plausible endometrial thickness; a value outside opens a query (edit check).
THICKNESS_RANGE_MM = (0.0, 30.0)


@dataclass(frozen=True)
class UltrasoundInput:
    participant_id: int
    scan_date: dt.date
    thickness_mm: float | None
    trilaminar: bool | None = None
    event_id: str | None = None
    """The scheduled visit this scan is (e.g. 'transfer_ultrasound'), for the window check."""


def record_ultrasound(
    engine: Engine, protocol: Protocol, scan: UltrasoundInput, *, user: str
) -> int:
    """Record a transvaginal ultrasound; implausible values and off-window visits open queries."""
    check_finite(thickness_mm=scan.thickness_mm)
    if scan.thickness_mm is not None and scan.thickness_mm < 0:
        raise RuleViolation(f"thickness_mm {scan.thickness_mm} is negative: re-enter it in mm")
    check_not_future(scan_date=scan.scan_date)
    with unit_of_work(engine, user=user) as session:
        authorize(session, user, Operation.RECORD_ULTRASOUND)
        participant = allocated_participant(session, scan.participant_id)
        cycle = cycle_on(session, participant.id, scan.scan_date)
        row = Ultrasound(
            participant_id=participant.id,
            cycle_id=cycle.id if cycle is not None else None,
            scan_date=scan.scan_date,
            thickness_mm=scan.thickness_mm,
            trilaminar=scan.trilaminar,
        )
        session.add(row)
        session.flush()
        low, high = THICKNESS_RANGE_MM
        if scan.thickness_mm is not None and not low <= scan.thickness_mm <= high:
            text = f"thickness_mm {scan.thickness_mm} is outside {low:g}-{high:g} mm: confirm"
            open_edit_query(session, row, "thickness_mm", text, "range")
        if scan.event_id is not None:
            check_window(
                session, protocol, participant, row, "scan_date", scan.event_id, scan.scan_date
            )
        return row.id


def correct_ultrasound(
    engine: Engine, scan_id: int, *, thickness_mm: float, reason: str, user: str
) -> None:
    """Correct a scan's thickness (e.g. answering a range query); the reason is audited."""
    check_finite(thickness_mm=thickness_mm)
    if thickness_mm < 0:
        raise RuleViolation(f"thickness_mm {thickness_mm} is negative: re-enter it in mm")
    if not reason.strip():
        raise RuleViolation("a correction needs its reason (e.g. 'decimal point misplaced')")
    with unit_of_work(engine, user=user, reason=reason.strip()) as session:
        authorize(session, user, Operation.CORRECT_ULTRASOUND)
        scan = get_row(session, Ultrasound, scan_id)
        writable_participant(session, scan.participant_id)
        scan.thickness_mm = thickness_mm


@dataclass(frozen=True)
class TransferInput:
    """A frozen embryo transfer (Gardner grades such as '4AB'), or its cancellation."""

    participant_id: int
    transfer_date: dt.date
    embryo_grades: Sequence[str] = ()
    embryo_day: int = 5
    cancel_reason: str | None = None


def record_transfer(
    engine: Engine, protocol: Protocol, transfer: TransferInput, *, user: str
) -> int:
    """Record the transfer of graded blastocysts, or a cancelled transfer with its reason."""
    grades = [parse_gardner(g) for g in transfer.embryo_grades]
    cancelled = transfer.cancel_reason is not None
    _check_transfer_shape(transfer, cancelled)
    check_not_future(transfer_date=transfer.transfer_date)
    with unit_of_work(engine, user=user) as session:
        authorize(session, user, Operation.RECORD_TRANSFER)
        participant = allocated_participant(session, transfer.participant_id)
        cycle = cycle_on(session, participant.id, transfer.transfer_date)
        expected = _transfer_cycle(protocol)
        if cycle is None or (expected is not None and cycle.kind != expected):
            raise RuleViolation(
                f"record the start of her {expected or 'current'} cycle (on or before the "
                "transfer) first"
            )
        if _transfer_of(session, participant.id) is not None:
            raise RuleViolation(f"participant {participant.study_id} already has a transfer")
        row = EmbryoTransfer(
            participant_id=participant.id,
            cycle_id=cycle.id,
            transfer_date=transfer.transfer_date,
            cancelled=cancelled,
            cancel_reason=(transfer.cancel_reason or "").strip() or None,
        )
        session.add(row)
        session.flush()
        for grade in grades:
            session.add(
                TransferredEmbryo(
                    transfer_id=row.id,
                    embryo_day=transfer.embryo_day,
                    expansion=grade.expansion,
                    icm=grade.inner_cell_mass,
                    te=grade.trophectoderm,
                )
            )
        if not cancelled:
            _check_thickness(session, protocol, row)
        return row.id


def _transfer_cycle(protocol: Protocol) -> str | None:
    event_id = transfer_event(protocol)
    return event_cycle(protocol, event_id) if event_id is not None else None


def _check_transfer_shape(transfer: TransferInput, cancelled: bool) -> None:
    if cancelled and not (transfer.cancel_reason or "").strip():
        raise RuleViolation("a cancelled transfer needs its reason (e.g. 'thin endometrium')")
    if cancelled and transfer.embryo_grades:
        raise RuleViolation("a cancelled transfer has no embryos: remove the grades")
    if not cancelled and not transfer.embryo_grades:
        raise RuleViolation("give the Gardner grade of each embryo transferred (e.g. '4AB')")
    if transfer.embryo_day not in (5, 6):
        raise RuleViolation(f"embryo_day {transfer.embryo_day}: blastocysts are day 5 or 6")


def _check_thickness(session: Session, protocol: Protocol, transfer: EmbryoTransfer) -> None:
    """A transfer below the protocol's thickness threshold opens a query."""
    threshold_mm = float(protocol.setting("transfer_thickness_min_mm").value)
    scan = session.scalars(
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
        open_edit_query(session, transfer, "transfer_date", text, "transfer_threshold")


def _transfer_of(session: Session, participant_id: int) -> EmbryoTransfer | None:
    return session.scalar(
        select(EmbryoTransfer).where(EmbryoTransfer.participant_id == participant_id)
    )


@dataclass(frozen=True)
class OutcomeInput:
    """What was observed after a transfer; None = not (yet) known. Loss/birth are dates."""

    transfer_id: int
    beta_hcg_miu_ml: float | None = None
    beta_hcg_date: dt.date | None = None
    ultrasound_date: dt.date | None = None
    gestational_sacs: int | None = None
    ectopic: bool | None = None
    fetal_heartbeat_12_weeks: bool | None = None
    ongoing_date: dt.date | None = None
    loss_date: dt.date | None = None
    birth_date: dt.date | None = None
    live_born_count: int | None = None
    """Babies born alive at the delivery on birth_date (twins: 2)."""


def record_outcome(
    engine: Engine,
    protocol: Protocol,
    facts: OutcomeInput,
    *,
    user: str,
    reason: str | None = None,
) -> DerivedOutcome:
    """Store the observed facts of a transfer (updating them needs `reason`) and return the
    outcomes derived by the protocol's definitions; inconsistent facts open queries."""
    if facts.live_born_count is not None and facts.live_born_count < 0:
        raise RuleViolation(f"live_born_count {facts.live_born_count} is negative: give 0 or more")
    check_finite(beta_hcg_miu_ml=facts.beta_hcg_miu_ml)
    check_not_future(
        beta_hcg_date=facts.beta_hcg_date,
        ultrasound_date=facts.ultrasound_date,
        ongoing_date=facts.ongoing_date,
        loss_date=facts.loss_date,
        birth_date=facts.birth_date,
    )
    with unit_of_work(engine, user=user, reason=reason) as session:
        authorize(session, user, Operation.RECORD_OUTCOME)
        transfer = get_row(session, EmbryoTransfer, facts.transfer_id)
        participant = allocated_participant(session, transfer.participant_id)
        row = _outcome_row(session, transfer)
        derived = derive_outcome(_facts(session, transfer, facts), protocol)
        _store(row, facts, derived)
        session.flush()
        _check_consistency(session, protocol, row, derived)
        _check_dates(session, protocol, participant, row, facts)
        return derived


def pregnancy_outcome(engine: Engine, protocol: Protocol, transfer_id: int) -> DerivedOutcome:
    """The outcomes of one transfer, derived again from the stored facts."""
    with unit_of_work(engine, user="reader") as session:
        transfer = get_row(session, EmbryoTransfer, transfer_id)
        row = session.scalar(
            select(PregnancyOutcome).where(PregnancyOutcome.transfer_id == transfer_id)
        )
        stored = OutcomeInput(transfer_id=transfer_id) if row is None else _stored_facts(row)
        return derive_outcome(_facts(session, transfer, stored), protocol)


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


def _facts(session: Session, transfer: EmbryoTransfer, facts: OutcomeInput) -> PregnancyFacts:
    embryos = _embryos(session, transfer.id)
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
    session: Session, protocol: Protocol, row: PregnancyOutcome, derived: DerivedOutcome
) -> None:
    sacs = row.gestational_sacs or 0
    if derived.positive_hcg is False and sacs > 0:
        text = (
            f"{sacs} gestational sac(s) recorded but beta-hCG {row.beta_hcg_miu_ml} mIU/mL is "
            f"negative (threshold {protocol.setting('beta_hcg_positive_miu_ml').value}): confirm"
        )
        open_edit_query(session, row, "gestational_sacs", text, "consistency")
    if row.fetal_heartbeat and sacs == 0 and not row.ectopic:
        text = "fetal heartbeat recorded without a gestational sac: confirm the sac count"
        open_edit_query(session, row, "fetal_heartbeat", text, "consistency")
    if row.birth_date is not None and row.live_born_count is None:
        text = "a delivery date is recorded without the number of babies born alive: add it"
        open_edit_query(session, row, "live_born_count", text, "consistency")


def _check_dates(
    session: Session,
    protocol: Protocol,
    participant: Participant,
    row: PregnancyOutcome,
    facts: OutcomeInput,
) -> None:
    if facts.beta_hcg_date is not None:
        check_window(
            session, protocol, participant, row, "beta_hcg_date", "beta_hcg", facts.beta_hcg_date
        )
    if facts.ultrasound_date is not None:
        event = "clinical_pregnancy_ultrasound"
        check_window(
            session, protocol, participant, row, "ultrasound_date", event, facts.ultrasound_date
        )
