"""Optimistic concurrency: the first save wins, the second gets ConflictError, nothing is lost."""

import threading
from datetime import date

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from store_helpers import audit_count, enrol_participant, writes

from endotrial.store import (
    ConflictError,
    Participant,
    Ultrasound,
    field_history,
    read_session,
    verify_audit_chain,
)


def _loaded(engine: Engine, participant_id: int) -> Participant:
    """The participant as a form shows it: read, then the session closed (detached)."""
    with read_session(engine) as session:
        participant = session.get_one(Participant, participant_id)
        session.expunge(participant)
        return participant


def test_writers_queue_for_the_write_lock_instead_of_interleaving(engine: Engine) -> None:
    """A writer takes the lock before it reads: a second writer waits until the first commits,
    then reads what the first wrote (its checks see the latest data)."""
    participant_id = enrol_participant(engine)
    seen: list[str] = []

    def second_writer() -> None:
        with writes(engine, "coord2", reason="screen failed") as second:
            seen.append(second.get_one(Participant, participant_id).status)

    with writes(engine, "coord1", reason="consented") as first:
        first.get_one(Participant, participant_id).status = "consented"
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive()  # waiting for the lock the first writer holds
    thread.join(timeout=30)
    assert seen == ["consented"]
    assert verify_audit_chain(engine).ok


def test_save_of_a_record_changed_since_it_was_opened_is_a_conflict(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    form = _loaded(engine, participant_id)  # version 1 on her screen
    with writes(engine, "coord2", reason="screen failed") as second:
        second.get_one(Participant, participant_id).status = "screen_failed"
    form.status = "consented"
    with (
        pytest.raises(ConflictError, match=r"participants.*changed by someone else|reload"),
        writes(engine, "coord1", reason="consented") as first,
    ):
        first.merge(form)
    with Session(engine) as session:
        stored = session.get_one(Participant, participant_id)
        assert (stored.status, stored.version) == ("screen_failed", 2)
    history = field_history(engine, "participants", participant_id, "status")
    assert [h.new_value for h in history] == ["screened", "screen_failed"]
    assert verify_audit_chain(engine).ok


def test_delete_of_a_record_changed_meanwhile_is_refused(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    form = _loaded(engine, participant_id)
    with writes(engine, "coord2", reason="typo") as second:
        second.get_one(Participant, participant_id).study_id = "P001A"
    with (
        pytest.raises(ConflictError, match="reload"),
        writes(engine, "coord1", reason="duplicate") as first,
    ):
        first.delete(first.merge(form))
    with Session(engine) as session:
        assert session.get_one(Participant, participant_id).study_id == "P001A"
    assert verify_audit_chain(engine).ok


def test_concurrent_writers_extend_one_unforked_chain(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    before, errors = audit_count(engine), []

    def write(user: str) -> None:
        try:
            for day in range(1, 11):
                with writes(engine, user) as session:
                    scan = Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, day))
                    scan.thickness_mm = 6.0 + day / 10
                    session.add(scan)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(u,)) for u in ("coord1", "coord2", "rad1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    per_scan = len(Ultrasound.__table__.columns) - 2  # every column but id and version
    assert audit_count(engine) == before + 30 * per_scan
    assert verify_audit_chain(engine).ok
