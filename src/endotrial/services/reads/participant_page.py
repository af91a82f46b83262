"""Everything a participant's page shows, read in one transaction: her sign-in is checked once
and every part is of the same moment (a record saved meanwhile is in all parts or in none)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from endotrial.outcomes.pregnancy import PregnancyOutcome as DerivedOutcome
from endotrial.protocol.models import Protocol
from endotrial.services._common import readable_participant
from endotrial.services._input import as_id
from endotrial.services.clinical import outcome_from
from endotrial.services.context import Actor, Study, reading
from endotrial.services.permissions import Operation, operations_of
from endotrial.services.reads._records import records_from
from endotrial.services.reads._scope import checked_date
from endotrial.services.reads.participants import ParticipantSummary, summary_from_rows
from endotrial.services.reads.queries import QueryView, her_queries
from endotrial.services.reads.records import (
    RecordView,
    digest_of,
    her_rows,
    views_of_rows,
    with_history,
)
from endotrial.services.reads.timeline import Timeline, build_timeline
from endotrial.store import (
    Audited,
    EmbryoTransfer,
    PregnancyOutcome,
    QueryStatus,
    Site,
    TransferredEmbryo,
)


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
        site = tx.session.get_one(Site, participant.site_id)  # her day is read from it too
        rows = her_rows(tx.session, participant_id)  # read once, shown by every part
        records = with_history(tx.session, views_of_rows(rows))
        queries = her_queries(tx.session, participant)
        pending = sum(q.status != QueryStatus.CLOSED for q in queries)
        digest = digest_of(records)
        summary = summary_from_rows(tx.session, participant, site, rows, digest, pending)
        day = wanted or tx.site_today(participant.site_id)
        return ParticipantPage(
            summary=summary,
            timeline=build_timeline(tx.protocol, participant, records_from(rows), day),
            queries=queries,
            records=records,
            outcomes=_outcomes(tx.protocol, rows),
            permitted=operations_of(tx.ctx.role),
        )


def _outcomes(protocol: Protocol, rows: tuple[Audited, ...]) -> dict[int, DerivedOutcome]:
    """Each transfer's outcomes, derived from her rows (as `clinical.outcome_of` does)."""
    stored = {r.transfer_id: r for r in rows if isinstance(r, PregnancyOutcome)}
    embryos: defaultdict[int, list[TransferredEmbryo]] = defaultdict(list)
    for row in rows:
        if isinstance(row, TransferredEmbryo):
            embryos[row.transfer_id].append(row)
    return {
        t.id: outcome_from(protocol, t, stored.get(t.id), embryos[t.id])
        for t in rows
        if isinstance(t, EmbryoTransfer)
    }
