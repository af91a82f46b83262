"""Who may do what: every operation of the permission table, done by a role it allows and refused
(with nothing written) for a role it does not, a forged or ended sign-in and a deactivated
account."""

import datetime as dt
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from measure_helpers import AT_3M, BASELINE, before_after_participant, before_after_protocol
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    MONITOR,
    PASSWORD,
    SCREENED_ON,
    TEAM,
    TRANSFER_DAY,
    TREATMENT_START,
    Trial,
    allocated,
    audit_rows,
    consented,
    eligible_items,
    enrolled,
    infusion,
    refused,
    screened,
    set_up_trial,
    sign_off,
    start_transfer_cycle,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from endotrial import services
from endotrial.protocol import Protocol
from endotrial.services import (
    PERMISSIONS,
    Actor,
    AdverseEventInput,
    AllocationInput,
    CandidateInput,
    ConsentInput,
    CycleStartInput,
    DeviationInput,
    EnrolmentInput,
    ErasureInput,
    IdentityInput,
    InvalidInput,
    MeasurementCorrection,
    MeasurementInput,
    MedicationInput,
    MembershipInput,
    NotFoundError,
    NotSignedIn,
    Operation,
    OutcomeInput,
    PermissionDenied,
    QueryAnswer,
    QueryClosure,
    QueryInput,
    RuleViolation,
    SiteInput,
    Study,
    TeamMember,
    TransferInput,
    UltrasoundCorrection,
    UltrasoundInput,
    VisitInput,
    WithdrawalInput,
    add_site,
    add_user,
    adverse_events,
    allocate,
    answer_query,
    close_query,
    correct_measurement,
    correct_ultrasound,
    dashboard,
    data_queries,
    enrol,
    erase_identity,
    import_screenings,
    is_locked,
    list_queries,
    lock_participant,
    may_read_safety_monitoring,
    medication,
    my_account,
    open_query,
    outcome_measures,
    participant_identity,
    participant_page,
    participant_queries,
    participant_records,
    participant_summary,
    participant_timeline,
    participants,
    pregnancy_outcome,
    record_consent,
    record_deviation,
    record_identity,
    record_measurement,
    record_medication,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
    record_visit,
    report_adverse_event,
    safety_monitoring,
    screen,
    screen_many,
    screening_log,
    set_account_active,
    set_my_language,
    set_site_membership,
    set_up_study,
    sign_in,
    sign_out,
    start_cycle,
    team,
    unblock_sign_in,
    unlock_participant,
    visits_due,
    withdraw,
)
from endotrial.services.permissions import authorize
from endotrial.store import AuditEntry, EmbryoTransfer, Measurement, Role, User

DEACTIVATED = "former.pi"
ON = dt.date(2025, 10, 14)
#: Operations that only read: every role reads the trial's data of her sites.
READS = frozenset(o for o in Operation if o.name.startswith("READ_"))
#: Writes of trial data (choosing the language of her own pages is her account's, not the trial's).
WRITES = frozenset(Operation) - READS - {Operation.SET_OWN_LANGUAGE}

Act = Callable[[Trial, int, Actor], object]


@dataclass(frozen=True)
class Case:
    """One operation: a role that may and one that may not (None: every role may), the state
    it needs, the act."""

    allowed: Role
    refused: Role | None
    prepare: Callable[[Trial], int]
    act: Act
    services: tuple[Callable[..., object], ...]
    protocol: Callable[[], Protocol] | None = None
    """The protocol the case needs, when not the seed's (an outcome measure: the seed has none)."""


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
    scan = UltrasoundInput(participant_id=_participant(trial), scan_date=ON, thickness_mm=6.5)
    return record_ultrasound(trial.study, trial.actor(COORDINATOR), scan)


def _in_transfer_cycle(trial: Trial) -> int:
    return start_transfer_cycle(trial, _participant(trial))


def _transferred(trial: Trial) -> int:
    transfer = TransferInput(
        participant_id=_in_transfer_cycle(trial), transfer_date=TRANSFER_DAY, embryo_grades=["4AA"]
    )
    return record_transfer(trial.study, trial.actor(COORDINATOR), transfer)


