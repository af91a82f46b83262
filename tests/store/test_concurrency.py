"""Optimistic concurrency: the first save wins, the second gets ConflictError, nothing is lost."""

import threading
from datetime import date

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from store_helpers import audit_count, enrol_participant

from endotrial.store import (
    ConflictError,
    Participant,
    Ultrasound,
    field_history,
    unit_of_work,
    verify_audit_chain,
)


def test_second_concurrent_edit_gets_conflict_not_overwrite(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    with (
        pytest.raises(ConflictError, match=r"participants #\d+ was changed by someone else"),
        unit_of_work(engine, user="coord1", reason="consented") as first,
    ):
        mine = first.get_one(Participant, participant_id)
        with unit_of_work(engine, user="coord2", reason="screen failed") as second:
            second.get_one(Participant, participant_id).status = "screen_failed"
        mine.status = "consented"
    with Session(engine) as session:
        stored = session.get_one(Participant, participant_id)
        assert (stored.status, stored.version) == ("screen_failed", 2)
    history = field_history(engine, "participants", participant_id, "status")
    assert [h.new_value for h in history] == ["screened", "screen_failed"]
    assert verify_audit_chain(engine).ok


def test_delete_of_a_record_changed_meanwhile_is_refused(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    with (
        pytest.raises(ConflictError, match="reload"),
        unit_of_work(engine, user="coord1", reason="duplicate") as first,
    ):
        mine = first.get_one(Participant, participant_id)
        with unit_of_work(engine, user="coord2", reason="typo") as second:
            second.get_one(Participant, participant_id).study_id = "P001A"
        first.delete(mine)
    with Session(engine) as session:
        assert session.get_one(Participant, participant_id).study_id == "P001A"
    assert verify_audit_chain(engine).ok


def test_concurrent_writers_extend_one_unforked_chain(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    before, errors = audit_count(engine), []

    def write(user: str) -> None:
        try:
            for day in range(1, 11):
                with unit_of_work(engine, user=user) as session:
                    scan = Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, day))
                    scan.thickness_mm = 6.0 + day / 10
                    session.add(scan)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(f"coord{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    per_scan = len(Ultrasound.__table__.columns) - 2  # every column but id and version
    assert audit_count(engine) == before + 30 * per_scan
    assert verify_audit_chain(engine).ok
