"""Every insert, update and delete of trial data leaves audit rows; changes need a reason."""

import json
from datetime import UTC, date

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session
from store_helpers import audit_count, audit_rows, enrol_participant, writes

from endotrial.store import (
    AuditEntry,
    AuditError,
    Participant,
    ReasonRequiredError,
    Role,
    Ultrasound,
    User,
    hash_password,
    verify_audit_chain,
    verify_password,
)


def test_insert_writes_one_row_per_field_with_new_values(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    rows = {row.field: row for row in audit_rows(engine, "participants", participant_id)}
    assert set(rows) == {"study_id", "site_id", "arm", "status", "enrolled_on", "enrolment_number"}
    study_id = rows["study_id"]
    assert (study_id.action, study_id.username, study_id.reason) == ("insert", "coord1", None)
    assert (study_id.old_value, json.loads(study_id.new_value or "")) == (None, "P001")
    assert rows["arm"].new_value is None
    assert study_id.occurred_at.tzinfo == UTC
    assert verify_audit_chain(engine).ok


def test_update_records_old_new_and_reason(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    with writes(engine, "inv1", reason="arm allocated at enrolment") as session:
        participant = session.get_one(Participant, participant_id)
        participant.arm = "stem_cell"
        participant.status = "enrolled"
    updates = [
        r for r in audit_rows(engine, "participants", participant_id) if r.action == "update"
    ]
    changed = {r.field: (r.old_value, r.new_value, r.username, r.reason) for r in updates}
    assert changed == {
        "arm": (None, '"stem_cell"', "inv1", "arm allocated at enrolment"),
        "status": ('"screened"', '"enrolled"', "inv1", "arm allocated at enrolment"),
    }
    assert verify_audit_chain(engine).ok


def test_delete_records_every_old_value(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    with writes(engine, "coord1") as session:
        scan = Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, 12))
        scan.thickness_mm, scan.trilaminar = 7.5, True
        session.add(scan)
        session.flush()
        scan_id = scan.id
    with writes(engine, "coord1", reason="entered for the wrong woman") as session:
        session.delete(session.get_one(Ultrasound, scan_id))
    deleted = {
        r.field: (r.old_value, r.new_value, r.reason)
        for r in audit_rows(engine, "ultrasounds", scan_id)
        if r.action == "delete"
    }
    assert deleted["thickness_mm"] == ("7.5", None, "entered for the wrong woman")
    assert deleted["scan_date"] == ('"2025-10-12"', None, "entered for the wrong woman")
    assert deleted["trilaminar"][0] == "true"
    assert verify_audit_chain(engine).ok


def test_update_without_reason_is_refused_and_nothing_written(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    before = audit_count(engine)
    with (
        pytest.raises(ReasonRequiredError, match=r"participants #\d+ \(status\) needs a reason"),
        writes(engine, "coord1") as session,
    ):
        session.get_one(Participant, participant_id).status = "enrolled"
        session.add(Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, 1)))
    with (
        pytest.raises(ReasonRequiredError),
        writes(engine, "coord1", reason="  ") as session,
    ):
        session.delete(session.get_one(Participant, participant_id))
    assert audit_count(engine) == before
    with Session(engine) as session:
        assert session.get_one(Participant, participant_id).status == "screened"
        assert session.scalars(select(Ultrasound)).all() == []


def test_changes_within_the_first_entry_need_no_reason(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    with writes(engine, "coord1") as session:
        scan = Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, 12))
        session.add(scan)
        session.flush()
        scan.thickness_mm = 6.8
    actions = [(r.action, r.field) for r in audit_rows(engine, "ultrasounds", scan.id)]
    assert ("update", "thickness_mm") in actions
    assert verify_audit_chain(engine).ok


def test_writes_without_an_acting_user_are_refused(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    with Session(engine) as session, pytest.raises(AuditError, match="only through the services"):
        session.add(Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, 1)))
        session.commit()


def test_audit_rows_cannot_be_changed_through_the_orm(engine: Engine) -> None:
    enrol_participant(engine)
    before = audit_count(engine)
    with (
        pytest.raises(AuditError, match="append-only"),
        writes(engine, "coord1", reason="tidy") as session,
    ):
        session.scalars(select(AuditEntry)).first().reason = "rewritten"  # type: ignore[union-attr]
    with (
        pytest.raises(AuditError, match="append-only"),
        writes(engine, "coord1", reason="tidy") as session,
    ):
        session.delete(session.scalars(select(AuditEntry)).first())
    with (
        pytest.raises(AuditError, match="append-only"),
        writes(engine, "coord1", reason="tidy") as session,
    ):
        session.execute(update(AuditEntry).values(reason="rewritten"))
    assert audit_count(engine) == before
    assert verify_audit_chain(engine).ok


def test_password_hash_is_argon2_and_never_in_the_trail(engine: Engine) -> None:
    with writes(engine, "admin") as session:
        user = User(username="rad2", full_name="R. Adiologist", role=Role.RADIOLOGIST)
        user.password_hash = hash_password("correct horse")
        session.add(user)
        session.flush()
        user_id = user.id
    with Session(engine) as session:
        stored = session.get_one(User, user_id)
        assert stored.password_hash.startswith("$argon2id$")
        assert verify_password(stored.password_hash, "correct horse")
        assert not verify_password(stored.password_hash, "wrong")
        assert stored.role is Role.RADIOLOGIST
    logged = {r.field: r.new_value for r in audit_rows(engine, "users", user_id)}
    # Never the hash itself: a short digest of it, so a swap outside the application shows.
    redacted = logged["password_hash"] or ""
    assert redacted.startswith('"<redacted> sha256:') and "argon2" not in redacted
    assert logged["role"] == '"radiologist"'


def test_rolled_back_savepoint_leaves_no_trail_and_an_intact_chain(engine: Engine) -> None:
    participant_id = enrol_participant(engine)
    with writes(engine, "coord1") as session:
        session.add(Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, 1)))
        session.flush()
        savepoint = session.begin_nested()
        session.add(Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, 2)))
        session.flush()
        savepoint.rollback()
        session.add(Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, 3)))
    with Session(engine) as session:
        scans = session.scalars(select(Ultrasound).order_by(Ultrasound.id)).all()
        assert [s.scan_date.day for s in scans] == [1, 3]
        logged = {
            r.row_id for r in session.scalars(select(AuditEntry)) if r.entity == "ultrasounds"
        }
        assert logged == {str(s.id) for s in scans}
    assert verify_audit_chain(engine).ok
