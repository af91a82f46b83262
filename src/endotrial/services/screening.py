"""Screening: every candidate screened is kept (the screening log), eligible or not.

A candidate id belongs to its site: SC-888 at one hospital is not SC-888 at another, so every
look-up of a candidate's screenings and participant is by site and id together.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import pyarrow as pa
from pydantic import AfterValidator, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from endotrial.eligibility import screen_table
from endotrial.eligibility.engine import derived_values
from endotrial.eligibility.plan import build_plan
from endotrial.errors import InputError
from endotrial.protocol.models import Protocol
from endotrial.services._common import open_edit_query, own_site, writable_participant
from endotrial.services._input import RecordId, ServiceInput, clean_text
from endotrial.services.context import Actor, Study, Tx, reading, writing
from endotrial.services.errors import InvalidInput
from endotrial.services.identity import (
    CANDIDATE_REF,
    identifying_items,
    person_for,
    seal_values,
)
from endotrial.services.permissions import Operation
from endotrial.store import Person, Screening, ScreeningDecision
from endotrial.store.types import utc_now

#: A screening item's value: what a form, a CSV cell or a JSON body can hold.
ItemValue = (
    Annotated[str, Field(max_length=1000), AfterValidator(clean_text)]
    | bool
    | Annotated[int, Field(ge=-(2**53), le=2**53)]
    | float
    | dt.date
    | None
)
Items = dict[str, ItemValue]


def _candidate_id(text: str) -> str:
    """One spelling per candidate id, so one woman cannot be screened (and enrolled) twice as
    'sc-1', 'SC-1' and 'SC‑1' with a non-breaking hyphen or an invisible character: the text
    is normalised (NFKC, every dash a '-', upper case) and must then be letters, digits and
    ' . _ / -', starting with a letter or a digit."""
    normal = unicodedata.normalize("NFKC", text)
    normal = "".join("-" if unicodedata.category(c) == "Pd" else c for c in normal).strip()
    if not _CANDIDATE_ID.fullmatch(normal):
        raise ValueError(
            "must be letters (A-Z), digits and . _ / - (no spaces at the ends, no invisible "
            "or control characters), starting with a letter or digit"
        )
    return normal.upper()


_CANDIDATE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}")


class CandidateInput(ServiceInput):
    """One candidate's screening items (names as in the protocol's data items). `site_id` may
    be left out by a team member of one site (her site is meant)."""

    candidate_ref: Annotated[str, Field(max_length=200), AfterValidator(_candidate_id)]
    items: Annotated[Items, Field(max_length=500)]
    site_id: RecordId | None = None


@dataclass(frozen=True)
class ScreeningRecord:
    screening_id: int
    candidate_ref: str
    site_id: int
    decision: ScreeningDecision
    failed_criteria: tuple[str, ...]
    unknown_criteria: tuple[str, ...]
    eligible_arms: tuple[str, ...]


def screen(study: Study, actor: Actor, candidate: CandidateInput) -> ScreeningRecord:
    """Screen one candidate and store the result in the screening log."""
    return screen_many(study, actor, [candidate])[0]


def screen_many(
    study: Study, actor: Actor, candidates: Sequence[CandidateInput]
) -> list[ScreeningRecord]:
    """Screen candidates in one run of the eligibility engine and log all of them together.

    A candidate with an item the protocol does not know (a misspelt name would otherwise be
    dropped and read as "not recorded"), or whose values cannot be read, is refused with the
    item named, and nothing is stored.
    """
    if not candidates:
        return []
    for candidate in candidates:
        if not isinstance(candidate, CandidateInput):
            raise InvalidInput(
                "input.wrong_type", what="a candidate", expected="CandidateInput",
                given=type(candidate).__name__,
            )  # fmt: skip
        _check_item_names(study.protocol, candidate)
    rows = _screened_rows(study.protocol, candidates, _screening_days(study, actor, candidates))
    screened_at = utc_now()
    reason = "screening: identifying values as given at this screening"
    with writing(study, actor, Operation.SCREEN, reason=reason) as tx:
        records = []
        for candidate, row in zip(candidates, rows, strict=True):
            site_id = _candidate_site(tx, candidate)
            person, key = person_for(tx, site_id, candidate.candidate_ref)
            seal_values(tx, person, key, _identifying(tx.protocol, candidate))
            earlier = candidate_screenings(tx.session, site_id, person.pseudonym)
            screening = _screening_row(tx, candidate, person, row, screened_at)
            screening.participant_id = _consented_as(tx, site_id, person.pseudonym)
            tx.session.add(screening)
            _check_reversals(tx, earlier, screening)
            records.append((screening, candidate.candidate_ref))
        tx.session.flush()
        return [screening_record(study.protocol, s, shown=ref) for s, ref in records]


def _check_reversals(tx: Tx, earlier: Sequence[Screening], screening: Screening) -> None:
    """An arm-specific criterion that failed at an earlier screening and passes now (an
    allergy recorded, then not) opens the arm it guarded: confirm it from the source."""
    arm_criteria = {c.id for c in tx.protocol.criteria if c.arms}
    before = {c for s in earlier for c in s.failed_criteria if c in arm_criteria}
    reversed_ = sorted(before - set(screening.failed_criteria) - set(screening.unknown_criteria))
    if reversed_:
        text = (
            f"{', '.join(reversed_)} failed at an earlier screening of this candidate and "
            "passes now, which opens an arm it had closed: confirm the new value from the "
            "source document"
        )
        open_edit_query(tx.session, screening, "item_values", text, "reversed_arm_criterion")


def _check_item_names(protocol: Protocol, candidate: CandidateInput) -> None:
    known = [item.name for item in protocol.data_items]
    unknown = sorted(set(candidate.items) - set(known))
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], known, n=1, cutoff=0.75)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise InvalidInput(
        "input.unknown_items",
        field=f"items.{unknown[0]}",
        candidate=candidate.candidate_ref,
        items=unknown,
        protocol=protocol.protocol_id,
        hint=hint,
    )


def _candidate_site(tx: Tx, candidate: CandidateInput) -> int:
    """The site the candidate is screened at: the one given, else the screener's own; central
    staff, and a member of several sites, say which. A site she does not work at is refused."""
    return own_site(tx, candidate.site_id, f"candidate {candidate.candidate_ref}")


def candidate_screenings(
    session: Session, site_id: int | None, candidate_ref: str
) -> list[Screening]:
    """The candidate's screenings at her site, oldest first."""
    site = Screening.site_id.is_(None) if site_id is None else Screening.site_id == site_id
    query = select(Screening).where(site, Screening.candidate_ref == candidate_ref)
    return list(session.scalars(query.order_by(Screening.screened_at, Screening.id)))


