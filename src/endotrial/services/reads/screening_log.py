"""The screening log (CONSORT): every candidate screened at the reader's sites, the decision and
its reasons. A candidate is shown by her pseudonym, never by the id the site gave or any other
sealed value (reading who she is is `participant_identity`, a separate permission)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from endotrial.protocol.models import Protocol
from endotrial.services._input import as_id
from endotrial.services.context import Actor, Study, reading
from endotrial.services.errors import InvalidInput
from endotrial.services.permissions import Operation
from endotrial.services.reads._scope import of_her_sites, site_codes
from endotrial.services.screening import eligible_arms
from endotrial.store import Participant, Screening, ScreeningDecision


@dataclass(frozen=True)
class CriterionReason:
    """A criterion that decided against her (`failed`) or could not be judged (`unknown`)."""

    criterion_id: str
    kind: str
    """'inclusion' or 'exclusion'."""
    text: str
    outcome: str
    """'failed' or 'unknown'."""
    arms: tuple[str, ...]
    """The arms it closes when it applies to some arms only (an iodine allergy)."""


@dataclass(frozen=True)
class ScreeningLogEntry:
    screening_id: int
    site_id: int | None
    site_code: str
    candidate: str
    """Her pseudonym at the site (a keyed hash): the same woman screened again has the same."""
    screened_on: dt.date | None
    """The screening date of the form (the reference date of its windows)."""
    screened_at: dt.datetime
    screened_by: str
    decision: ScreeningDecision
    reasons: tuple[CriterionReason, ...]
    eligible_arms: tuple[str, ...]
    study_id: str | None
    """The study id she received once she consented, if she did."""


def screening_log(
    study: Study,
    actor: Actor,
    *,
    decision: ScreeningDecision | None = None,
    screening_id: int | None = None,
) -> tuple[ScreeningLogEntry, ...]:
    """Every screening of the reader's sites, in the order done; optionally of one decision,
    or only the one screening `screening_id` (none if it is not of her sites)."""
    wanted = _decision(decision)
    one = None if screening_id is None else as_id(screening_id, "screening_id")
    with reading(study, actor, Operation.READ_SCREENING_LOG) as tx:
        codes = site_codes(tx.session, tx.ctx)
        query = (
            select(Screening, Participant.study_id)
            .outerjoin(Participant, Participant.id == Screening.participant_id)
            .where(of_her_sites(Screening.site_id, tx.ctx))
            .order_by(Screening.screened_at, Screening.id)
        )
        if tx.ctx.site_ids is not None:
            query = query.where(Screening.site_id.is_not(None))
        if wanted is not None:
            query = query.where(Screening.decision == wanted)
        if one is not None:
            query = query.where(Screening.id == one)
        return tuple(
            _entry(tx.protocol, screening, study_id, codes)
            for screening, study_id in tx.session.execute(query)
        )


def _decision(decision: object) -> ScreeningDecision | None:
    if decision is None:
        return None
    try:
        return ScreeningDecision(str(decision))
    except ValueError:
        known = [d.value for d in ScreeningDecision]
        raise InvalidInput(
            "input.invalid", field="decision", what="decision", problems=f"use one of {known}"
        ) from None


def _entry(
    protocol: Protocol, screening: Screening, study_id: str | None, codes: dict[int, str]
) -> ScreeningLogEntry:
    site_id = screening.site_id
    return ScreeningLogEntry(
        screening_id=screening.id,
        site_id=site_id,
        site_code=codes.get(site_id, "(none)") if site_id is not None else "(none)",
        candidate=screening.candidate_ref,
        screened_on=_screened_on(screening.item_values.get("screening_date")),
        screened_at=screening.screened_at,
        screened_by=screening.screened_by,
        decision=screening.decision,
        reasons=(
            *_reasons(protocol, screening.failed_criteria, "failed"),
            *_reasons(protocol, screening.unknown_criteria, "unknown"),
        ),
        eligible_arms=eligible_arms(protocol, screening),
        study_id=study_id,
    )


def _reasons(protocol: Protocol, ids: list[str], outcome: str) -> tuple[CriterionReason, ...]:
    criteria = {c.id: c for c in protocol.criteria}
    reasons = []
    for criterion_id in ids:
        criterion = criteria.get(criterion_id)
        reasons.append(
            CriterionReason(
                criterion_id=criterion_id,
                kind=criterion.kind if criterion is not None else "unknown",
                text=criterion.text if criterion is not None else "(not in this protocol)",
                outcome=outcome,
                arms=tuple(criterion.arms or ()) if criterion is not None else (),
            )
        )
    return tuple(reasons)


def _screened_on(value: object) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)) if value is not None else None
    except ValueError:
        return None