def _open_query(trial: Trial) -> int:
    question = QueryInput(
        entity="participants", row_id=_participant(trial), field="status", text="source?"
    )
    return open_query(trial.study, trial.actor(MONITOR), question)


def _answered_query(trial: Trial) -> int:
    query_id = _open_query(trial)
    answer = QueryAnswer(query_id=query_id, answer="checked against the CRF")
    answer_query(trial.study, trial.actor(COORDINATOR), answer)
    return query_id


def _locked(trial: Trial) -> int:
    pid = _participant(trial)
    lock_participant(trial.study, trial.actor(INVESTIGATOR), sign_off(pid))
    return pid


def _screen(t: Trial, _: int, actor: Actor) -> None:
    candidate = CandidateInput(candidate_ref="c9", items=eligible_items(), site_id=t.site_id)
    screen(t.study, actor, candidate)


def _consent(t: Trial, screening_id: int, actor: Actor) -> None:
    consent = ConsentInput(
        screening_id=screening_id,
        form_version="v1.0",
        consent_date=SCREENED_ON,
        taken_by=COORDINATOR,
    )
    record_consent(t.study, actor, consent)


def _enrol(t: Trial, screening_id: int, actor: Actor) -> None:
    enrol(t.study, actor, EnrolmentInput(screening_id=screening_id, enrolled_on=SCREENED_ON))


def _allocate(t: Trial, pid: int, actor: Actor) -> None:
    allocation = AllocationInput(
        participant_id=pid, arm="control", basis="participant preference", allocated_on=SCREENED_ON
    )
    allocate(t.study, actor, allocation)


def _start_cycle(t: Trial, pid: int, actor: Actor) -> None:
    start = CycleStartInput(participant_id=pid, cycle="treatment", start_date=TREATMENT_START)
    start_cycle(t.study, actor, start)


def _medication(t: Trial, pid: int, actor: Actor) -> None:
    course = MedicationInput(
        participant_id=pid, regimen_id="tx_estradiol_valerate", taken_on=ON, doses_taken=2
    )
    record_medication(t.study, actor, course)


def _procedure(t: Trial, pid: int, actor: Actor) -> None:
    record_procedure(t.study, actor, infusion(pid, 58_000_000))


def _ultrasound(t: Trial, pid: int, actor: Actor) -> None:
    record_ultrasound(
        t.study, actor, UltrasoundInput(participant_id=pid, scan_date=ON, thickness_mm=6.5)
    )


def _measured_participant(trial: Trial) -> int:
    """A participant of the before-after protocol, her baseline thickness measured: the id
    of the measurement."""
    pid = before_after_participant(trial)
    given = MeasurementInput(participant_id=pid, event_id="baseline_scan", item="thickness_mm",
                             value=4.2, measured_date=BASELINE)  # fmt: skip
    return record_measurement(trial.study, trial.actor(COORDINATOR), given)


def _measurement(t: Trial, measurement_id: int, actor: Actor) -> None:
    with Session(t.engine) as session:
        pid = session.get_one(Measurement, measurement_id).participant_id
    given = MeasurementInput(participant_id=pid, event_id="follow_up_3m", item="thickness_mm",
                             value=5.1, measured_date=AT_3M)  # fmt: skip
    record_measurement(t.study, actor, given)


def _correct_measurement(t: Trial, measurement_id: int, actor: Actor) -> None:
    correction = MeasurementCorrection(
        measurement_id=measurement_id, value=4.4, reason="transcription error, report p.2"
    )
    correct_measurement(t.study, actor, correction)


def _visit(t: Trial, pid: int, actor: Actor) -> None:
    visit = VisitInput(participant_id=pid, event_id="pregnancy_28_weeks", visit_date=ON)
    record_visit(t.study, actor, visit)


def _correct(t: Trial, scan_id: int, actor: Actor) -> None:
    correction = UltrasoundCorrection(
        scan_id=scan_id, thickness_mm=6.0, reason="transcription error, source document p.3"
    )
    correct_ultrasound(t.study, actor, correction)


