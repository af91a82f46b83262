"""Issue 7: an attacker with write access to the database and the source, but not the key file.

Each attack is done with the project's own code (its hash function, its tables), the way a
careful forger would; each is caught by `audit verify` and located (the entry, or the signed
checkpoint the database no longer reaches). Before the keyed trail, 14 of these 29 variants said
"intact".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from services_helpers import (
    COORDINATOR,
    EMBRYOLOGIST,
    INVESTIGATOR,
    TRANSFER_DAY,
    Trial,
    allocated,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Connection, Engine, select, text

from endotrial.protocol import Protocol
from endotrial.services import OutcomeInput, TransferInput, record_outcome, record_transfer
from endotrial.services.verification import AuditReport, verify_everything
from endotrial.store import AuditEntry, PregnancyOutcome
from endotrial.store.audit import GENESIS_HASH, entry_hash
from endotrial.store.keys import key_file_for

_HASHED = (
    "seq", "occurred_at", "username", "action", "entity", "row_id", "field", "old_value",
    "new_value", "reason",
)  # fmt: skip


@pytest.fixture(autouse=True)
def data_match_the_trail() -> None:
    """These tests break the data on purpose: the suite's after-test reconciliation is off."""


def _biochemical_pregnancy(trial: Trial) -> int:
    """A transfer whose outcome is a biochemical pregnancy (hCG positive, no sac)."""
    pid = start_transfer_cycle(trial, allocated(trial, "c1", "hbmsc"))
    transfer = TransferInput(participant_id=pid, transfer_date=TRANSFER_DAY, embryo_grades=["4AB"])
    transfer_id = record_transfer(trial.study, trial.actor(EMBRYOLOGIST), transfer)
    facts = OutcomeInput(
        transfer_id=transfer_id,
        beta_hcg_miu_ml=45.0,
        beta_hcg_date=TRANSFER_DAY + dt.timedelta(days=12),
        ultrasound_date=TRANSFER_DAY + dt.timedelta(days=30),
        gestational_sacs=0,
    )
    record_outcome(trial.study, trial.actor(COORDINATOR), facts)
    return transfer_id


def _guard_off(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
        connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
    else:
        connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))


def _entries(connection: Connection, since: int = 1) -> list[dict[str, Any]]:
    query = select(AuditEntry.__table__).where(AuditEntry.seq >= since).order_by(AuditEntry.seq)
    return [dict(row) for row in connection.execute(query).mappings()]


def _rechain(connection: Connection, since: int) -> None:
    """Recompute every hash from entry `since` on, and the tip: what an unkeyed chain allows."""
    previous = (
        connection.execute(
            text("SELECT hash FROM audit_log WHERE seq = :seq"), {"seq": since - 1}
        ).scalar()
        or GENESIS_HASH
    )
    for entry in _entries(connection, since):
        entry["prev_hash"] = previous
        previous = entry_hash(previous, {k: entry[k] for k in _HASHED})
        connection.execute(
            text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :seq"),
            {"p": entry["prev_hash"], "h": previous, "seq": entry["seq"]},
        )
    last = connection.execute(text("SELECT max(seq) FROM audit_log")).scalar()
    connection.execute(
        text("UPDATE audit_chain_head SET last_seq = :s, last_hash = :h"),
        {"s": last, "h": previous},
    )


def _outcome_entry(connection: Connection, field: str) -> dict[str, Any]:
    (entry,) = [
        e
        for e in _entries(connection)
        if e["entity"] == "pregnancy_outcomes" and e["field"] == field and e["action"] == "insert"
    ]
    return entry


def _turn_biochemical_into_clinical(connection: Connection) -> int:
    """The attack of the issue: one gestational sac where there was none, in the data and in
    its audit entry, then every later hash recomputed."""
    forged = "UPDATE pregnancy_outcomes SET gestational_sacs = 1, biochemical = false"
    connection.execute(text(forged))
    sacs = _outcome_entry(connection, "gestational_sacs")
    biochemical = _outcome_entry(connection, "biochemical")
    for entry, value in ((sacs, "1"), (biochemical, "false")):
        connection.execute(
            text("UPDATE audit_log SET new_value = :v WHERE seq = :s"),
            {"v": value, "s": entry["seq"]},
        )
    first = min(sacs["seq"], biochemical["seq"])
    _rechain(connection, first)
    return int(first)


def _attack(engine: Engine, forge: Callable[[Connection], int | None]) -> int | None:
    with engine.begin() as connection:
        _guard_off(connection)
        return forge(connection)


