"""Who may do what: every operation of the permission table, done by a role it allows and refused
(with nothing written) for a role it does not, an unknown username and a deactivated account."""

import datetime as dt
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    MONITOR,
    SCREENED_ON,
    TEAM,
    TRANSFER_DAY,
    TREATMENT_START,
    Trial,
    allocated,
    consented,
    eligible_items,
    enrolled,
    infusion,
    screened,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from endotrial import services
from endotrial.protocol import Protocol
from endotrial.services import (
    PERMISSIONS,
    AdverseEventInput,
    AllocationInput,
    CandidateInput,
    ConsentInput,
    DeviationInput,
    MedicationInput,
    Operation,
    OutcomeInput,
    PermissionDenied,
    QueryInput,
    RuleViolation,
    TeamMember,
    TransferInput,
    UltrasoundInput,
    WithdrawalInput,
    add_site,
    add_user,
    allocate,
    answer_query,
    authorize,
    close_query,
    correct_ultrasound,
    enrol,
    lock_participant,
    open_query,
    record_consent,
    record_deviation,
    record_medication,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
    report_adverse_event,
    screen,
    screen_many,
    set_account_active,
    start_cycle,
    unlock_participant,
    withdraw,
)
from endotrial.store import AuditEntry, Role

DEACTIVATED = "former.pi"
UNKNOWN = "nobody"
ON = dt.date(2025, 10, 14)

Act = Callable[[Trial, int, str], None]


@dataclass(frozen=True)
class Case:
    """One operation: a role that may and one that may not, the state it needs, the act."""

    allowed: Role
    refused: Role
    prepare: Callable[[Trial], int]
    act: Act
    services: tuple[Callable[..., object], ...]


def _nothing(trial: Trial) -> int:
    return 0


def _participant(trial: Trial) -> int:
    return allocated(trial, "c1", "control")


def _no_cycle_yet(trial: Trial) -> int:
    return allocated(trial, "c1", "control", start_treatment=False)


def _stem_cell_arm(trial: Trial) -> int:
    return allocated(trial, "c1", "hbmsc")


def _consented(trial: Trial) -> int:
    screening_id = screened(trial, "c1")
    consented(trial, screening_id)
    return screening_id


def _scan(trial: Trial) -> int:
    scan = UltrasoundInput(_participant(trial), ON, 6.5)
    return record_ultrasound(trial.engine, trial.protocol, scan, user=COORDINATOR)


def _in_transfer_cycle(trial: Trial) -> int:
    return start_transfer_cycle(trial, _participant(trial))


def _transferred(trial: Trial) -> int:
    transfer = TransferInput(_in_transfer_cycle(trial), TRANSFER_DAY, ("4AA",))
    return record_transfer(trial.engine, trial.protocol, transfer, user=COORDINATOR)


def _open_query(trial: Trial) -> int:
    question = QueryInput("participants", _participant(trial), "status", "source document?")
    return open_query(trial.engine, question, user=MONITOR)


def _answered_query(trial: Trial) -> int:
    query_id = _open_query(trial)
    answer_query(trial.engine, query_id, answer="checked", user=COORDINATOR)
    return query_id


def _locked(trial: Trial) -> int:
    pid = _participant(trial)
    lock_participant(trial.engine, pid, user=INVESTIGATOR)
    return pid


def _screen(t: Trial, _: int, user: str) -> None:
    screen(t.engine, t.protocol, CandidateInput("c9", eligible_items(), t.site_id), user=user)


def _consent(t: Trial, screening_id: int, user: str) -> None:
    consent = ConsentInput(screening_id, "v1.0", SCREENED_ON, COORDINATOR)
    record_consent(t.engine, consent, user=user)


def _enrol(t: Trial, screening_id: int, user: str) -> None:
    enrol(t.engine, t.protocol, screening_id=screening_id, enrolled_on=SCREENED_ON, user=user)


def _allocate(t: Trial, pid: int, user: str) -> None:
    allocation = AllocationInput(pid, "control", "participant preference", SCREENED_ON)
    allocate(t.engine, t.protocol, allocation, user=user)


def _start_cycle(t: Trial, pid: int, user: str) -> None:
    start_cycle(
        t.engine,
        t.protocol,
        participant_id=pid,
        cycle="treatment",
        start_date=TREATMENT_START,
        user=user,
    )


def _medication(t: Trial, pid: int, user: str) -> None:
    course = MedicationInput(pid, "tx_estradiol_valerate", ON, 2)
    record_medication(t.engine, t.protocol, course, user=user)


