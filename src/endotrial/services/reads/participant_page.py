"""Everything a participant's page shows, read in one transaction: her sign-in is checked once
and every part is of the same moment (a record saved meanwhile is in all parts or in none)."""

from __future__ import annotations

import datetime as dt
import pickle
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import cast

from endotrial.outcomes.pregnancy import PregnancyOutcome as DerivedOutcome
from endotrial.protocol.models import Protocol
from endotrial.services._common import readable_participant
from endotrial.services._input import as_id
from endotrial.services.clinical import outcome_from
from endotrial.services.context import Actor, Study, Tx, protocol_sha256, reading
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
    Participant,
    PregnancyOutcome,
    QueryStatus,
    Site,
    TransferredEmbryo,
    trail_tip,
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
        # The tip first: whatever is read after it is at least as recent (PostgreSQL reads
        # each statement's latest commits), so a page is never kept under a later tip than
        # the data it shows.
        tip = trail_tip(tx.session)
        participant = readable_participant(tx, participant_id)
        site = tx.session.get_one(Site, participant.site_id)  # her day is read from it too
        day = wanted or tx.site_today(participant.site_id)
        key = (protocol_sha256(tx.protocol), participant_id, day)
        shown = RECENT_PAGES.get(tip, key)
        if shown is None:
            shown = _shown(tx, participant, site, day)
            RECENT_PAGES.put(tip, key, shown)
        return ParticipantPage(**vars(shown), permitted=operations_of(tx.ctx.role))


@dataclass(frozen=True)
class _Shown:
    """What her page shows of her: the same for every reader who may read her."""

    summary: ParticipantSummary
    timeline: Timeline
    queries: tuple[QueryView, ...]
    records: tuple[RecordView, ...]
    outcomes: dict[int, DerivedOutcome]


def _shown(tx: Tx, participant: Participant, site: Site, day: dt.date) -> _Shown:
    rows = her_rows(tx.session, participant.id)  # read once, shown by every part
    records = with_history(tx.session, views_of_rows(rows))
    queries = her_queries(tx.session, participant)
    pending = sum(q.status != QueryStatus.CLOSED for q in queries)
    digest = digest_of(records)
    return _Shown(
        summary=summary_from_rows(tx.session, participant, site, rows, digest, pending),
        timeline=build_timeline(tx.protocol, participant, records_from(rows), day),
        queries=queries,
        records=records,
        outcomes=_outcomes(tx.protocol, rows),
    )


class RecentPages:
    """Participants' pages as last read, each kept while the audit trail's tip stays where it
    was when it was read. Every change to anything a page shows (her records, their history,
    queries, her lock, her site) is an audited write, and every audited write moves the tip
    in its own transaction, whichever process made it: a page kept under the tip a reader
    reads now is the page she would read. A new tip forgets every page kept. Kept pickled
    (bytes): hundreds of pages' objects would make each full garbage collection longer."""

    def __init__(self, max_pages: int) -> None:
        self._lock = threading.Lock()
        self._tip: tuple[int, str] | None = None
        self._pages: OrderedDict[Hashable, bytes] = OrderedDict()
        self.max_pages = max_pages

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._tip = None

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, tip: tuple[int, str] | None, key: Hashable) -> _Shown | None:
        with self._lock:
            kept = self._pages.get(key) if tip is not None and tip == self._tip else None
            if kept is not None:
                self._pages.move_to_end(key)
        return None if kept is None else cast(_Shown, pickle.loads(kept))

    def put(self, tip: tuple[int, str] | None, key: Hashable, shown: _Shown) -> None:
        if tip is None or self.max_pages <= 0:
            return
        kept = pickle.dumps(shown, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if self._tip is not None and tip[0] < self._tip[0]:
                return  # read before a later write another reader has seen: not kept
            if tip != self._tip:
                self._pages.clear()
                self._tip = tip
            self._pages[key] = kept
            while len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)


#: One per process (a server's worker): 200 pages of about 20-60 KB each.
RECENT_PAGES = RecentPages(max_pages=200)


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
