"""Screening: every candidate screened is kept (the screening log), eligible or not."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.eligibility import screen_table
from endotrial.errors import InputError
from endotrial.protocol.models import Protocol
from endotrial.services._common import check_site, writable_participant
from endotrial.services.permissions import Operation, authorize
from endotrial.store import Screening, ScreeningDecision, unit_of_work
from endotrial.store.types import utc_now


@dataclass(frozen=True)
class CandidateInput:
    """One candidate's screening items (names as in the protocol's data items)."""

    candidate_ref: str
    items: Mapping[str, object]
    site_id: int | None = None


@dataclass(frozen=True)
class ScreeningRecord:
    screening_id: int
    candidate_ref: str
    decision: ScreeningDecision
    failed_criteria: tuple[str, ...]
    unknown_criteria: tuple[str, ...]
    eligible_arms: tuple[str, ...]


def screen(
    engine: Engine, protocol: Protocol, candidate: CandidateInput, *, user: str
) -> ScreeningRecord:
    """Screen one candidate and store the result in the screening log."""
    return screen_many(engine, protocol, [candidate], user=user)[0]


def screen_many(
    engine: Engine,
    protocol: Protocol,
    candidates: Sequence[CandidateInput],
    *,
    user: str,
    today: dt.date | None = None,
) -> list[ScreeningRecord]:
    """Screen candidates in one run of the eligibility engine and log all of them together.

    A candidate whose values cannot be read (e.g. a text where a number belongs) is refused
    with the field named, and nothing is stored.
    """
    if not candidates:
        return []
    rows = _screened_rows(protocol, candidates, today)
    screened_at = utc_now()
    with unit_of_work(engine, user=user) as session:
        authorize(session, user, Operation.SCREEN)
        records = []
        for candidate, row in zip(candidates, rows, strict=True):
            check_site(session, candidate.site_id, f"candidate {candidate.candidate_ref}")
            screening = _screening_row(protocol, candidate, row, screened_at, user)
            screening.participant_id = _consented_as(session, candidate.candidate_ref)
            session.add(screening)
            records.append(screening)
        session.flush()
        return [_record(protocol, s) for s in records]


def _consented_as(session: Session, candidate_ref: str) -> int | None:
    """The participant a candidate already became (by consenting), so that a re-screening
    joins her record: enrolment and allocation then read it."""
    query = select(Screening.participant_id).where(
        Screening.candidate_ref == candidate_ref, Screening.participant_id.is_not(None)
    )
    participant_id = session.scalars(query).first()
    if participant_id is not None:
        writable_participant(session, participant_id)  # her signed-off data stay as they are
    return participant_id


def eligible_arms(protocol: Protocol, screening: Screening) -> tuple[str, ...]:
    """The arms open to a screened candidate (none when ineligible).

    Screenings stored before the eligible_arms column existed derive them: all arms minus
    those an arm-specific criterion among the failed criteria (e.g. IODINE) rules out.
    """
    if screening.decision is ScreeningDecision.INELIGIBLE:
        return ()
    if screening.eligible_arms is not None:
        return tuple(screening.eligible_arms)
    failed = set(screening.failed_criteria)
    closed = {a for c in protocol.criteria if c.id in failed and c.arms for a in c.arms}
    return tuple(a.id for a in protocol.arms if a.id not in closed)


def _screened_rows(
    protocol: Protocol, candidates: Sequence[CandidateInput], today: dt.date | None
) -> list[dict[str, Any]]:
    table = pa.Table.from_pylist([{**c.items, "candidate_id": c.candidate_ref} for c in candidates])
    rows = screen_table(protocol, table, label="screening form", today=today).rows()
    for candidate, row in zip(candidates, rows, strict=True):
        if row["decision"] == "invalid" or row["errors"]:
            problems = "; ".join(row["errors"])
            raise InputError(
                f"candidate {candidate.candidate_ref}: {problems}; correct these items and "
                "screen again (nothing was stored)"
            )
    return rows


def _screening_row(
    protocol: Protocol,
    candidate: CandidateInput,
    row: Mapping[str, Any],
    screened_at: dt.datetime,
    user: str,
) -> Screening:
    arm_failed, open_arms = [], []
    if row["decision"] != "ineligible":  # an ineligible candidate has no open arm at all
        open_arms = list(row["eligible_arms"])
        arm_failed = _arm_specific_failed(protocol, open_arms)
    return Screening(
        candidate_ref=candidate.candidate_ref,
        site_id=candidate.site_id,
        item_values=_jsonable(candidate.items),
        decision=ScreeningDecision(row["decision"]),
        failed_criteria=[*row["failed_criteria"], *arm_failed],
        unknown_criteria=list(row["unknown_criteria"]),
        eligible_arms=open_arms,
        screened_at=screened_at,
        screened_by=user,
    )


def _arm_specific_failed(protocol: Protocol, open_arms: Sequence[str]) -> list[str]:
    """Arm-specific criteria that closed every arm they apply to (listed with the failed
    criteria, so the screening log says why an arm is closed)."""
    return [c.id for c in protocol.criteria if c.arms and not set(c.arms) & set(open_arms)]


def _jsonable(items: Mapping[str, object]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in items.items()}


def _record(protocol: Protocol, screening: Screening) -> ScreeningRecord:
    return ScreeningRecord(
        screening_id=screening.id,
        candidate_ref=screening.candidate_ref,
        decision=screening.decision,
        failed_criteria=tuple(screening.failed_criteria),
        unknown_criteria=tuple(screening.unknown_criteria),
        eligible_arms=eligible_arms(protocol, screening),
    )