def _procedure(t: Trial, pid: int, user: str) -> None:
    record_procedure(t.engine, t.protocol, infusion(pid, 58_000_000), user=user)


def _ultrasound(t: Trial, pid: int, user: str) -> None:
    record_ultrasound(t.engine, t.protocol, UltrasoundInput(pid, ON, 6.5), user=user)


def _correct(t: Trial, scan_id: int, user: str) -> None:
    correct_ultrasound(t.engine, scan_id, thickness_mm=6.0, reason="typo", user=user)


def _transfer(t: Trial, pid: int, user: str) -> None:
    transfer = TransferInput(pid, TRANSFER_DAY, ("4AA",))
    record_transfer(t.engine, t.protocol, transfer, user=user)


def _outcome(t: Trial, transfer_id: int, user: str) -> None:
    facts = OutcomeInput(transfer_id, 250.0, TRANSFER_DAY + dt.timedelta(days=12))
    record_outcome(t.engine, t.protocol, facts, user=user)


def _adverse_event(t: Trial, pid: int, user: str) -> None:
    event = AdverseEventInput(pid, "Fever", 1, False, ON)
    report_adverse_event(t.engine, t.protocol, event, user=user)


def _deviation(t: Trial, pid: int, user: str) -> None:
    deviation = DeviationInput(ON, "visit window", "scan 3 days late", participant_id=pid)
    record_deviation(t.engine, deviation, user=user)


def _withdraw(t: Trial, pid: int, user: str) -> None:
    withdrawal = WithdrawalInput(pid, ON, "participant", "moved to another city")
    withdraw(t.engine, withdrawal, user=user)


def _open(t: Trial, pid: int, user: str) -> None:
    open_query(t.engine, QueryInput("participants", pid, "status", "?"), user=user)


def _answer(t: Trial, query_id: int, user: str) -> None:
    answer_query(t.engine, query_id, answer="checked against the CRF", user=user)


def _close(t: Trial, query_id: int, user: str) -> None:
    close_query(t.engine, query_id, user=user)


def _lock(t: Trial, pid: int, user: str) -> None:
    lock_participant(t.engine, pid, user=user)


def _unlock(t: Trial, pid: int, user: str) -> None:
    unlock_participant(t.engine, pid, reason="late lab result", user=user)


def _add_site(t: Trial, _: int, user: str) -> None:
    add_site(t.engine, code="GZ7", name="Second site", user=user)


def _add_user(t: Trial, _: int, user: str) -> None:
    member = TeamMember("coord2", "COORD2", Role.COORDINATOR, "correct horse battery")
    add_user(t.engine, member, site_id=t.site_id, user=user)


def _deactivate(t: Trial, _: int, user: str) -> None:
    set_account_active(t.engine, MONITOR, active=False, reason="left the team", user=user)


