"""A participant's page: who she is in the trial (never who she is: no identifying data),
where she stands, and how much has been recorded."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, CompoundSelect, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from endotrial.services._common import WITHDRAWN, readable_participant
from endotrial.services._input import as_id
from endotrial.services.context import Actor, Study, reading
from endotrial.services.permissions import Operation
from endotrial.services.reads._scope import her_participants
from endotrial.services.reads.queries import pending_query_counts
from endotrial.services.reads.records import records_digest
from endotrial.store import (
    AdverseEvent,
    Consent,
    Cycle,
    EmbryoTransfer,
    MedicationRecord,
    Participant,
    ParticipantLock,
    Procedure,
    ProtocolDeviation,
    Site,
    Ultrasound,
    Withdrawal,
)


@dataclass(frozen=True)
class ConsentView:
    form_version: str
    consent_date: dt.date
    taken_by: str


@dataclass(frozen=True)
class CycleView:
    cycle: str
    """The protocol's cycle id ('treatment', 'transfer')."""
    start_date: dt.date


@dataclass(frozen=True)
class TransferView:
    """An embryo transfer of hers, done or cancelled (its outcome: `pregnancy_outcome`)."""

    transfer_id: int
    transfer_date: dt.date
    cancelled: bool
    cancel_reason: str | None


@dataclass(frozen=True)
class SignatureView:
    """The investigator's electronic signature of her sign-off (21 CFR 11.50): printed name,
    date-time and meaning, shown wherever her signed data are shown; once unlocked, voided,
    with who voided it, when and why."""

    signed_by: str
    signer_name: str
    signed_at: dt.datetime
    meaning: str
    records_sha256: str
    voided_by: str | None = None
    voided_at: dt.datetime | None = None
    void_reason: str | None = None
    content_unchanged: bool | None = None
    """Whether her records still have the digest signed (checked on her own page only)."""

    @property
    def voided(self) -> bool:
        return self.voided_at is not None


@dataclass(frozen=True)
class RecordCounts:
    """How many records of each kind she has."""

    ultrasounds: int = 0
    medication_records: int = 0
    procedures: int = 0
    transfers: int = 0
    cancelled_transfers: int = 0
    adverse_events: int = 0
    serious_adverse_events: int = 0
    deviations: int = 0
    pending_queries: int = 0
    """Queries on her records not yet closed (they hold up her sign-off)."""


@dataclass(frozen=True)
class ParticipantSummary:
    participant_id: int
    study_id: str
    site_id: int
    site_code: str
    status: str
    arm: str | None
    enrolled_on: dt.date | None
    enrolment_number: int | None
    consents: tuple[ConsentView, ...]
    cycles: tuple[CycleView, ...]
    transfers: tuple[TransferView, ...]
    counts: RecordCounts
    locked: bool
    withdrawn: bool
    withdrawn_on: dt.date | None
    signature: SignatureView | None = None
    """The sign-off's signature (voided once unlocked); None if never signed."""

    @property
    def consented(self) -> bool:
        return bool(self.consents)


def participant_summary(study: Study, actor: Actor, participant_id: int) -> ParticipantSummary:
    """Her summary; another site's participant is not found."""
    participant_id = as_id(participant_id, "participant_id")
    with reading(study, actor, Operation.READ_PARTICIPANTS) as tx:
        return summary_of(tx.session, readable_participant(tx, participant_id))


def summary_of(
    session: Session,
    participant: Participant,
    digest: str | None = None,
    pending_queries: int | None = None,
) -> ParticipantSummary:
    """Her summary, her signature checked against her records' digest. A caller that has read
    her records and queries already gives their `digest` and her `pending_queries`."""
    pending = None if pending_queries is None else {participant.id: pending_queries}
    summary = summaries(session, [participant], pending)[0]
    signed = summary.signature
    if signed is None:
        return summary
    unchanged = (digest or records_digest(session, participant.id)) == signed.records_sha256
    return replace(summary, signature=replace(signed, content_unchanged=unchanged))


def participants(study: Study, actor: Actor) -> tuple[ParticipantSummary, ...]:
    """The summaries of every participant of the reader's sites, by study id."""
    with reading(study, actor, Operation.READ_PARTICIPANTS) as tx:
        rows = list(tx.session.scalars(her_participants(tx.ctx)))
        return tuple(summaries(tx.session, rows))