def _transfer(t: Trial, pid: int, actor: Actor) -> None:
    transfer = TransferInput(participant_id=pid, transfer_date=TRANSFER_DAY, embryo_grades=["4AA"])
    record_transfer(t.study, actor, transfer)


def _outcome(t: Trial, transfer_id: int, actor: Actor) -> None:
    facts = OutcomeInput(
        transfer_id=transfer_id,
        beta_hcg_miu_ml=250.0,
        beta_hcg_date=TRANSFER_DAY + dt.timedelta(days=12),
    )
    record_outcome(t.study, actor, facts)


def _adverse_event(t: Trial, pid: int, actor: Actor) -> None:
    event = AdverseEventInput(
        participant_id=pid, term="Fever", ctcae_grade=1, serious=False, onset_date=ON
    )
    report_adverse_event(t.study, actor, event)


def _deviation(t: Trial, pid: int, actor: Actor) -> None:
    deviation = DeviationInput(
        occurred_on=ON, category="visit window", description="scan 3 days late", participant_id=pid
    )
    record_deviation(t.study, actor, deviation)


def _withdraw(t: Trial, pid: int, actor: Actor) -> None:
    withdrawal = WithdrawalInput(
        participant_id=pid, withdrawn_on=ON, initiated_by="participant", reason="moved away"
    )
    withdraw(t.study, actor, withdrawal)


def _open(t: Trial, pid: int, actor: Actor) -> None:
    question = QueryInput(entity="participants", row_id=pid, field="status", text="?")
    open_query(t.study, actor, question)


def _answer(t: Trial, query_id: int, actor: Actor) -> None:
    answer_query(t.study, actor, QueryAnswer(query_id=query_id, answer="checked against the CRF"))


def _close(t: Trial, query_id: int, actor: Actor) -> None:
    close_query(t.study, actor, QueryClosure(query_id=query_id))


def _lock(t: Trial, pid: int, actor: Actor) -> None:
    lock_participant(t.study, actor, sign_off(pid))


def _unlock(t: Trial, pid: int, actor: Actor) -> None:
    unlock_participant(t.study, actor, pid, reason="late lab result to enter")


def _add_site(t: Trial, _: int, actor: Actor) -> None:
    add_site(t.study, actor, SiteInput(code="GZ7", name="Second site"))


def _add_user(t: Trial, _: int, actor: Actor) -> None:
    member = TeamMember(
        username="coord2",
        full_name="COORD2",
        role=Role.COORDINATOR,
        password=PASSWORD,
        site_id=t.site_id,
    )
    add_user(t.study, actor, member)


def _deactivate(t: Trial, _: int, actor: Actor) -> None:
    set_account_active(t.study, actor, MONITOR, active=False, reason="left the study team")


def _second_site(t: Trial) -> int:
    return add_site(t.study, t.actor(INVESTIGATOR), SiteInput(code="SZ2", name="Second"))


def _add_membership(t: Trial, site_id: int, actor: Actor) -> None:
    change = MembershipInput(
        username=MONITOR, site_id=site_id, member=True, reason="monitors the second site too"
    )
    set_site_membership(t.study, actor, change)


def _record_identity(t: Trial, pid: int, actor: Actor) -> None:
    identity = IdentityInput(participant_id=pid, full_name="Li Hua", phone="+86 20 1234 5678")
    record_identity(t.study, actor, identity)


def _read_identity(t: Trial, pid: int, actor: Actor) -> object:
    return participant_identity(t.study, actor, pid)


def _erase_identity(t: Trial, pid: int, actor: Actor) -> None:
    erasure = ErasureInput(participant_id=pid, reason="her written request to be forgotten")
    erase_identity(t.study, actor, erasure)


def _unblock(t: Trial, _: int, actor: Actor) -> None:
    unblock_sign_in(t.study, actor, MONITOR, reason="her colleague mistyped her username")


