"""Issue 10: a participant's page is kept, per process, while the audit trail's tip stays where
it was (services.reads.participant_page.RecentPages). Whatever changes what a page shows is an
audited write and moves the tip, whichever process or engine wrote it: the page read next is
read again. A reader who may not read her is refused before anything kept is looked at."""

import datetime as dt
from collections.abc import Iterator

import pytest
from services_helpers import (
    COORDINATOR,
    DAY_10,
    MONITOR,
    Trial,
    allocated,
    counting_statements,
    refused,
    set_up_trial,
)
from sqlalchemy import Engine
from two_sites import add_site_b

from endotrial.protocol import Protocol
from endotrial.services import (
    AdverseEventInput,
    NotFoundError,
    QueryInput,
    Study,
    open_query,
    participant_page,
    participant_records,
    participant_summary,
    report_adverse_event,
)
from endotrial.services.reads.participant_page import RECENT_PAGES, RecentPages
from endotrial.store import make_engine

#: A page kept: sign-in (3), the trail's tip (1), she may be read (1), her site (1).
KEPT_PAGE_STATEMENTS = 6
#: A page read: those, her tables (14), her fields' history, her queries and her lock.
READ_PAGE_STATEMENTS = 23


@pytest.fixture(autouse=True)
def nothing_kept() -> Iterator[None]:
    RECENT_PAGES.clear()
    yield
    RECENT_PAGES.clear()


def _hematoma(pid: int) -> AdverseEventInput:
    return AdverseEventInput(
        participant_id=pid, term="Hematoma", ctcae_grade=1, serious=False, onset_date=DAY_10
    )


def _other_process(trial: Trial) -> tuple[Engine, Study]:
    """Another engine on the same database, as another server process has."""
    engine = make_engine(trial.engine.url.render_as_string(hide_password=False))
    return engine, Study(engine, trial.protocol)


def test_a_page_read_again_unchanged_is_the_one_kept(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    coordinator = trial.actor(COORDINATOR)
    participant_page(trial.study, coordinator, pid)  # the protocol check, once per engine
    RECENT_PAGES.clear()
    with counting_statements(engine) as sent:
        first = participant_page(trial.study, coordinator, pid)
        read = sent()
    with counting_statements(engine) as sent:
        again = participant_page(trial.study, coordinator, pid)
        kept = sent()
    assert (read, kept) == (READ_PAGE_STATEMENTS, KEPT_PAGE_STATEMENTS)
    assert again == first and again is not first
    assert again.records == participant_records(trial.study, coordinator, pid)


def test_a_write_by_another_process_is_on_the_next_page(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid, other_pid = allocated(trial, "c1", "hbmsc"), allocated(trial, "c2", "control")
    coordinator = trial.actor(COORDINATOR)
    before = participant_page(trial.study, coordinator, pid)
    other_engine, other_study = _other_process(trial)
    try:
        report_adverse_event(other_study, coordinator, _hematoma(pid))
        after = participant_page(trial.study, coordinator, pid)
        assert after.summary.counts.adverse_events == before.summary.counts.adverse_events + 1
        assert any(r.entity == "adverse_events" for r in after.records)
        # Another participant's change moves the tip too: read again, the same page.
        report_adverse_event(other_study, coordinator, _hematoma(other_pid))
        with counting_statements(engine) as sent:
            assert participant_page(trial.study, coordinator, pid) == after
            assert sent() == READ_PAGE_STATEMENTS
    finally:
        other_engine.dispose()
    assert after.summary == participant_summary(trial.study, coordinator, pid)


def test_a_query_raised_is_on_the_next_page(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    monitor = trial.actor(MONITOR)
    assert participant_page(trial.study, monitor, pid).queries == ()
    question = QueryInput(entity="participants", row_id=pid, field="status", text="source?")
    open_query(trial.study, monitor, question)
    shown = participant_page(trial.study, monitor, pid)
    assert [q.text for q in shown.queries] == ["source?"]
    assert shown.summary.counts.pending_queries == 1


def test_each_reader_gets_her_own_permissions_and_another_site_is_refused(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    site_b = add_site_b(trial)
    coordinator, monitor = trial.actor(COORDINATOR), trial.actor(MONITOR)
    as_coordinator = participant_page(trial.study, coordinator, pid)
    as_monitor = participant_page(trial.study, monitor, pid)  # kept: the coordinator read it
    assert len(RECENT_PAGES) == 1
    assert as_monitor.records == as_coordinator.records
    assert as_monitor.permitted != as_coordinator.permitted
    for reader in (site_b.coordinator, site_b.monitor):
        with refused("record.not_found", kind=NotFoundError):
            participant_page(trial.study, reader, pid)


def test_her_timeline_is_kept_for_its_day(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = allocated(trial, "c1", "hbmsc")
    coordinator = trial.actor(COORDINATOR)
    early, late = dt.date(2026, 1, 10), dt.date(2026, 6, 1)
    first = participant_page(trial.study, coordinator, pid, on=early)
    second = participant_page(trial.study, coordinator, pid, on=late)
    assert (first.timeline.on, second.timeline.on) == (early, late)
    assert participant_page(trial.study, coordinator, pid, on=early) == first


def test_the_kept_pages_are_bounded_and_an_older_tip_does_not_replace_a_newer() -> None:
    pages = RecentPages(max_pages=2)
    shown = {"a page": 1}  # any picklable value stands for one
    for number in range(3):
        pages.put((5, "tip"), number, shown)  # type: ignore[arg-type]
    assert len(pages) == 2 and pages.get((5, "tip"), 0) is None
    assert pages.get((5, "tip"), 2) is not None
    pages.put((4, "older"), 9, shown)  # type: ignore[arg-type]
    assert pages.get((4, "older"), 9) is None and pages.get((5, "tip"), 2) is not None
    pages.put((6, "newer"), 1, shown)  # type: ignore[arg-type]
    assert len(pages) == 1 and pages.get((5, "tip"), 2) is None
    assert pages.get(None, 1) is None
