"""The synthetic run: built through the services, audited, reproducible from its seed."""

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from endotrial.demo import DemoSummary, build_demo, create_demo, data_cutoff, render_summary
from endotrial.demo.run import DATA_CUTOFF, _Run
from endotrial.errors import InputError
from endotrial.store import (
    AuditEntry,
    Participant,
    Ultrasound,
    field_history,
    make_engine,
    verify_audit_chain,
)

SEED = 7


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, DemoSummary]:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    return url, build_demo(url, seed=SEED)


def test_summary_counts_the_whole_trial(first_run: tuple[str, DemoSummary]) -> None:
    _url, summary = first_run
    assert summary.screened == 150 and sum(summary.decisions.values()) == 150
    assert summary.decisions["ineligible"] > 0 and summary.decisions["eligible"] >= 60
    assert summary.enrolled_by_arm == {"control": 30, "hbmsc": 30}
    assert summary.procedures == 30
    followed = summary.transfers + summary.cancelled_transfers + summary.withdrawn
    assert followed + summary.in_follow_up == 60
    assert sum(summary.clinical_pregnancies_by_arm.values()) > 0
    assert summary.adverse_events > 0 and summary.deviations > 0 and summary.open_queries > 0
    # Recorded, not bounded: a wall-clock limit fails on a loaded CI machine (each unit of
    # work is an fsync). The build time is measured by bench/bench_demo.py instead.
    assert summary.elapsed_seconds > 0
    assert "SYNTHETIC" in render_summary(summary)


def test_the_seed_demo_figures_are_those_before_any_protocol_could_be_demonstrated(
    first_run: tuple[str, DemoSummary],
) -> None:
    """Issue 9: the demo reads any protocol now; for the seed, the same seed gives the same
    trial as before (figures of `endotrial demo --seed 7` before the change)."""
    _url, summary = first_run
    lines = render_summary(summary).splitlines()[1:9]
    assert lines == [
        "screened 150: eligible 88, incomplete 5, ineligible 57",
        "enrolled: control 30, hbmsc 30",
        "withdrawn 3; infusions 30; transfers 51 (4 cancelled)",
        "clinical pregnancies: control 4, hbmsc 9; live births: control 1, hbmsc 3",
        "data cut-off 2026-11-20: 2 still before their transfer",
        "adverse events 14 (0 serious); deviations 23; open queries 5",
        "visits on the cut-off date: 10 due, 6 overdue",
        "SYNTHETIC DATA for demonstration only: never analyse as evidence.",
    ]
    assert "effect sizes cited in endotrial.demo.effects" in render_summary(summary)


def test_audit_chain_verifies_and_history_rebuilds_current_values(
    first_run: tuple[str, DemoSummary],
) -> None:
    url, _summary = first_run
    engine = make_engine(url)
    try:
        assert verify_audit_chain(engine).ok
        with Session(engine) as session:
            scans = session.scalars(select(Ultrasound)).all()
            statuses = session.scalars(select(Participant)).all()
            corrected_ids = set(
                session.scalars(
                    select(AuditEntry.row_id).where(
                        AuditEntry.entity == "ultrasounds",
                        AuditEntry.field == "thickness_mm",
                        AuditEntry.action == "update",
                    )
                )
            )
        for scan in scans:
            history = field_history(engine, "ultrasounds", scan.id, "thickness_mm")
            assert history[-1].new_value == scan.thickness_mm
        for participant in statuses:
            history = field_history(engine, "participants", participant.id, "status")
            assert history[-1].new_value == participant.status
            assert history[0].action == "insert"
        assert corrected_ids, "the demo corrects some mistyped thicknesses, with reasons"
        for scan_id in corrected_ids:
            history = field_history(engine, "ultrasounds", scan_id, "thickness_mm")
            assert history[-1].reason and history[-1].old_value == 10 * history[-1].new_value
    finally:
        engine.dispose()


def _latest_dates(url: str) -> dict[str, str | None]:
    dated = {
        "ultrasounds": ["scan_date"],
        "embryo_transfers": ["transfer_date"],
        "pregnancy_outcomes": ["beta_hcg_date", "ultrasound_date", "ongoing_date", "birth_date"],
        "adverse_events": ["onset_date", "resolution_date"],
        "medication_records": ["first_day", "last_day"],
        "participants": ["enrolled_on"],
    }
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return {
                f"{table}.{column}": connection.scalar(text(f"SELECT max({column}) FROM {table}"))
                for table, columns in dated.items()
                for column in columns
            }
    finally:
        engine.dispose()


