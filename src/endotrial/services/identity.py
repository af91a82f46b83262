"""Identifying data, sealed: who a candidate or participant is, readable only by her site's team.

The candidate id a site gives (often a hospital record number), her birth date and the other
identifying items of the protocol, her name, national id and phone are sealed with her own key
(`store.identity`); the tables and the audit trail show her pseudonym and ciphertext only. Her
site's team reads them back; erasing them (a right PIPL gives her) destroys her key, is
audited, and leaves the trail whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.protocol.models import Protocol
from endotrial.services._common import (
    get_row,
    meaningful_reason,
    readable_participant,
    writable_participant,
)
from endotrial.services._input import RecordId, ServiceInput
from endotrial.services.context import Actor, Study, Tx, reading, writing
from endotrial.services.errors import RuleViolation
from endotrial.services.permissions import Operation
from endotrial.store import Participant, Person, PersonIdentity, Screening
from endotrial.store.identity import new_person_key, pseudonym, seal, unseal, unwrap_key, wrap_key
from endotrial.store.keys import TrialKeys, engine_keys
from endotrial.store.types import utc_now

#: The identity field holding the candidate id the site gave at screening.
CANDIDATE_REF = "candidate_ref"
Short = Annotated[str, Field(min_length=1, max_length=200)]


def identifying_items(protocol: Protocol) -> frozenset[str]:
    """The protocol's data items marked as identifying (they are sealed, never stored plain)."""
    return frozenset(item.name for item in protocol.data_items if item.identifying)


def tx_keys(tx: Tx) -> TrialKeys:
    bind = tx.session.get_bind()
    return engine_keys(bind if isinstance(bind, Engine) else bind.engine)


def person_for(tx: Tx, site_id: int, candidate_ref: str) -> tuple[Person, bytes]:
    """The person a site's candidate id names, with her key (made on her first screening; a
    new key if hers was destroyed by an erasure and she is screened again)."""
    keys = tx_keys(tx)
    name = pseudonym(keys, site_id, candidate_ref)
    person = tx.session.scalar(
        select(Person).where(Person.site_id == site_id, Person.pseudonym == name)
    )
    if person is None:
        person = Person(site_id=site_id, pseudonym=name)
        tx.session.add(person)
    if person.wrapped_key is None:
        key = new_person_key()
        person.wrapped_key = wrap_key(keys, name, key)
        person.erased_at, person.erased_by = None, None
        tx.session.flush()
        return person, key
    return person, unwrap_key(keys, name, person.wrapped_key)


def seal_values(tx: Tx, person: Person, key: bytes, values: Mapping[str, str]) -> None:
    """Store each value sealed with her key (replacing what was sealed under that field)."""
    current = {row.field: row for row in _sealed_rows(tx.session, person.id)}
    for field, value in values.items():
        sealed = seal(key, person.pseudonym, field, value)
        row = current.get(field)
        if row is None:
            tx.session.add(PersonIdentity(person_id=person.id, field=field, sealed_value=sealed))
        elif unseal(key, person.pseudonym, field, row.sealed_value) != value:
            row.sealed_value = sealed


def unsealed_values(session: Session, keys: TrialKeys, person_id: int | None) -> dict[str, str]:
    """Her identifying values in clear; empty once erased (or for a screening before 0004)."""
    person = session.get(Person, person_id) if person_id is not None else None
    if person is None or person.wrapped_key is None:
        return {}
    key = unwrap_key(keys, person.pseudonym, person.wrapped_key)
    return {
        row.field: unseal(key, person.pseudonym, row.field, row.sealed_value)
        for row in _sealed_rows(session, person.id)
    }


def shown_ref(session: Session, keys: TrialKeys, screening: Screening) -> str:
    """The candidate id as her site gave it (its pseudonym once her identity is erased)."""
    return unsealed_values(session, keys, screening.person_id).get(
        CANDIDATE_REF, screening.candidate_ref
    )