def _read_trial_data(t: Trial, transfer_id: int, actor: Actor) -> object:
    with Session(t.engine) as session:
        pid = session.get_one(EmbryoTransfer, transfer_id).participant_id
    return pregnancy_outcome(t.study, actor, transfer_id), is_locked(t.study, actor, pid)


def _read_queries(t: Trial, query_id: int, actor: Actor) -> object:
    views = list_queries(t.study, actor)
    assert [v.query_id for v in views] == [query_id]
    assert data_queries(t.study, actor) == tuple(views)
    return participant_queries(t.study, actor, views[0].participant_id or 0)


def _read_participant(t: Trial, pid: int, actor: Actor) -> object:
    assert [s.participant_id for s in participants(t.study, actor)] == [pid]
    return (
        participant_summary(t.study, actor, pid),
        participant_timeline(t.study, actor, pid),
        participant_records(t.study, actor, pid),
        outcome_measures(t.study, actor, pid),
        participant_page(t.study, actor, pid),
    )


def _set_language(t: Trial, pid: int, actor: Actor) -> object:
    set_my_language(t.study, actor, "zh_Hans")
    return my_account(t.study, actor).language


def _read_account(t: Trial, pid: int, actor: Actor) -> object:
    return my_account(t.study, actor)


def _read_team(t: Trial, pid: int, actor: Actor) -> object:
    return team(t.study, actor)


def _read_screening_log(t: Trial, pid: int, actor: Actor) -> object:
    return screening_log(t.study, actor)


def _read_adverse_events(t: Trial, pid: int, actor: Actor) -> object:
    return adverse_events(t.study, actor, participant_id=pid)


def _read_medication(t: Trial, pid: int, actor: Actor) -> object:
    return medication(t.study, actor, pid)


def _read_visits_due(t: Trial, pid: int, actor: Actor) -> object:
    return visits_due(t.study, actor)


def _read_dashboard(t: Trial, pid: int, actor: Actor) -> object:
    return dashboard(t.study, actor)


def _read_safety_monitoring(t: Trial, pid: int, actor: Actor) -> object:
    return safety_monitoring(t.study, actor)