def test_nothing_is_dated_after_the_data_cutoff(first_run: tuple[str, DemoSummary]) -> None:
    """A snapshot of a running trial: every clinical date is on or before the cut-off (and so
    in the past), and follow-up due later is simply not recorded yet."""
    url, summary = first_run
    assert summary.data_cutoff == data_cutoff() == DATA_CUTOFF  # the clock is after it
    assert f"data cut-off {DATA_CUTOFF}" in render_summary(summary)
    for column, latest in _latest_dates(url).items():
        assert latest is not None, f"{column} is never recorded"
        assert str(latest) <= DATA_CUTOFF.isoformat(), column


def test_an_earlier_clock_cuts_the_trial_off_today(tmp_path: Path) -> None:
    """On a machine whose date is before the fixed cut-off, the run stops at today instead of
    failing half-way on a date the services refuse as being in the future."""
    today = dt.date(2026, 3, 1)
    assert data_cutoff(today) == today and data_cutoff(dt.date(2027, 1, 1)) == DATA_CUTOFF
    summary = build_demo(f"sqlite:///{tmp_path / 'early.db'}", seed=SEED, today=today)
    assert summary.data_cutoff == today
    assert "data cut-off 2026-03-01" in render_summary(summary)
    assert 0 < summary.screened < 150
    for column, latest in _latest_dates(f"sqlite:///{tmp_path / 'early.db'}").items():
        assert latest is None or str(latest) <= today.isoformat(), column
    with pytest.raises(InputError, match="check the computer's clock"):
        build_demo(f"sqlite:///{tmp_path / 'never.db'}", today=dt.date(2024, 1, 1))
    assert not (tmp_path / "never.db").exists()


@pytest.mark.parametrize("seed", [-1, -20250930])
def test_a_negative_seed_is_refused_before_anything_is_created(tmp_path: Path, seed: int) -> None:
    with pytest.raises(InputError, match="0 or more"):
        create_demo(f"sqlite:///{tmp_path / 'demo.db'}", seed=seed)
    assert not list(tmp_path.iterdir())


def test_a_failed_build_removes_the_file_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(_run: _Run) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(_Run, "_monitoring", fail)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    with pytest.raises(RuntimeError, match="disk full"):
        create_demo(url, seed=SEED, today=dt.date(2025, 12, 1))
    assert not list(tmp_path.iterdir()), "no half-built demo.db, -wal or -shm left"
    # A file that was there before (here an empty one) is the user's: it is kept.
    (tmp_path / "demo.db").touch()
    with pytest.raises(RuntimeError, match="disk full"):
        create_demo(url, seed=SEED, today=dt.date(2025, 12, 1))
    assert (tmp_path / "demo.db").exists()


def test_same_seed_same_summary(first_run: tuple[str, DemoSummary], tmp_path: Path) -> None:
    _url, summary = first_run
    again = build_demo(f"sqlite:///{tmp_path / 'again.db'}", seed=SEED)
    assert again == summary


def test_participant_page_read_is_the_separate_reads(first_run: tuple[str, DemoSummary]) -> None:
    """The page's one-transaction read gives, for every participant (signed, locked, with
    queries open and closed), exactly what her separate reads give."""
    from endotrial.demo.run import COORDINATOR, DEMO_PASSWORDS, MONITOR
    from endotrial.protocol import load_protocol
    from endotrial.services import (
        Study,
        data_queries,
        participant_page,
        participant_records,
        participant_summary,
        participant_timeline,
        participants,
        permitted_operations,
        pregnancy_outcome,
        sign_in,
    )

    url, _summary = first_run
    engine = make_engine(url)
    study = Study(engine, load_protocol())
    on = dt.date(2026, 6, 1)
    try:
        for username in (COORDINATOR, MONITOR):
            actor = sign_in(study, username, DEMO_PASSWORDS[username])
            everyone = participants(study, actor)
            assert any(p.signature for p in everyone) and any(
                p.counts.pending_queries for p in everyone
            )
            for summary in everyone:
                pid = summary.participant_id
                shown = participant_page(study, actor, pid, on=on)
                assert shown.summary == participant_summary(study, actor, pid)
                assert shown.timeline == participant_timeline(study, actor, pid, on=on)
                # Hers picked out by the database, and by whose each query is of them all.
                assert shown.queries == data_queries(study, actor, participant_id=pid)
                assert shown.queries == tuple(
                    q for q in data_queries(study, actor) if q.participant_id == pid
                )
                assert shown.records == participant_records(study, actor, pid)
                assert shown.outcomes == {
                    t.transfer_id: pregnancy_outcome(study, actor, t.transfer_id)
                    for t in summary.transfers
                }
                assert shown.permitted == permitted_operations(study, actor)
    finally:
        engine.dispose()