R = Role
CASES: dict[Operation, Case] = {
    Operation.SCREEN: Case(R.COORDINATOR, R.STATISTICIAN, _nothing, _screen, (screen, screen_many)),
    Operation.RECORD_CONSENT: Case(
        R.INVESTIGATOR, R.MONITOR, lambda t: screened(t, "c1"), _consent, (record_consent,)
    ),
    Operation.ENROL: Case(R.COORDINATOR, R.STATISTICIAN, _consented, _enrol, (enrol,)),
    Operation.ALLOCATE: Case(
        R.INVESTIGATOR, R.COORDINATOR, lambda t: enrolled(t, "c1"), _allocate, (allocate,)
    ),
    Operation.START_CYCLE: Case(
        R.COORDINATOR, R.EMBRYOLOGIST, _no_cycle_yet, _start_cycle, (start_cycle,)
    ),
    Operation.RECORD_MEDICATION: Case(
        R.INVESTIGATOR, R.CELL_LAB, _participant, _medication, (record_medication,)
    ),
    Operation.RECORD_PROCEDURE: Case(
        R.RADIOLOGIST, R.MONITOR, _stem_cell_arm, _procedure, (record_procedure,)
    ),
    Operation.RECORD_ULTRASOUND: Case(
        R.RADIOLOGIST, R.EMBRYOLOGIST, _participant, _ultrasound, (record_ultrasound,)
    ),
    Operation.CORRECT_ULTRASOUND: Case(
        R.COORDINATOR, R.MONITOR, _scan, _correct, (correct_ultrasound,)
    ),
    Operation.RECORD_TRANSFER: Case(
        R.EMBRYOLOGIST, R.RADIOLOGIST, _in_transfer_cycle, _transfer, (record_transfer,)
    ),
    Operation.RECORD_OUTCOME: Case(
        R.COORDINATOR, R.EMBRYOLOGIST, _transferred, _outcome, (record_outcome,)
    ),
    Operation.REPORT_ADVERSE_EVENT: Case(
        R.EMBRYOLOGIST, R.SAFETY_BOARD, _participant, _adverse_event, (report_adverse_event,)
    ),
    Operation.RECORD_DEVIATION: Case(
        R.MONITOR, R.RADIOLOGIST, _participant, _deviation, (record_deviation,)
    ),
    Operation.WITHDRAW: Case(R.COORDINATOR, R.MONITOR, _participant, _withdraw, (withdraw,)),
    Operation.OPEN_QUERY: Case(R.MONITOR, R.RADIOLOGIST, _participant, _open, (open_query,)),
    Operation.ANSWER_QUERY: Case(R.RADIOLOGIST, R.MONITOR, _open_query, _answer, (answer_query,)),
    Operation.CLOSE_QUERY: Case(R.MONITOR, R.COORDINATOR, _answered_query, _close, (close_query,)),
    Operation.LOCK: Case(R.INVESTIGATOR, R.COORDINATOR, _participant, _lock, (lock_participant,)),
    Operation.UNLOCK: Case(R.INVESTIGATOR, R.MONITOR, _locked, _unlock, (unlock_participant,)),
    Operation.ADD_SITE: Case(R.INVESTIGATOR, R.COORDINATOR, _nothing, _add_site, (add_site,)),
    Operation.ADD_USER: Case(R.INVESTIGATOR, R.COORDINATOR, _nothing, _add_user, (add_user,)),
    Operation.SET_ACCOUNT_ACTIVE: Case(
        R.INVESTIGATOR, R.MONITOR, _nothing, _deactivate, (set_account_active,)
    ),
}


def test_every_operation_has_a_case_and_every_acting_service_an_operation() -> None:
    """A new operation (or a new service taking `user`) fails here until it is tested below."""
    assert set(CASES) == set(PERMISSIONS) == set(Operation)
    acting = {
        name
        for name in services.__all__
        if inspect.isfunction(getattr(services, name))
        and "user" in inspect.signature(getattr(services, name)).parameters
    }
    assert acting == {f.__name__ for case in CASES.values() for f in case.services}
    for operation, case in CASES.items():
        assert case.allowed in PERMISSIONS[operation], operation
        assert case.refused not in PERMISSIONS[operation], operation


def _team(engine: Engine, protocol: Protocol) -> Trial:
    """One account per role, and a deactivated investigator."""
    trial = set_up_trial(engine, protocol)
    member = TeamMember(DEACTIVATED, "Former PI", Role.INVESTIGATOR, "correct horse battery")
    add_user(engine, member, site_id=trial.site_id, user=INVESTIGATOR)
    set_account_active(
        engine, DEACTIVATED, active=False, reason="left the study team", user=INVESTIGATOR
    )
    return trial


def _audit_rows(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _written_by(engine: Engine, since: int) -> set[str]:
    with Session(engine) as session:
        query = select(AuditEntry.username).where(AuditEntry.seq > since)
        return set(session.scalars(query))


def _last_seq(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.max(AuditEntry.seq))) or 0)


@pytest.mark.parametrize("operation", list(CASES), ids=[o.name.lower() for o in CASES])
def test_operation_is_refused_to_other_roles_and_done_by_an_allowed_one(
    engine: Engine, seed_protocol: Protocol, operation: Operation
) -> None:
    case = CASES[operation]
    trial = _team(engine, seed_protocol)
    state = case.prepare(trial)
    before, last = _audit_rows(engine), _last_seq(engine)
    for user in (TEAM[case.refused], UNKNOWN, DEACTIVATED):
        with pytest.raises(PermissionDenied, match=str(operation)):
            case.act(trial, state, user)
        assert _audit_rows(engine) == before, f"{user} was refused but something was written"
    case.act(trial, state, TEAM[case.allowed])
    assert _audit_rows(engine) > before
    assert _written_by(engine, last) == {TEAM[case.allowed]}