R = Role
CASES: dict[Operation, Case] = {
    Operation.SCREEN: Case(
        R.COORDINATOR, R.STATISTICIAN, _nothing, _screen, (screen, screen_many, import_screenings)
    ),
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
    Operation.RECORD_VISIT: Case(
        R.COORDINATOR, R.RADIOLOGIST, _participant, _visit, (record_visit,)
    ),
    Operation.RECORD_MEASUREMENT: Case(
        R.RADIOLOGIST,
        R.EMBRYOLOGIST,
        _measured_participant,
        _measurement,
        (record_measurement,),
        before_after_protocol,
    ),
    Operation.CORRECT_MEASUREMENT: Case(
        R.COORDINATOR,
        R.MONITOR,
        _measured_participant,
        _correct_measurement,
        (correct_measurement,),
        before_after_protocol,
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
    Operation.SET_SITE_MEMBERSHIP: Case(
        R.INVESTIGATOR, R.COORDINATOR, _second_site, _add_membership, (set_site_membership,)
    ),
    Operation.RECORD_IDENTITY: Case(
        R.COORDINATOR, R.RADIOLOGIST, _participant, _record_identity, (record_identity,)
    ),
    Operation.READ_IDENTITY: Case(
        R.MONITOR, R.STATISTICIAN, _participant, _read_identity, (participant_identity,)
    ),
    Operation.ERASE_IDENTITY: Case(
        R.INVESTIGATOR, R.COORDINATOR, _participant, _erase_identity, (erase_identity,)
    ),
    Operation.UNBLOCK_SIGN_IN: Case(
        R.INVESTIGATOR, R.COORDINATOR, _nothing, _unblock, (unblock_sign_in,)
    ),
    Operation.READ_TRIAL_DATA: Case(
        R.STATISTICIAN, None, _transferred, _read_trial_data, (pregnancy_outcome, is_locked)
    ),
    Operation.READ_QUERIES: Case(
        R.SAFETY_BOARD,
        None,
        _open_query,
        _read_queries,
        (list_queries, participant_queries, data_queries),
    ),
    Operation.READ_PARTICIPANTS: Case(
        R.RADIOLOGIST,
        R.STATISTICIAN,
        _participant,
        _read_participant,
        (
            participants,
            participant_summary,
            participant_timeline,
            participant_records,
            outcome_measures,
            participant_page,
        ),
    ),
    Operation.READ_SCREENING_LOG: Case(
        R.MONITOR, R.RADIOLOGIST, _participant, _read_screening_log, (screening_log,)
    ),
    Operation.READ_ADVERSE_EVENTS: Case(
        R.SAFETY_BOARD, R.STATISTICIAN, _participant, _read_adverse_events, (adverse_events,)
    ),
    Operation.READ_MEDICATION: Case(
        R.EMBRYOLOGIST, R.CELL_LAB, _participant, _read_medication, (medication,)
    ),
    Operation.READ_VISITS_DUE: Case(
        R.CELL_LAB, R.STATISTICIAN, _participant, _read_visits_due, (visits_due,)
    ),
    Operation.READ_DASHBOARD: Case(
        R.STATISTICIAN, None, _participant, _read_dashboard, (dashboard,)
    ),
    Operation.SET_OWN_LANGUAGE: Case(
        R.SAFETY_BOARD, None, _nothing, _set_language, (set_my_language,)
    ),
    Operation.READ_OWN_ACCOUNT: Case(R.CELL_LAB, None, _nothing, _read_account, (my_account,)),
    Operation.READ_TEAM: Case(R.INVESTIGATOR, R.COORDINATOR, _nothing, _read_team, (team,)),
    Operation.READ_SAFETY_MONITORING: Case(
        R.SAFETY_BOARD,
        R.MONITOR,
        _participant,
        _read_safety_monitoring,
        (safety_monitoring, may_read_safety_monitoring),
    ),
}


def test_every_operation_has_a_case_and_every_acting_service_an_operation() -> None:
    """A new operation (or a new service taking an `actor`) fails here until it is tested
    below; signing out is the actor ending her own session, no operation on trial data.
    `correct_record` acts under the operation that records each kind and `dry_run` under the
    operation it rehearses: their roles are tested in test_corrections and test_dry_run;
    `permitted` answers for the operation it is given (test_web_queries uses it), and
    `permitted_operations` lists them all (test_permitted_operations)."""
    assert set(CASES) == set(PERMISSIONS) == set(Operation)
    acting = {
        name
        for name in services.__all__
        if inspect.isfunction(getattr(services, name))
        and "actor" in inspect.signature(getattr(services, name)).parameters
    }
    assert acting - {
        "sign_out",
        "correct_record",
        "dry_run",
        "permitted",
        "permitted_operations",
    } == {f.__name__ for case in CASES.values() for f in case.services}
    for operation, case in CASES.items():
        assert case.allowed in PERMISSIONS[operation], operation
        if case.refused is None:
            assert PERMISSIONS[operation] == frozenset(Role), operation
        else:
            assert case.refused not in PERMISSIONS[operation], operation


def _team(engine: Engine, protocol: Protocol) -> tuple[Trial, Actor]:
    """One signed-in account per role, and an investigator who signed in and was then
    deactivated (her session is returned: it must no longer work)."""
    trial = set_up_trial(engine, protocol)
    for username in TEAM.values():
        trial.actor(username)
    member = TeamMember(
        username=DEACTIVATED,
        full_name="Former PI",
        role=Role.INVESTIGATOR,
        password=PASSWORD,
        site_id=trial.site_id,
    )
    add_user(trial.study, trial.actor(INVESTIGATOR), member)
    former = sign_in(trial.study, DEACTIVATED, PASSWORD)
    set_account_active(
        trial.study, trial.actor(INVESTIGATOR), DEACTIVATED, active=False, reason="left the team"
    )
    return trial, former


def _written_by(engine: Engine, since: int) -> set[str]:
    with Session(engine) as session:
        query = select(AuditEntry.username).where(AuditEntry.seq > since)
        return set(session.scalars(query))


def _last_seq(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.max(AuditEntry.seq))) or 0)


