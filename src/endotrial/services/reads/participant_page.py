"""Everything a participant's page shows, read in one transaction: her sign-in is checked once
and every part is of the same moment (a record saved meanwhile is in all parts or in none)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from endotrial.outcomes.pregnancy import PregnancyOutcome as DerivedOutcome
from endotrial.services._common import get_row, readable_participant
from endotrial.services._input import as_id
from endotrial.services.clinical import outcome_of
from endotrial.services.context import Actor, Study, reading
from endotrial.services.permissions import Operation, operations_of
from endotrial.services.reads._scope import checked_date
from endotrial.services.reads.participants import ParticipantSummary, summary_of
from endotrial.services.reads.queries import QueryView, queries_of
from endotrial.services.reads.records import RecordView, digest_of, records_with_history
from endotrial.services.reads.timeline import Timeline, timeline_of
from endotrial.store import EmbryoTransfer, QueryStatus


@dataclass(frozen=True)
class ParticipantPage:
    summary: ParticipantSummary
    timeline: Timeline
    queries: tuple[QueryView, ...]
    """The queries on her records, oldest first."""
    records: tuple[RecordView, ...]
    """Her records, each field with its history."""
    outcomes: dict[int, DerivedOutcome]
    """Each transfer's outcomes, by transfer id."""
    permitted: frozenset[Operation]
    """What the reader's role may do (the forms a page offers)."""


def participant_page(
    study: Study, actor: Actor, participant_id: int, *, on: dt.date | None = None
) -> ParticipantPage:
    """Her summary, timeline as of `on` (default: today at her site), queries, records with
    their history and transfer outcomes, and what the reader may do; another site's
    participant is not found. The reader needs every read this is made of."""
    participant_id = as_id(participant_id, "participant_id")
    wanted = checked_date(on)
    with reading(
        study, actor, Operation.READ_PARTICIPANTS, Operation.READ_QUERIES, Operation.READ_TRIAL_DATA
    ) as tx:
        participant = readable_participant(tx, participant_id)
        records = records_with_history(tx.session, participant_id)
        queries = queries_of(tx, participant_id=participant_id)
        pending = sum(q.status != QueryStatus.CLOSED for q in queries)
        summary = summary_of(tx.session, participant, digest_of(records), pending)
        return ParticipantPage(
            summary=summary,
            timeline=timeline_of(tx, participant, wanted),
            queries=queries,
            records=records,
            outcomes={
                t.transfer_id: outcome_of(tx, get_row(tx.session, EmbryoTransfer, t.transfer_id))
                for t in summary.transfers
            },
            permitted=operations_of(tx.ctx.role),
        )