def _verify(engine: Engine, *, with_key: bool, keys_path: Any = None) -> AuditReport:
    """Verify as the site (with the key file) or as a monitor with only the checkpoints."""
    if with_key:
        return verify_everything(engine)
    key_file = key_file_for(engine.url)
    hidden = key_file.with_name(key_file.name + ".away")
    key_file.rename(hidden)  # the monitor's copy comes without the key
    try:
        checkpoints = hidden.with_name(key_file.name + ".checkpoints")
        return verify_everything(engine, checkpoint_files=[checkpoints])
    finally:
        hidden.rename(key_file)


def _found(report: AuditReport, *words: str) -> str:
    text_ = str(report)
    assert not report.ok, text_
    for word in words:
        assert word in text_, text_
    return text_


@pytest.mark.parametrize("with_key", [True, False], ids=["site", "monitor"])
def test_a_recomputed_chain_is_caught(
    engine: Engine, seed_protocol: Protocol, with_key: bool
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    _biochemical_pregnancy(trial)
    first = _attack(engine, _turn_biochemical_into_clinical)
    report = _verify(engine, with_key=with_key)
    if with_key:
        _found(report, f"entry {first}: its MAC is wrong")
    else:
        _found(report, "no longer reaches this checkpoint")
    with engine.connect() as connection:
        assert connection.execute(select(PregnancyOutcome.gestational_sacs)).scalar() == 1


@pytest.mark.parametrize("with_key", [True, False], ids=["site", "monitor"])
def test_a_deleted_tail_with_the_data_reverted_is_caught(
    engine: Engine, seed_protocol: Protocol, with_key: bool
) -> None:
    """The outcome's whole transaction removed from the trail and its row deleted: the chain
    that remains is valid, but it no longer reaches the checkpoint signed after the outcome."""
    trial = set_up_trial(engine, seed_protocol)
    _biochemical_pregnancy(trial)

    def cut(connection: Connection) -> int:
        first = min(e["seq"] for e in _entries(connection) if e["entity"] == "pregnancy_outcomes")
        connection.execute(text("DELETE FROM data_queries"))
        connection.execute(text("DELETE FROM pregnancy_outcomes"))
        connection.execute(text("DELETE FROM audit_log WHERE seq >= :s"), {"s": first})
        tip = connection.execute(
            text("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        ).one()
        connection.execute(
            text("UPDATE audit_chain_head SET last_seq = :s, last_hash = :h"),
            {"s": tip.seq, "h": tip.hash},
        )
        return first

    _attack(engine, cut)
    _found(_verify(engine, with_key=with_key), "no longer reaches this checkpoint")


@pytest.mark.parametrize(
    "forgery",
    ["reorder", "backdate", "reattribute", "insert", "past_tip", "appended_correction"],
)
def test_forgeries_without_the_key_are_caught_and_located(
    engine: Engine, seed_protocol: Protocol, forgery: str
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    _biochemical_pregnancy(trial)
    located = _attack(engine, FORGERIES[forgery])
    report = _verify(engine, with_key=True)
    _found(report, f"entry {located}")
    monitor = _verify(engine, with_key=False)
    # Without the key, an entry appended after the latest checkpoint looks like the next write
    # (the monitor's report says how many entries only their MACs cover); the rest is caught.
    assert monitor.ok == (forgery == "appended_correction"), str(monitor)


def _reorder(connection: Connection) -> int:
    """Two entries swapped (their numbers exchanged)."""
    a = int(_outcome_entry(connection, "beta_hcg_miu_ml")["seq"])
    b = int(_outcome_entry(connection, "gestational_sacs")["seq"])
    for old, new in ((a, -1), (b, a), (-1, b)):
        connection.execute(
            text("UPDATE audit_log SET seq = :new WHERE seq = :old"), {"new": new, "old": old}
        )
    return min(a, b)


def _backdate(connection: Connection) -> int:
    entry = _outcome_entry(connection, "gestational_sacs")
    earlier = entry["occurred_at"] - dt.timedelta(days=40)
    connection.execute(
        text("UPDATE audit_log SET occurred_at = :t WHERE seq = :s"),
        {"t": earlier, "s": entry["seq"]},
    )
    _rechain(connection, entry["seq"])
    return int(entry["seq"])


def _reattribute(connection: Connection) -> int:
    """The outcome entered by the investigator instead of the coordinator (both could), the
    chain recomputed: only the MAC tells."""
    entry = _outcome_entry(connection, "gestational_sacs")
    connection.execute(
        text("UPDATE audit_log SET username = :u WHERE seq = :s"),
        {"u": INVESTIGATOR, "s": entry["seq"]},
    )
    _rechain(connection, entry["seq"])
    return int(entry["seq"])


def _insert(connection: Connection) -> int:
    """A made-up entry slid in the middle, every later entry renumbered and rechained."""
    entry = _outcome_entry(connection, "gestational_sacs")
    seq = int(entry["seq"])
    connection.execute(text("UPDATE audit_log SET seq = -seq WHERE seq >= :s"), {"s": seq})
    connection.execute(text("UPDATE audit_log SET seq = 1 - seq WHERE seq <= -:s"), {"s": seq})
    forged = {**entry, "seq": seq, "field": "ectopic", "new_value": "true", "mac": None}
    connection.execute(AuditEntry.__table__.insert().values(**forged))
    _rechain(connection, seq)
    return seq


def _past_tip(connection: Connection) -> int:
    """An entry numbered past the recorded tip, chained and hashed, the tip left as it was."""
    last = _entries(connection)[-1]
    forged = {**last, "seq": last["seq"] + 1, "prev_hash": last["hash"], "field": "ectopic"}
    forged["hash"] = entry_hash(last["hash"], {k: forged[k] for k in _HASHED})
    connection.execute(AuditEntry.__table__.insert().values(**forged))
    return int(last["seq"]) + 1


def _appended_correction(connection: Connection) -> int:
    """A 'correction' appended at the end as the application would write it, tip moved."""
    last = _entries(connection)[-1]
    sacs = _outcome_entry(connection, "gestational_sacs")
    forged = {
        **sacs,
        "seq": last["seq"] + 1,
        "action": "update",
        "old_value": "0",
        "new_value": "1",
        "reason": "transcription error",
        "prev_hash": last["hash"],
        "mac": None,
    }
    forged["hash"] = entry_hash(last["hash"], {k: forged[k] for k in _HASHED})
    connection.execute(AuditEntry.__table__.insert().values(**forged))
    connection.execute(text("UPDATE pregnancy_outcomes SET gestational_sacs = 1"))
    connection.execute(
        text("UPDATE audit_chain_head SET last_seq = :s, last_hash = :h"),
        {"s": forged["seq"], "h": forged["hash"]},
    )
    return int(forged["seq"])


FORGERIES: dict[str, Callable[[Connection], int]] = {
    "reorder": _reorder,
    "backdate": _backdate,
    "reattribute": _reattribute,
    "insert": _insert,
    "past_tip": _past_tip,
    "appended_correction": _appended_correction,
}


def test_an_entry_reattributed_to_a_role_that_may_not_act_is_caught_without_the_key(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """Re-attributed to the monitor (who records no outcome) or to a name with no account."""
    trial = set_up_trial(engine, seed_protocol)
    _biochemical_pregnancy(trial)
    for username, words in (("monitor1", "may not write this table"), ("ghost", "no account")):

        def reattribute(connection: Connection, username: str = username) -> int:
            entry = _outcome_entry(connection, "gestational_sacs")
            connection.execute(
                text("UPDATE audit_log SET username = :u WHERE seq = :s"),
                {"u": username, "s": entry["seq"]},
            )
            _rechain(connection, entry["seq"])
            return int(entry["seq"])

        seq = _attack(engine, reattribute)
        actors = [str(f) for f in verify_everything(engine).actors]
        assert any(f"entry {seq}" in f and words in f for f in actors), actors


def test_the_trail_refuses_update_and_delete_through_the_application(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """The append-only triggers: a careless script (or the application's own role on
    PostgreSQL) cannot change an entry, whatever path it takes."""
    set_up_trial(engine, seed_protocol)
    for statement in ("UPDATE audit_log SET reason = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert verify_everything(engine).ok


def test_untouched_trial_verifies_completely(engine: Engine, seed_protocol: Protocol) -> None:
    trial = set_up_trial(engine, seed_protocol)
    _biochemical_pregnancy(trial)
    report = verify_everything(engine)
    assert report.ok and report.complete, str(report)
    assert report.trail.checkpoints_checked > 0 and report.trail.latest_checkpoint is not None
    with engine.connect() as connection:
        last = connection.execute(text("SELECT max(seq) FROM audit_log")).scalar()
    assert report.trail.latest_checkpoint.seq == last
    assert json.loads(json.dumps(str(report)))