def _signed_out(study: Study, username: str) -> Actor:
    actor = sign_in(study, username, PASSWORD)
    sign_out(study, actor)
    return actor


@pytest.mark.parametrize("operation", list(CASES), ids=[o.name.lower() for o in CASES])
def test_operation_is_refused_to_other_roles_and_done_by_an_allowed_one(
    engine: Engine, seed_protocol: Protocol, operation: Operation
) -> None:
    case = CASES[operation]
    trial, former = _team(engine, case.protocol() if case.protocol else seed_protocol)
    state = case.prepare(trial)
    allowed = trial.actor(TEAM[case.allowed])
    signed_out = _signed_out(trial.study, TEAM[case.allowed])
    before, last = audit_rows(engine), _last_seq(engine)
    if case.refused is not None:
        with refused("auth.role", kind=PermissionDenied) as caught:
            case.act(trial, state, trial.actor(TEAM[case.refused]))
        assert str(operation) in str(caught.value)
    forged = Actor(TEAM[case.allowed], "not-a-token")
    for actor in (forged, signed_out, former):
        with refused("auth.not_signed_in", kind=NotSignedIn):
            case.act(trial, state, actor)
    assert audit_rows(engine) == before, "a refused actor wrote something"
    case.act(trial, state, allowed)
    if operation in READS or operation is Operation.UNBLOCK_SIGN_IN:  # writes no trial data
        assert audit_rows(engine) == before
    else:
        assert audit_rows(engine) > before
        assert _written_by(engine, last) == {TEAM[case.allowed]}


