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
    Audited,
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
    return _signature_checked(session, summary, digest)


def summary_from_rows(
    session: Session,
    participant: Participant,
    site: Site,
    rows: Sequence[Audited],
    digest: str,
    pending_queries: int,
) -> ParticipantSummary:
    """Her summary from her site and her rows already read (`records.her_rows`), as
    `summary_of` reads it: only her lock is read here."""
    lock = session.scalar(
        select(ParticipantLock).where(ParticipantLock.participant_id == participant.id)
    )
    withdrawal = next((r for r in rows if isinstance(r, Withdrawal)), None)
    parts = _Parts(
        consents=_sorted(rows, Consent, "consent_date"),
        cycles=_sorted(rows, Cycle, "start_date"),
        transfers=_sorted(rows, EmbryoTransfer, "transfer_date"),
        counts=_counted(rows, pending_queries),
        lock=lock,
        withdrawn=withdrawal is not None,
        withdrawn_on=None if withdrawal is None else withdrawal.withdrawn_on,
    )
    summary = _summary(participant, site.code, parts)
    return _signature_checked(session, summary, digest)


def _signature_checked(
    session: Session, summary: ParticipantSummary, digest: str | None
) -> ParticipantSummary:
    signed = summary.signature
    if signed is None:
        return summary
    unchanged = (digest or records_digest(session, summary.participant_id)) == signed.records_sha256
    return replace(summary, signature=replace(signed, content_unchanged=unchanged))


def participants(study: Study, actor: Actor) -> tuple[ParticipantSummary, ...]:
    """The summaries of every participant of the reader's sites, by study id."""
    with reading(study, actor, Operation.READ_PARTICIPANTS) as tx:
        rows = list(tx.session.scalars(her_participants(tx.ctx)))
        return tuple(summaries(tx.session, rows))


@dataclass(frozen=True)
class _Parts:
    """What one participant's summary is made of, however it was read."""

    consents: Sequence[Consent] = ()
    cycles: Sequence[Cycle] = ()
    transfers: Sequence[EmbryoTransfer] = ()
    counts: RecordCounts = RecordCounts()
    lock: ParticipantLock | None = None
    withdrawn: bool = False
    """A withdrawal is recorded."""
    withdrawn_on: dt.date | None = None


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
        _summary(p, codes.get(p.site_id, str(p.site_id)), _Parts(
            consents=consents[p.id], cycles=cycles[p.id], transfers=transfers[p.id],
            counts=counts.get(p.id, RecordCounts()), lock=locks.get(p.id),
            withdrawn=p.id in withdrawn, withdrawn_on=withdrawn.get(p.id),
        ))
        for p in rows
    ]  # fmt: skip


def _summary(p: Participant, site_code: str, parts: _Parts) -> ParticipantSummary:
    return ParticipantSummary(
        participant_id=p.id,
        study_id=p.study_id,
        site_id=p.site_id,
        site_code=site_code,
        status=p.status,
        arm=p.arm,
        enrolled_on=p.enrolled_on,
        enrolment_number=p.enrolment_number,
        consents=tuple(
            ConsentView(c.form_version, c.consent_date, c.taken_by) for c in parts.consents
        ),
        cycles=tuple(CycleView(c.kind, c.start_date) for c in parts.cycles),
        transfers=tuple(
            TransferView(t.id, t.transfer_date, t.cancelled, t.cancel_reason)
            for t in parts.transfers
        ),
        counts=parts.counts,
        locked=parts.lock is not None and parts.lock.locked,
        signature=_signature(parts.lock),
        withdrawn=p.status == WITHDRAWN or parts.withdrawn,
        withdrawn_on=parts.withdrawn_on,
    )


def _sorted(rows: Sequence[Audited], model: type[Any], date: str) -> list[Any]:
    """Her rows of `model` by `date`, then id (as the summaries' queries order them)."""
    return sorted((r for r in rows if isinstance(r, model)), key=lambda r: (getattr(r, date), r.id))


def _counted(rows: Sequence[Audited], pending_queries: int) -> RecordCounts:
    """Her records counted as `_count_query` counts them."""
    kinds: Counter[str] = Counter()
    for row in rows:
        if isinstance(row, AdverseEvent):
            kinds["adverse_events"] += 1
            kinds["serious_adverse_events"] += row.serious is True
        elif isinstance(row, EmbryoTransfer):
            kinds["cancelled_transfers" if row.cancelled is True else "transfers"] += 1
        elif isinstance(row, ProtocolDeviation):
            kinds["deviations"] += 1
        elif isinstance(row, Ultrasound | MedicationRecord | Procedure):
            kinds[row.__tablename__] += 1
    return RecordCounts(**kinds, pending_queries=pending_queries)


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