def _sealed_rows(session: Session, person_id: int) -> list[PersonIdentity]:
    return list(
        session.scalars(select(PersonIdentity).where(PersonIdentity.person_id == person_id))
    )


class IdentityInput(ServiceInput):
    """Who a participant is; a field left out keeps what is recorded."""

    participant_id: RecordId
    full_name: Short | None = None
    national_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    phone: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    hospital_record_number: Annotated[str, Field(min_length=1, max_length=64)] | None = None


@dataclass(frozen=True)
class IdentityView:
    participant_id: int
    values: dict[str, str]
    erased_at: dt.datetime | None


def record_identity(study: Study, actor: Actor, identity: IdentityInput) -> None:
    """Record (or correct) who a participant is, sealed with her key."""
    values = identity.model_dump(exclude={"participant_id"}, exclude_none=True)
    reason = "identity recorded or corrected at the site"
    with writing(study, actor, Operation.RECORD_IDENTITY, reason=reason) as tx:
        participant = writable_participant(tx, identity.participant_id)
        screening = _first_screening(tx.session, participant)
        if screening.site_id is None:
            raise RuleViolation("identity.no_person", study_id=participant.study_id)
        ref = shown_ref(tx.session, tx_keys(tx), screening)
        person, key = person_for(tx, screening.site_id, ref)
        _link(tx.session, participant, person)
        seal_values(tx, person, key, {k: str(v).strip() for k, v in values.items()})


def participant_identity(study: Study, actor: Actor, participant_id: int) -> IdentityView:
    """Who a participant is, for her site's team (never the statistician or safety board)."""
    with reading(study, actor, Operation.READ_IDENTITY) as tx:
        participant = readable_participant(tx, participant_id)
        screening = _first_screening(tx.session, participant)
        person = tx.session.get(Person, screening.person_id) if screening.person_id else None
        values = unsealed_values(tx.session, engine_keys(study.engine), screening.person_id)
        return IdentityView(participant.id, values, person.erased_at if person else None)


class ErasureInput(ServiceInput):
    participant_id: RecordId
    reason: str


def erase_identity(study: Study, actor: Actor, erasure: ErasureInput) -> None:
    """Erase who a participant is (her request under PIPL): her key is destroyed, so every value
    sealed with it, in the tables or the audit trail, can never be read again. Her trial data
    stay, under her study id; the erasure is audited with its reason."""
    why = meaningful_reason(erasure.reason, "erasing a participant's identity")
    with writing(study, actor, Operation.ERASE_IDENTITY, reason=f"identity erased: {why}") as tx:
        participant = writable_participant(tx, erasure.participant_id)
        people = [get_row(tx.session, Person, p) for p in _person_ids(tx.session, participant)]
        if not [p for p in people if p.wrapped_key is not None]:
            raise RuleViolation("identity.erased", study_id=participant.study_id)
        for person_id in _person_ids(tx.session, participant):
            person = get_row(tx.session, Person, person_id)
            for row in _sealed_rows(tx.session, person.id):
                tx.session.delete(row)
            person.wrapped_key = None
            person.erased_at = utc_now()
            person.erased_by = tx.ctx.username


def _first_screening(session: Session, participant: Participant) -> Screening:
    screening = session.scalars(
        select(Screening)
        .where(Screening.participant_id == participant.id)
        .order_by(Screening.screened_at, Screening.id)
    ).first()
    if screening is None:
        raise RuleViolation("identity.no_person", study_id=participant.study_id)
    return screening


def _person_ids(session: Session, participant: Participant) -> set[int]:
    query = select(Screening.person_id).where(
        Screening.participant_id == participant.id, Screening.person_id.is_not(None)
    )
    return {int(p) for p in session.scalars(query) if p is not None}


def _link(session: Session, participant: Participant, person: Person) -> None:
    for screening in session.scalars(
        select(Screening).where(Screening.participant_id == participant.id)
    ):
        if screening.person_id is None:
            screening.person_id = person.id