def _consented_as(tx: Tx, site_id: int, person_pseudonym: str) -> int | None:
    """The participant this site's candidate already became (by consenting), so that a
    re-screening joins her record: enrolment and allocation then read it."""
    for screening in candidate_screenings(tx.session, site_id, person_pseudonym):
        if screening.participant_id is not None:
            writable_participant(tx, screening.participant_id)  # signed-off data stay as they are
            return screening.participant_id
    return None


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


def _screening_days(
    study: Study, actor: Actor, candidates: Sequence[CandidateInput]
) -> list[dt.date]:
    """Today at each candidate's screening site (its time zone), which the criteria's dates
    are checked against (a screening date after it is in the future). Read before the
    write, so the engine does not run under the write lock; the sites are checked again in
    the write."""
    with reading(study, actor, Operation.SCREEN) as tx:
        days = {site: tx.site_today(site) for site in {_candidate_site(tx, c) for c in candidates}}
        return [days[_candidate_site(tx, c)] for c in candidates]


def _screened_rows(
    protocol: Protocol, candidates: Sequence[CandidateInput], days: Sequence[dt.date]
) -> list[dict[str, Any]]:
    """The engine's row for each candidate, screened as of her site's day (one run per day)."""
    rows: list[dict[str, Any]] = [{} for _ in candidates]
    for day in sorted(set(days)):
        indexes = [i for i, on in enumerate(days) if on == day]
        table = pa.Table.from_pylist(
            [{**candidates[i].items, "candidate_id": candidates[i].candidate_ref} for i in indexes]
        )
        try:
            screened = screen_table(protocol, table, label="screening form", today=day).rows()
        except InputError as error:
            raise InvalidInput("input.invalid", what="candidates", problems=str(error)) from None
        for index, row in zip(indexes, screened, strict=True):
            rows[index] = row
    for candidate, row in zip(candidates, rows, strict=True):
        if row["decision"] == "invalid" or row["errors"]:
            raise InvalidInput(
                "input.candidate_values",
                candidate=candidate.candidate_ref,
                problems="; ".join(row["errors"]),
            )
    return rows


