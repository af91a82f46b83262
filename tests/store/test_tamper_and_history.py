"""Raw-SQL tampering with the audit trail is detected and located; field history is rebuilt."""

import datetime as dt
from datetime import date

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from store_helpers import audit_count, drop_append_only_guard, enrol_participant, writes

from endotrial.store import (
    AuditEntry,
    DataQuery,
    Role,
    Ultrasound,
    User,
    field_history,
    hash_password,
    reconcile_with_trail,
    verify_audit_chain,
)
from endotrial.store.audit import entry_hash


def _scan_with_corrections(engine: Engine) -> int:
    """An ultrasound entered once and corrected twice (with reasons); returns its id."""
    participant_id = enrol_participant(engine)
    with writes(engine, "coord1") as session:
        scan = Ultrasound(participant_id=participant_id, scan_date=date(2025, 10, 12))
        scan.thickness_mm = 5.9
        session.add(scan)
        session.flush()
        scan_id = scan.id
    for thickness, reason in ((6.4, "misread caliper"), (7.1, "re-measured by radiologist")):
        with writes(engine, "rad1", reason=reason) as session:
            session.get_one(Ultrasound, scan_id).thickness_mm = thickness
    return scan_id


def _tamper(engine: Engine, *statements: str) -> None:
    drop_append_only_guard(engine)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_untouched_chain_verifies(engine: Engine) -> None:
    _scan_with_corrections(engine)
    result = verify_audit_chain(engine)
    assert result.ok and result.entries_checked == audit_count(engine)
    assert "intact" in str(result)


def test_changed_entry_is_detected_and_named(engine: Engine) -> None:
    _scan_with_corrections(engine)
    _tamper(engine, "UPDATE audit_log SET new_value = '9.9' WHERE seq = 5")
    result = verify_audit_chain(engine)
    assert (result.ok, result.broken_seq, result.entries_checked) == (False, 5, 4)
    assert "altered" in str(result) and "entry 5" in str(result)


def test_removed_entry_is_detected_and_named(engine: Engine) -> None:
    _scan_with_corrections(engine)
    _tamper(engine, "DELETE FROM audit_log WHERE seq = 3")
    result = verify_audit_chain(engine)
    assert (result.ok, result.broken_seq) == (False, 3)
    assert "missing" in str(result)


def test_removed_latest_entry_is_detected(engine: Engine) -> None:
    _scan_with_corrections(engine)
    last = audit_count(engine)
    _tamper(engine, f"DELETE FROM audit_log WHERE seq = {last}")
    result = verify_audit_chain(engine)
    assert (result.ok, result.broken_seq) == (False, last)
    assert "removed" in str(result)


def test_swapped_entries_are_detected(engine: Engine) -> None:
    _scan_with_corrections(engine)
    _tamper(
        engine,
        "UPDATE audit_log SET seq = -1 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = -1",
    )
    result = verify_audit_chain(engine)
    assert (result.ok, result.broken_seq) == (False, 2)
    assert "reordered" in str(result)


def test_recomputed_hash_still_breaks_the_next_link(engine: Engine) -> None:
    """A forger who alters an entry and recomputes its own hash still breaks the next link."""
    _scan_with_corrections(engine)
    drop_append_only_guard(engine)
    with engine.begin() as connection:
        query = select(AuditEntry.__table__).where(AuditEntry.seq == 4)
        entry = connection.execute(query).mappings().one()
        forged = {**entry, "new_value": "forged"}
        forged_hash = entry_hash(entry["prev_hash"], forged)
        assert forged_hash != entry["hash"]
        connection.execute(
            text("UPDATE audit_log SET new_value = 'forged', hash = :hash WHERE seq = 4"),
            {"hash": forged_hash},
        )
    result = verify_audit_chain(engine)
    assert (result.ok, result.broken_seq) == (False, 5)
    assert "link" in str(result)