def test_refusal_names_operation_user_role_and_the_roles_that_may(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial, former = _team(engine, seed_protocol)
    pid = _stem_cell_arm(trial)
    with refused("auth.role", kind=PermissionDenied) as caught:
        _procedure(trial, pid, trial.actor(MONITOR))
    assert str(caught.value) == (
        "'monitor1' (monitor) may not record the infusion procedure: only an active "
        "investigator or radiologist may"
    )
    with refused("auth.not_signed_in", kind=NotSignedIn) as caught:
        is_locked(trial.study, Actor("nobody", "not-a-token"), pid)
    assert "needs a signed-in team member" in str(caught.value)
    with refused("auth.not_signed_in", kind=NotSignedIn):
        is_locked(trial.study, former, pid)
    with refused("auth.bad_credentials", kind=NotSignedIn):
        sign_in(trial.study, DEACTIVATED, PASSWORD)


def test_authorize_follows_the_table_for_every_role(
    engine: Engine, seed_protocol: Protocol
) -> None:
    _team(engine, seed_protocol)
    with Session(engine) as session:
        for operation, roles in PERMISSIONS.items():
            for role, username in TEAM.items():
                user = session.scalars(select(User).where(User.username == username)).one()
                if role in roles:
                    authorize(user, operation)
                else:
                    with refused("auth.role", kind=PermissionDenied):
                        authorize(user, operation)
            former = session.scalars(select(User).where(User.username == DEACTIVATED)).one()
            with refused("auth.deactivated", kind=PermissionDenied):
                authorize(former, operation)


def test_statistician_and_safety_board_write_nothing() -> None:
    """They analyse and review; their independence depends on writing no trial data."""
    for operation in WRITES:
        assert not PERMISSIONS[operation] & {Role.STATISTICIAN, Role.SAFETY_BOARD, Role.CELL_LAB}


def test_a_new_installation_starts_with_an_investigator(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """On a new database the first site and account are set up without signing in, and the
    account must be an investigator's (central: attached to no site); from then on she signs in
    and the table applies."""
    study = Study(engine, seed_protocol)
    site = SiteInput(code="GZ6", name="Sixth Affiliated Hospital")
    coordinator = TeamMember(
        username="coord1", full_name="Coordinator", role=Role.COORDINATOR, password=PASSWORD
    )
    site_coordinator = TeamMember(
        username="coord1",
        full_name="Coordinator",
        role=Role.COORDINATOR,
        password=PASSWORD,
        site_id=1,
    )
    investigator = TeamMember(
        username="pi1", full_name="Investigator", role=Role.INVESTIGATOR, password=PASSWORD
    )
    with refused("setup.first_account", field="role", kind=PermissionDenied) as caught:
        set_up_study(study, site, coordinator)
    assert "first account must be an investigator" in str(caught.value)
    assert audit_rows(engine) == 0
    pi = set_up_study(study, site, investigator)
    with refused("setup.done", kind=NotSignedIn):
        set_up_study(study, SiteInput(code="GZ7", name="Second site"), investigator)
    with Session(engine) as session:
        account = session.scalars(select(User)).one()
        assert (account.username, account.role, account.site_id) == (
            "pi1",
            Role.INVESTIGATOR,
            None,
        )
    add_user(study, pi, site_coordinator)
    assert sign_in(study, "coord1", PASSWORD).username == "coord1"


def test_a_deactivated_account_can_do_nothing_until_reactivated(
    engine: Engine, seed_protocol: Protocol
) -> None:
    trial = set_up_trial(engine, seed_protocol)
    pi = trial.actor(INVESTIGATOR)
    monitor = trial.actor(MONITOR)
    for says_nothing in (" ", "ok", "done"):
        with refused("input.reason_required", field="reason", kind=InvalidInput):
            set_account_active(trial.study, pi, MONITOR, active=False, reason=says_nothing)
    set_account_active(trial.study, pi, MONITOR, active=False, reason="left the team")
    question = QueryInput(
        entity="participants", row_id=_participant(trial), field="status", text="source?"
    )
    with refused("auth.not_signed_in", kind=NotSignedIn):
        open_query(trial.study, monitor, question)  # her session ended with the account
    with refused("auth.bad_credentials", kind=NotSignedIn):
        sign_in(trial.study, MONITOR, PASSWORD)
    with refused("account.already", field="active", kind=RuleViolation):
        set_account_active(trial.study, pi, MONITOR, active=False, reason="left the team twice")
    with refused("account.last_investigator", field="username", kind=RuleViolation):
        set_account_active(
            trial.study, pi, INVESTIGATOR, active=False, reason="leaving the study team"
        )
    set_account_active(trial.study, pi, MONITOR, active=True, reason="back on the trial")
    assert open_query(trial.study, sign_in(trial.study, MONITOR, PASSWORD), question) > 0


def test_a_site_team_works_on_its_own_sites_data(engine: Engine, seed_protocol: Protocol) -> None:
    """A coordinator of a second site can neither screen for nor record on the first site's
    participants; a monitor attached to no site (central monitoring) may query any site."""
    trial = set_up_trial(engine, seed_protocol)
    pi = trial.actor(INVESTIGATOR)
    pid = _participant(trial)
    other_site = add_site(trial.study, pi, SiteInput(code="GZ7", name="Second site"))
    for username, role, site_id in (
        ("coord.gz7", Role.COORDINATOR, other_site),
        ("cra.central", Role.MONITOR, None),
    ):
        member = TeamMember(
            username=username, full_name=username, role=role, password=PASSWORD, site_id=site_id
        )
        add_user(trial.study, pi, member)
    other = sign_in(trial.study, "coord.gz7", PASSWORD)
    central = sign_in(trial.study, "cra.central", PASSWORD)
    before = audit_rows(engine)
    scan = UltrasoundInput(participant_id=pid, scan_date=ON, thickness_mm=6.5)
    with refused("record.not_found", kind=NotFoundError) as caught:
        record_ultrasound(trial.study, other, scan)
    assert "GZ6" not in str(caught.value)  # another site's records are not found, not named
    candidate = CandidateInput(candidate_ref="c9", items=eligible_items(), site_id=trial.site_id)
    with refused("auth.other_site", kind=PermissionDenied) as caught:
        screen(trial.study, other, candidate)
    assert "candidate C9 of site GZ6" in str(caught.value)  # she named that site herself
    assert audit_rows(engine) == before
    question = QueryInput(entity="participants", row_id=pid, field="status", text="source?")
    assert open_query(trial.study, central, question) > 0