def _identifying(protocol: Protocol, candidate: CandidateInput) -> dict[str, str]:
    """What is sealed rather than stored: the candidate id as given, and her identifying items."""
    sealed = {CANDIDATE_REF: candidate.candidate_ref}
    for name in identifying_items(protocol):
        value = candidate.items.get(name)
        if value is not None:
            sealed[name] = value.isoformat() if isinstance(value, dt.date) else str(value)
    return sealed


def _kept_values(protocol: Protocol, items: Mapping[str, object]) -> dict[str, Any]:
    """The items stored with the screening: the identifying ones left out, and in their place
    what derives from them (her age, not her birth date)."""
    hidden = identifying_items(protocol)
    kept = {k: v for k, v in items.items() if k not in hidden}
    if hidden & {k for k, v in items.items() if v is not None}:
        plan = build_plan(protocol)
        for name, value in derived_values(protocol, items).items():
            if kept.get(name) is None and hidden & set(plan.inputs_of(name)):
                kept[name] = value
    return _jsonable(kept)


def _screening_row(
    tx: Tx,
    candidate: CandidateInput,
    person: Person,
    row: Mapping[str, Any],
    screened_at: dt.datetime,
) -> Screening:
    arm_failed: list[str] = []
    arm_unknown: list[str] = []
    open_arms: list[str] = []
    if row["decision"] != "ineligible":  # an ineligible candidate has no open arm at all
        open_arms = list(row["eligible_arms"])
        arm_failed, arm_unknown = _arm_criteria_closing(tx.protocol, open_arms, candidate.items)
    return Screening(
        candidate_ref=person.pseudonym,
        site_id=person.site_id,
        person_id=person.id,
        item_values=_kept_values(tx.protocol, candidate.items),
        decision=ScreeningDecision(row["decision"]),
        failed_criteria=[*row["failed_criteria"], *arm_failed],
        unknown_criteria=[*row["unknown_criteria"], *arm_unknown],
        eligible_arms=open_arms,
        screened_at=screened_at,
        screened_by=tx.ctx.username,
    )


def _arm_criteria_closing(
    protocol: Protocol, open_arms: Sequence[str], items: Mapping[str, object]
) -> tuple[list[str], list[str]]:
    """Arm-specific criteria that closed every arm they apply to, as (failed, unknown): an
    arm stays closed while an item its criterion reads is not recorded, so the screening log
    says why an arm is closed and what would open it."""
    plan = build_plan(protocol)
    failed: list[str] = []
    unknown: list[str] = []
    for criterion in plan.arm_specific:
        if set(criterion.arms) & set(open_arms):
            continue
        read = {n for i in criterion.expression.items for n in (i, *plan.inputs_of(i))}
        recorded = all(_given(items.get(i)) for i in criterion.expression.items) or any(
            _given(items.get(i)) for i in read - set(criterion.expression.items)
        )
        (failed if recorded else unknown).append(criterion.id)
    return failed, unknown


def _given(value: object) -> bool:
    """A value was recorded: not missing, not blank text (which the engine reads as missing)."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def _jsonable(items: Mapping[str, object]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in items.items()}


def screening_record(
    protocol: Protocol, screening: Screening, *, shown: str | None = None
) -> ScreeningRecord:
    """The record as the site sees it (`shown`: the candidate id it gave)."""
    return ScreeningRecord(
        screening_id=screening.id,
        candidate_ref=shown or screening.candidate_ref,
        site_id=screening.site_id or 0,
        decision=screening.decision,
        failed_criteria=tuple(screening.failed_criteria),
        unknown_criteria=tuple(screening.unknown_criteria),
        eligible_arms=eligible_arms(protocol, screening),
    )
