"""Issue 7: identifying data sealed at rest, read only by her site's team, erasable (PIPL)."""

import datetime as dt
import json
from pathlib import Path

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    MONITOR,
    SCREENED_ON,
    STATISTICIAN,
    Trial,
    allocated,
    eligible_items,
    enrolled,
    set_up_trial,
)
from sqlalchemy import Engine, text
from two_sites import add_site_b

from endotrial.protocol import Protocol
from endotrial.services import (
    CandidateInput,
    EnrolmentInput,
    ErasureInput,
    IdentityInput,
    InvalidInput,
    NotFoundError,
    PermissionDenied,
    RuleViolation,
    enrol,
    erase_identity,
    participant_identity,
    record_consent,
    record_identity,
    screen,
)
from endotrial.services.enrolment import ConsentInput
from endotrial.services.verification import verify_everything

NAME, NATIONAL_ID, PHONE, RECORD = "张丽华", "440106199105123344", "+86 138 0013 8000", "MRN-7788"
BIRTH_DATE = dt.date(1991, 5, 12)
CANDIDATE = "MRN-7788"


def _dump(engine: Engine) -> str:
    """Every value of every table (the audit trail included), as one text to search."""
    parts = []
    with engine.connect() as connection:
        tables = [
            r[0]
            for r in connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'table'")
                if engine.dialect.name == "sqlite"
                else text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            )
        ]
        for table in tables:
            rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
            parts.append(json.dumps([list(map(str, r)) for r in rows], ensure_ascii=False))
    return "\n".join(parts)


def _identified(trial: Trial) -> int:
    """A participant screened under her hospital record number with her birth date, whose
    name, national id and phone are then recorded."""
    items = eligible_items(birth_date=BIRTH_DATE)
    del items["age_years"]
    candidate = CandidateInput(candidate_ref=CANDIDATE, items=items, site_id=trial.site_id)
    record = screen(trial.study, trial.actor(COORDINATOR), candidate)
    assert record.candidate_ref == CANDIDATE  # the site sees the id it gave
    consent = ConsentInput(
        screening_id=record.screening_id, form_version="v1", consent_date=SCREENED_ON,
        taken_by=COORDINATOR,
    )  # fmt: skip
    pid = record_consent(trial.study, trial.actor(COORDINATOR), consent)
    enrolment = EnrolmentInput(screening_id=record.screening_id, enrolled_on=SCREENED_ON)
    enrol(trial.study, trial.actor(COORDINATOR), enrolment)  # her age recomputed from the seal
    identity = IdentityInput(
        participant_id=pid, full_name=NAME, national_id=NATIONAL_ID, phone=PHONE,
        hospital_record_number=RECORD,
    )  # fmt: skip
    record_identity(trial.study, trial.actor(COORDINATOR), identity)
    return pid


def test_identity_is_sealed_at_rest_and_read_back_by_her_team(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = _identified(trial)
    stored = _dump(engine)
    for secret in (NAME, NATIONAL_ID, PHONE, RECORD, BIRTH_DATE.isoformat()):
        assert secret not in stored, secret
    with engine.connect() as connection:
        (values,) = connection.execute(text("SELECT item_values FROM screenings")).one()
    values = json.loads(values) if isinstance(values, str) else values
    assert values["age_years"] == 34 and "birth_date" not in values  # the age stays
    view = participant_identity(trial.study, trial.actor(MONITOR), pid)
    assert view.values["full_name"] == NAME and view.values["birth_date"] == "1991-05-12"
    assert view.values["candidate_ref"] == CANDIDATE and view.erased_at is None


def test_identity_is_not_for_the_statistician_nor_another_site(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = _identified(trial)
    with pytest.raises(PermissionDenied):
        participant_identity(trial.study, trial.actor(STATISTICIAN), pid)
    site_b = add_site_b(trial)
    with pytest.raises(NotFoundError):
        participant_identity(trial.study, site_b.investigator, pid)


def test_erasure_leaves_nothing_identifying_and_the_trail_whole(
    engine: Engine, seed_protocol: Protocol, tmp_path: Path
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pid = _identified(trial)
    with pytest.raises(PermissionDenied):
        erase_identity(
            trial.study,
            trial.actor(COORDINATOR),
            ErasureInput(participant_id=pid, reason="her request to be forgotten"),
        )
    with pytest.raises(InvalidInput):
        erase_identity(
            trial.study, trial.actor(INVESTIGATOR), ErasureInput(participant_id=pid, reason="ok")
        )
    erasure = ErasureInput(participant_id=pid, reason="her written request under PIPL art. 47")
    erase_identity(trial.study, trial.actor(INVESTIGATOR), erasure)
    view = participant_identity(trial.study, trial.actor(INVESTIGATOR), pid)
    assert view.values == {} and view.erased_at is not None
    report = verify_everything(engine)
    assert report.ok and report.complete, str(report)
    # The sealed values are still in the trail, as ciphertext no key opens any more.
    stored = _dump(engine)
    for secret in (NAME, NATIONAL_ID, PHONE, RECORD, BIRTH_DATE.isoformat()):
        assert secret not in stored
    with pytest.raises(RuleViolation) as again:
        erase_identity(trial.study, trial.actor(INVESTIGATOR), erasure)
    assert again.value.code == "identity.erased"
    del tmp_path


def test_screening_with_the_same_id_finds_the_same_person(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    enrolled(trial, "SC-1")
    again = screen(
        trial.study,
        trial.actor(COORDINATOR),
        CandidateInput(candidate_ref="sc-1", items=eligible_items(), site_id=trial.site_id),
    )
    assert again.candidate_ref == "SC-1"
    pid = allocated(trial, "SC-2", "control")
    assert participant_identity(trial.study, trial.actor(COORDINATOR), pid).values == {
        "candidate_ref": "SC-2"
    }