def summaries(
    session: Session, rows: Sequence[Participant], pending: Mapping[int, int] | None = None
) -> list[ParticipantSummary]:
    """The summaries of `rows`, read with one query per table whatever their number (each
    one's queries not yet closed counted here unless given as `pending`)."""
    ids = sorted({p.id for p in rows})
    if not ids:
        return []
    codes = dict(
        session.execute(
            select(Site.id, Site.code).where(Site.id.in_(sorted({p.site_id for p in rows})))
        ).all()
    )
    consents = _consents(session, ids)
    cycles = _cycles(session, ids)
    transfers = _transfers(session, ids)
    counts = _counts(session, ids, pending)
    locks = {
        lock.participant_id: lock
        for lock in session.scalars(
            select(ParticipantLock).where(ParticipantLock.participant_id.in_(ids))
        )
    }
    withdrawn = dict(
        session.execute(
            select(Withdrawal.participant_id, Withdrawal.withdrawn_on).where(
                Withdrawal.participant_id.in_(ids)
            )
        ).all()
    )
    return [
        ParticipantSummary(
            participant_id=p.id,
            study_id=p.study_id,
            site_id=p.site_id,
            site_code=codes.get(p.site_id, str(p.site_id)),
            status=p.status,
            arm=p.arm,
            enrolled_on=p.enrolled_on,
            enrolment_number=p.enrolment_number,
            consents=tuple(
                ConsentView(c.form_version, c.consent_date, c.taken_by) for c in consents[p.id]
            ),
            cycles=tuple(CycleView(c.kind, c.start_date) for c in cycles[p.id]),
            transfers=tuple(
                TransferView(t.id, t.transfer_date, t.cancelled, t.cancel_reason)
                for t in transfers[p.id]
            ),
            counts=counts.get(p.id, RecordCounts()),
            locked=p.id in locks and locks[p.id].locked,
            signature=_signature(locks.get(p.id)),
            withdrawn=p.status == WITHDRAWN or p.id in withdrawn,
            withdrawn_on=withdrawn.get(p.id),
        )
        for p in rows
    ]


def _count_query(ids: list[int]) -> CompoundSelect[Any]:
    """Each kind of record counted by participant, in one statement: (kind, participant id,
    count) rows, a kind she has none of absent."""
    transfer = EmbryoTransfer
    kinds: tuple[tuple[str, type[Any], ColumnElement[bool] | None], ...] = (
        ("ultrasounds", Ultrasound, None),
        ("medication_records", MedicationRecord, None),
        ("procedures", Procedure, None),
        ("adverse_events", AdverseEvent, None),
        ("serious_adverse_events", AdverseEvent, AdverseEvent.serious.is_(True)),
        ("deviations", ProtocolDeviation, None),
        ("transfers", transfer, or_(transfer.cancelled.is_(False), transfer.cancelled.is_(None))),
        ("cancelled_transfers", transfer, transfer.cancelled.is_(True)),
    )
    counted = []
    for name, model, only in kinds:
        query = select(literal(name), model.participant_id, func.count()).where(
            model.participant_id.in_(ids)
        )
        if only is not None:
            query = query.where(only)
        counted.append(query.group_by(model.participant_id))
    return union_all(*counted)


def _signature(lock: ParticipantLock | None) -> SignatureView | None:
    if lock is None or lock.signed_at is None:
        return None  # never signed (or locked before signatures were kept: revision 0007)
    return SignatureView(
        signed_by=str(lock.signed_by), signer_name=str(lock.signer_name),
        signed_at=lock.signed_at, meaning=str(lock.meaning),
        records_sha256=str(lock.records_sha256), voided_by=lock.voided_by,
        voided_at=lock.voided_at, void_reason=lock.void_reason,
    )  # fmt: skip


def _consents(session: Session, ids: list[int]) -> defaultdict[int, list[Consent]]:
    grouped: defaultdict[int, list[Consent]] = defaultdict(list)
    query = (
        select(Consent)
        .where(Consent.participant_id.in_(ids))
        .order_by(Consent.consent_date, Consent.id)
    )
    for row in session.scalars(query):
        grouped[row.participant_id].append(row)
    return grouped


def _cycles(session: Session, ids: list[int]) -> defaultdict[int, list[Cycle]]:
    grouped: defaultdict[int, list[Cycle]] = defaultdict(list)
    query = select(Cycle).where(Cycle.participant_id.in_(ids)).order_by(Cycle.start_date, Cycle.id)
    for row in session.scalars(query):
        grouped[row.participant_id].append(row)
    return grouped


def _transfers(session: Session, ids: list[int]) -> defaultdict[int, list[EmbryoTransfer]]:
    grouped: defaultdict[int, list[EmbryoTransfer]] = defaultdict(list)
    query = (
        select(EmbryoTransfer)
        .where(EmbryoTransfer.participant_id.in_(ids))
        .order_by(EmbryoTransfer.transfer_date, EmbryoTransfer.id)
    )
    for row in session.scalars(query):
        grouped[row.participant_id].append(row)
    return grouped


def _counts(
    session: Session, ids: list[int], pending: Mapping[int, int] | None
) -> dict[int, RecordCounts]:
    tally: defaultdict[int, Counter[str]] = defaultdict(Counter)
    for name, participant_id, count in session.execute(_count_query(ids)):
        if participant_id is not None:
            tally[participant_id][name] = count
    if pending is None:
        pending = pending_query_counts(session, ids)
    for participant_id, count in pending.items():
        if count:
            tally[participant_id]["pending_queries"] = count
    return {pid: RecordCounts(**counts) for pid, counts in tally.items()}
