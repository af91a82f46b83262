"""Issue 8, finding 3: the database did not know which protocol it runs, so every call passed
its own protocol object and two calls could pass two different files. The protocol (id,
format version, content hash) is now recorded when the study is set up, and a study opened or
built with another protocol is refused before it reads or writes anything."""

import datetime as dt
from pathlib import Path

import pytest
import yaml
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    MONITOR,
    Trial,
    audit_rows,
    refused,
    set_up_trial,
)
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol, load_protocol
from endotrial.services import (
    ServiceError,
    SiteInput,
    Study,
    add_site,
    list_queries,
    open_study,
    pregnancy_outcome,
)
from endotrial.services.context import protocol_sha256
from endotrial.store import AuditEntry, TrialProtocol
from endotrial.store.trial_protocol import recorded_protocol

SEED_FILE = Path(load_protocol.__code__.co_filename).parent / "protocols" / "nct07176143.yaml"


@pytest.fixture
def trial(engine: Engine, seed_protocol: Protocol) -> Trial:
    return set_up_trial(engine, seed_protocol)


def _other_target(protocol: Protocol, target: int) -> Protocol:
    identity = protocol.identity.model_copy(update={"enrollment_target": target})
    return protocol.model_copy(update={"identity": identity})


def test_set_up_records_the_protocol_in_the_audit_trail(trial: Trial) -> None:
    with Session(trial.engine) as session:
        (row,) = session.scalars(select(TrialProtocol)).all()
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "trial_protocols")
        ).all()
    assert (row.sequence, row.protocol_id, row.format_version) == (1, "nct07176143", 2)
    assert row.content_sha256 == protocol_sha256(trial.protocol)
    assert {e.username for e in entries} == {INVESTIGATOR}
    assert {e.field for e in entries} >= {"protocol_id", "content_sha256"}


def test_the_hash_ignores_layout_but_not_content(tmp_path: Path, seed_protocol: Protocol) -> None:
    """Re-indented, keys reordered, comments gone: the same protocol. One value changed: not."""
    data = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    reordered = dict(reversed(list(data.items())))
    relaid = tmp_path / "nct07176143.yaml"
    relaid.write_text(yaml.safe_dump(reordered, indent=4, sort_keys=False), encoding="utf-8")
    assert protocol_sha256(load_protocol(relaid)) == protocol_sha256(seed_protocol)
    assert protocol_sha256(_other_target(seed_protocol, 61)) != protocol_sha256(seed_protocol)


def test_opening_with_another_protocol_is_refused(
    trial: Trial, second_protocol: Protocol, seed_protocol: Protocol
) -> None:
    with refused("study.other_protocol", kind=ServiceError) as caught:
        open_study(trial.engine, second_protocol)
    message = str(caught.value)
    assert "runs protocol nct07176143" in message
    assert second_protocol.protocol_id in message
    assert "protocol file it was set up with" in message
    with refused("study.other_protocol"):  # the same id, other content
        open_study(trial.engine, _other_target(seed_protocol, 61))
    assert open_study(trial.engine, load_protocol("nct07176143")).protocol.protocol_id


def test_a_study_built_directly_with_another_protocol_neither_writes_nor_reads(
    trial: Trial, seed_protocol: Protocol
) -> None:
    pi = trial.actor(INVESTIGATOR)
    monitor = trial.actor(MONITOR)
    other = Study(trial.engine, _other_target(seed_protocol, 61))
    before = audit_rows(trial.engine)
    with refused("study.other_protocol"):
        add_site(other, pi, SiteInput(code="SZ2", name="Second Hospital"))
    with refused("study.other_protocol"):
        list_queries(other, monitor)
    with refused("study.other_protocol"):
        pregnancy_outcome(other, trial.actor(COORDINATOR), 1)
    assert audit_rows(trial.engine) == before
    add_site(trial.study, pi, SiteInput(code="SZ2", name="Second Hospital"))


def test_the_check_is_made_once_per_engine_and_protocol(
    trial: Trial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write after the first reads no protocol record (the result is kept per engine and
    protocol object)."""
    add_site(trial.study, trial.actor(INVESTIGATOR), SiteInput(code="SZ2", name="Second"))
    from endotrial.services import context

    def fail(*_: object) -> None:
        raise AssertionError("the protocol was read again")

    monkeypatch.setattr(context, "recorded_protocol", fail)
    add_site(trial.study, trial.actor(INVESTIGATOR), SiteInput(code="SZ3", name="Third"))


def test_recorded_protocol_is_what_db_status_shows(trial: Trial) -> None:
    with trial.engine.connect() as connection:
        recorded = recorded_protocol(connection)
    assert recorded is not None
    assert str(recorded).startswith("protocol nct07176143 (format 2, content sha256 ")
    assert recorded.recorded_at.date() <= dt.datetime.now(dt.UTC).date()