def test_field_history_is_rebuilt_and_matches_the_data(engine: Engine) -> None:
    scan_id = _scan_with_corrections(engine)
    history = field_history(engine, "ultrasounds", scan_id, "thickness_mm")
    assert [(h.action, h.old_value, h.new_value) for h in history] == [
        ("insert", None, 5.9),
        ("update", 5.9, 6.4),
        ("update", 6.4, 7.1),
    ]
    assert [h.reason for h in history] == [None, "misread caliper", "re-measured by radiologist"]
    assert [h.username for h in history] == ["coord1", "rad1", "rad1"]
    with Session(engine) as session:
        current = session.get_one(Ultrasound, scan_id)
        assert history[-1].new_value == current.thickness_mm
        dates = field_history(engine, "ultrasounds", scan_id, "scan_date")
        assert dates[-1].new_value == current.scan_date.isoformat()


def test_data_changed_added_or_removed_by_raw_sql_are_found(engine: Engine) -> None:
    """The chain proves the trail is untouched; reconciling proves the data still equal it."""
    scan_id = _scan_with_corrections(engine)
    assert reconcile_with_trail(engine).ok
    _tamper(engine, f"UPDATE ultrasounds SET thickness_mm = 9.9 WHERE id = {scan_id}")
    (changed,) = reconcile_with_trail(engine).mismatches
    assert (changed.entity, changed.row_id, changed.field) == (
        "ultrasounds",
        str(scan_id),
        "thickness_mm",
    )
    assert "the trail says 7.1, the table holds 9.9" in str(changed)
    assert verify_audit_chain(engine).ok  # the trail itself is intact: only reconciling sees it
    _tamper(
        engine,
        f"UPDATE ultrasounds SET thickness_mm = 7.1 WHERE id = {scan_id}",
        "INSERT INTO ultrasounds (id, version, participant_id, scan_date, thickness_mm) "
        "SELECT 999, 1, participant_id, scan_date, 8.0 FROM ultrasounds WHERE id = "
        f"{scan_id}",
    )
    (added,) = reconcile_with_trail(engine).mismatches
    assert (added.row_id, added.field) == ("999", None) and "added outside" in added.problem
    _tamper(engine, "DELETE FROM ultrasounds")
    result = reconcile_with_trail(engine)
    assert [m.row_id for m in result.mismatches] == [str(scan_id)]
    assert "deleted outside" in str(result)


def test_a_swapped_password_hash_and_an_unreadable_value_are_found(engine: Engine) -> None:
    """Raw SQL that swaps an account's password hash (an account takeover) or writes a value
    no column type accepts is reported, not missed or crashed on."""
    with writes(engine, "admin") as session:
        session.add(
            User(
                username="pi1",
                full_name="PI",
                role=Role.INVESTIGATOR,
                password_hash=hash_password("the investigator's own"),
            )
        )
    assert reconcile_with_trail(engine).ok
    forged = hash_password("the attacker's")
    _tamper(engine, f"UPDATE users SET password_hash = '{forged}' WHERE username = 'pi1'")
    (swapped,) = reconcile_with_trail(engine).mismatches
    assert (swapped.entity, swapped.field) == ("users", "password_hash")
    assert forged not in str(swapped)  # the report shows digests, never the hash
    _tamper(engine, "UPDATE users SET role = 'superuser' WHERE username = 'pi1'")
    (unreadable,) = reconcile_with_trail(engine).mismatches
    assert unreadable.entity == "users" and unreadable.field is None
    assert "cannot read" in unreadable.problem and "superuser" in unreadable.problem


def test_a_moment_recorded_in_another_time_zone_reconciles(engine: Engine) -> None:
    """09:30 in China is stored as 01:30 UTC: the trail records UTC too, so no false alarm."""
    participant_id = enrol_participant(engine)
    beijing = dt.timezone(dt.timedelta(hours=8))
    with writes(engine, "coord1") as session:
        session.add(
            DataQuery(
                entity="participants",
                row_id=str(participant_id),
                field="status",
                text="?",
                opened_by="monitor1",
                opened_at=dt.datetime(2025, 10, 15, 9, 30, tzinfo=beijing),
            )
        )
    assert reconcile_with_trail(engine).ok