def test_refusal_names_operation_user_role_and_the_roles_that_may(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = _team(engine, seed_protocol)
    pid = _stem_cell_arm(trial)
    with pytest.raises(PermissionDenied) as refused:
        _procedure(trial, pid, MONITOR)
    assert str(refused.value) == (
        "'monitor1' (monitor) may not record the infusion procedure: only an active "
        "investigator or radiologist may"
    )
    with pytest.raises(PermissionDenied, match="'nobody' has no account and may not enrol"):
        _enrol(trial, 1, UNKNOWN)
    with pytest.raises(PermissionDenied, match=r"'former.pi' \(investigator\) is deactivated"):
        _screen(trial, 0, DEACTIVATED)


def test_authorize_follows_the_table_for_every_role(
    engine: Engine, seed_protocol: Protocol
) -> None:
    _team(engine, seed_protocol)
    with Session(engine) as session:
        for operation, roles in PERMISSIONS.items():
            for role, username in TEAM.items():
                if role in roles:
                    assert authorize(session, username, operation).role is role
                else:
                    with pytest.raises(PermissionDenied):
                        authorize(session, username, operation)


def test_statistician_and_safety_board_write_nothing() -> None:
    """They analyse and review; their independence depends on writing no trial data."""
    for roles in PERMISSIONS.values():
        assert not roles & {Role.STATISTICIAN, Role.SAFETY_BOARD, Role.CELL_LAB}


def test_a_new_installation_starts_with_an_investigator(engine: Engine) -> None:
    """While no account exists anyone may add the site and the first account, which must be an
    investigator's; from then on the table applies."""
    coordinator = TeamMember("coord1", "Coordinator", Role.COORDINATOR, "correct horse battery")
    investigator = TeamMember("pi1", "Investigator", Role.INVESTIGATOR, "correct horse battery")
    with pytest.raises(PermissionDenied, match="first account must be an investigator"):
        add_user(engine, coordinator, site_id=None, user="installer")
    assert _audit_rows(engine) == 0
    site_id = add_site(engine, code="GZ6", name="Sixth Affiliated Hospital", user="installer")
    add_user(engine, investigator, site_id=site_id, user="installer")
    with pytest.raises(PermissionDenied, match="'installer' has no account"):
        add_user(engine, coordinator, site_id=site_id, user="installer")
    with pytest.raises(PermissionDenied, match="'installer' has no account"):
        add_site(engine, code="GZ7", name="Second site", user="installer")
    add_user(engine, coordinator, site_id=site_id, user="pi1")


def test_a_deactivated_account_can_do_nothing_until_reactivated(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    with pytest.raises(RuleViolation, match="give the reason"):
        set_account_active(engine, MONITOR, active=False, reason=" ", user=INVESTIGATOR)
    set_account_active(engine, MONITOR, active=False, reason="left the team", user=INVESTIGATOR)
    question = QueryInput("participants", _participant(trial), "status", "source?")
    with pytest.raises(PermissionDenied, match="deactivated"):
        open_query(engine, question, user=MONITOR)
    with pytest.raises(RuleViolation, match="already deactivated"):
        set_account_active(engine, MONITOR, active=False, reason="again", user=INVESTIGATOR)
    with pytest.raises(RuleViolation, match="last active investigator"):
        set_account_active(engine, INVESTIGATOR, active=False, reason="leaving", user=INVESTIGATOR)
    set_account_active(engine, MONITOR, active=True, reason="back on the trial", user=INVESTIGATOR)
    assert open_query(engine, question, user=MONITOR) > 0


def test_a_site_team_works_on_its_own_sites_data(engine: Engine, seed_protocol: Protocol) -> None:
    """A coordinator of a second site can neither screen for nor record on the first site's
    participants; a monitor attached to no site (central monitoring) may query any site."""
    trial = set_up_trial(engine, seed_protocol)
    pid = _participant(trial)
    other_site = add_site(engine, code="GZ7", name="Second site", user=INVESTIGATOR)
    member = TeamMember("coord.gz7", "Coordinator GZ7", Role.COORDINATOR, "correct horse battery")
    add_user(engine, member, site_id=other_site, user=INVESTIGATOR)
    central = TeamMember("cra.central", "Central CRA", Role.MONITOR, "correct horse battery")
    add_user(engine, central, site_id=None, user=INVESTIGATOR)
    before = _audit_rows(engine)
    scan = UltrasoundInput(pid, ON, 6.5)
    with pytest.raises(PermissionDenied, match="works at site GZ7 and may not change participant"):
        record_ultrasound(engine, seed_protocol, scan, user="coord.gz7")
    candidate = CandidateInput("c9", eligible_items(), trial.site_id)
    with pytest.raises(PermissionDenied, match="may not change candidate c9 of site GZ6"):
        screen(engine, seed_protocol, candidate, user="coord.gz7")
    assert _audit_rows(engine) == before
    question = QueryInput("participants", pid, "status", "source document?")
    assert open_query(engine, question, user="cra.central") > 0
