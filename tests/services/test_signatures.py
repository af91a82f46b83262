"""Issue 10: the investigator's sign-off is an electronic signature as 21 CFR Part 11 describes
it: her password asked again (11.200), the printed name, date-time and meaning kept and shown
(11.50), bound to a digest of what she signed (11.70); unlocking voids it and says so."""

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    PASSWORD,
    TRANSFER_DAY,
    Trial,
    allocated,
    audit_rows,
    refused,
    set_up_trial,
    sign_off,
    start_transfer_cycle,
)
from sqlalchemy import Engine

from endotrial.protocol import Protocol
from endotrial.services import (
    ParticipantSummary,
    SignatureMeaning,
    SignOffInput,
    UltrasoundCorrection,
    UltrasoundInput,
    correct_ultrasound,
    dry_run,
    lock_participant,
    participant_summary,
    record_ultrasound,
    sign_in,
    unlock_participant,
)
from endotrial.services.context import MAX_FAILED_SIGN_INS

WHY = "late hCG result from the outside laboratory to enter"


@pytest.fixture
def trial(engine: Engine, seed_protocol: Protocol) -> Trial:
    return set_up_trial(engine, seed_protocol)


def _summary(trial: Trial, pid: int) -> ParticipantSummary:
    return participant_summary(trial.study, trial.actor(COORDINATOR), pid)


def _sign(trial: Trial, pid: int, password: str = PASSWORD, **changes: object) -> None:
    signature = SignOffInput(participant_id=pid, password=password, **changes)
    lock_participant(trial.study, trial.actor(INVESTIGATOR), signature)


def test_the_sign_off_keeps_her_name_the_moment_and_the_meaning(trial: Trial) -> None:
    pid = allocated(trial, "c1", "control")
    assert _summary(trial, pid).signature is None
    _sign(trial, pid, meaning=SignatureMeaning.REVIEW)
    summary = _summary(trial, pid)
    signature = summary.signature
    assert summary.locked and signature is not None
    assert (signature.signed_by, signature.signer_name) == (INVESTIGATOR, "PI1")
    assert signature.meaning == "review" and not signature.voided
    assert signature.signed_at.tzinfo is not None
    assert len(signature.records_sha256) == 64 and signature.content_unchanged is True


def test_a_wrong_password_signs_nothing_and_counts_as_a_failed_sign_in(trial: Trial) -> None:
    pid = allocated(trial, "c1", "control")
    before = audit_rows(trial.engine)
    with refused("signature.password", field="password"):
        _sign(trial, pid, password="not her password")
    assert not _summary(trial, pid).locked and audit_rows(trial.engine) == before
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        with refused("signature.password"):
            _sign(trial, pid, password="guess")
    # Her open session cannot be used to guess on: signing and signing in are both throttled.
    with refused("auth.throttled"):
        _sign(trial, pid)
    with refused("auth.throttled"):
        sign_in(trial.study, INVESTIGATOR, PASSWORD)
    assert not _summary(trial, pid).locked


def test_the_right_password_clears_earlier_mistakes(trial: Trial) -> None:
    pid = allocated(trial, "c1", "control")
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        with refused("signature.password"):
            _sign(trial, pid, password="typo")
    _sign(trial, pid)
    sign_in(trial.study, INVESTIGATOR, PASSWORD)  # not throttled


def test_another_users_password_does_not_sign_for_her(trial: Trial) -> None:
    """The password is checked against the account of the session, whatever name is typed."""
    pid = allocated(trial, "c1", "control")
    with refused("signature.password"):
        _sign(trial, pid, password=PASSWORD + " but the coordinator's")
    with refused("auth.role"):
        lock_participant(trial.study, trial.actor(COORDINATOR), sign_off(pid))


def test_unlocking_voids_the_signature_and_says_who_when_and_why(trial: Trial) -> None:
    pid = allocated(trial, "c1", "control")
    start_transfer_cycle(trial, pid)
    scan = UltrasoundInput(participant_id=pid, scan_date=TRANSFER_DAY, thickness_mm=6.5)
    scan_id = record_ultrasound(trial.study, trial.actor(COORDINATOR), scan)
    _sign(trial, pid)
    unlock_participant(trial.study, trial.actor(INVESTIGATOR), pid, reason=WHY)
    voided = _summary(trial, pid).signature
    assert voided is not None and voided.voided and not _summary(trial, pid).locked
    assert (voided.voided_by, voided.void_reason) == (INVESTIGATOR, WHY)
    assert voided.content_unchanged is True
    correction = UltrasoundCorrection(scan_id=scan_id, thickness_mm=7.5, reason="typing slip")
    correct_ultrasound(trial.study, trial.actor(COORDINATOR), correction)
    changed = _summary(trial, pid).signature
    assert changed is not None and changed.content_unchanged is False  # not what was signed
    _sign(trial, pid)
    signed_again = _summary(trial, pid).signature
    assert signed_again is not None and not signed_again.voided
    assert signed_again.content_unchanged is True


def test_a_dry_run_checks_the_rules_but_never_the_password(trial: Trial) -> None:
    """A rehearsal must not be a way to guess her password without being throttled."""
    pid = allocated(trial, "c1", "control")
    bad = SignOffInput(participant_id=pid, password="anything at all")
    rehearsal = dry_run(lock_participant, trial.study, trial.actor(INVESTIGATOR), bad)
    assert rehearsal.accepted and not _summary(trial, pid).locked
    for _ in range(MAX_FAILED_SIGN_INS + 1):
        dry_run(lock_participant, trial.study, trial.actor(INVESTIGATOR), bad)
    sign_in(trial.study, INVESTIGATOR, PASSWORD)  # no attempt was counted


@pytest.mark.parametrize("given", [7, "7", None, {"participant_id": 7}])
def test_a_sign_off_must_be_its_input(trial: Trial, given: object) -> None:
    with refused("input.wrong_type"):
        lock_participant(trial.study, trial.actor(INVESTIGATOR), given)  # type: ignore[arg-type]
