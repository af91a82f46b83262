"""Dry runs: any operation checked as a save would be, nothing kept (issue 8).

The database (every table, the SQLite file byte for byte) and the checkpoint log must be the
same after dry runs of every write operation, accepted and refused, as before them.
"""

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from services_helpers import (
    COORDINATOR,
    DAY_10,
    EMBRYOLOGIST,
    INVESTIGATOR,
    MONITOR,
    PASSWORD,
    RADIOLOGIST,
    SCREENED_ON,
    STATISTICIAN,
    TRANSFER_DAY,
    TREATMENT_START,
    Trial,
    allocated,
    consented,
    enrolled,
    infusion,
    screened,
    set_up_trial,
    sign_off,
    start_transfer_cycle,
)
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from endotrial.protocol import Protocol
from endotrial.services import (
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
    MedicationInput,
    MembershipInput,
    OutcomeInput,
    ProcedureRecord,
    QueryAnswer,
    QueryClosure,
    QueryInput,
    SignOffInput,
    SiteInput,
    TeamMember,
    TransferInput,
    UltrasoundCorrection,
    UltrasoundInput,
    WithdrawalInput,
    add_site,
    add_user,
    allocate,
    answer_query,
    close_query,
    correct_ultrasound,
    enrol,
    erase_identity,
    lock_participant,
    open_query,
    record_consent,
    record_deviation,
    record_identity,
    record_medication,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
    report_adverse_event,
    screen,
    set_account_active,
    set_site_membership,
    sign_in,
    sign_out,
    start_cycle,
    unblock_sign_in,
    unlock_participant,
    withdraw,
)
from endotrial.services.corrections import CorrectionInput, correct_record
from endotrial.services.dry_run import DOSE_PLAN_NOTE, DryRunResult, dry_run
from endotrial.services.imports import import_screenings
from endotrial.store import Base, Role
from endotrial.store.keys import engine_keys
from endotrial.store.models import Ultrasound

REASON = "transcription error, source document page 3"


@dataclass
class World:
    """A trial with participants at every step, for dry runs of every operation."""

    trial: Trial
    done: int  # allocated hbmsc, both cycles, a scan and a transfer recorded
    waiting: int  # allocated hbmsc, both cycles started, no transfer yet
    fresh: int  # allocated, no cycle started
    enrolled_only: int
    locked: int
    screening_only: int  # screened, no consent
    consented_screening: int  # screened and consented, not enrolled
    consented_participant: int
    scan_id: int
    transfer_id: int
    query_id: int


def _world(engine: Engine, protocol: Protocol) -> World:
    trial = set_up_trial(engine, protocol)
    study, coordinator = trial.study, trial.actor(COORDINATOR)
    done = start_transfer_cycle(trial, allocated(trial, "c1", "hbmsc"))
    waiting = start_transfer_cycle(trial, allocated(trial, "c2", "hbmsc"))
    fresh = allocated(trial, "c3", "control", start_treatment=False)
    enrolled_only = enrolled(trial, "c4")
    locked = enrolled(trial, "c5")
    lock_participant(study, trial.actor(INVESTIGATOR), sign_off(locked))
    screening_only = screened(trial, "c6")
    consented_screening = screened(trial, "c7")
    consented_participant = consented(trial, consented_screening)
    scan = UltrasoundInput(participant_id=done, scan_date=TRANSFER_DAY, thickness_mm=8.5)
    scan_id = record_ultrasound(study, coordinator, scan)
    transfer = TransferInput(participant_id=done, transfer_date=TRANSFER_DAY, embryo_grades=["4AA"])
    transfer_id = record_transfer(study, trial.actor(EMBRYOLOGIST), transfer)
    question = QueryInput(entity="ultrasounds", row_id=scan_id, field="scan_date", text="check")
    query_id = open_query(study, trial.actor(MONITOR), question)
    add_site(study, trial.actor(INVESTIGATOR), SiteInput(code="SZ2", name="Second Hospital"))
    return World(
        trial, done, waiting, fresh, enrolled_only, locked, screening_only, consented_screening,
        consented_participant, scan_id, transfer_id, query_id,
    )  # fmt: skip


def _snapshot(engine: Engine) -> tuple[object, ...]:
    """Every row of every table, the checkpoint log's bytes, and (SQLite) the file's bytes
    with its write-ahead log folded in."""
    checkpoint_log = engine_keys(engine).checkpoint_file
    with Session(engine) as session:
        rows = {
            table.name: [
                tuple(r)
                for r in session.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in Base.metadata.sorted_tables
        }
    file_digest = None
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        engine.dispose()
        file_digest = hashlib.sha256(Path(str(engine.url.database)).read_bytes()).hexdigest()
    return rows, checkpoint_log.read_bytes(), file_digest


Case = tuple[str, Callable[[World], DryRunResult[Any]], bool]


def _cases() -> list[Case]:
    def t(w: World, user: str) -> Any:
        return w.trial.actor(user)

    def run(operation: Callable[..., Any], user: str, *args: Any, **kwargs: Any) -> Any:
        return lambda w: dry_run(
            operation, w.trial.study, t(w, user), *[a(w) for a in args], **kwargs
        )

    def candidate(items: dict[str, Any]) -> Callable[[World], CandidateInput]:
        from services_helpers import eligible_items

        return lambda w: CandidateInput(
            candidate_ref="c99", items=eligible_items(**items), site_id=w.trial.site_id
        )

    def consent(taker: str) -> Callable[[World], ConsentInput]:
        return lambda w: ConsentInput(
            screening_id=w.screening_only, form_version="v1.0", consent_date=SCREENED_ON,
            taken_by=taker,
        )  # fmt: skip

    def enrolment(which: str) -> Callable[[World], EnrolmentInput]:
        return lambda w: EnrolmentInput(screening_id=getattr(w, which), enrolled_on=SCREENED_ON)

    def allocation(which: str) -> Callable[[World], AllocationInput]:
        return lambda w: AllocationInput(
            participant_id=getattr(w, which), arm="control", basis="participant preference stated",
            allocated_on=SCREENED_ON,
        )  # fmt: skip

    def cycle(which: str) -> Callable[[World], CycleStartInput]:
        return lambda w: CycleStartInput(
            participant_id=getattr(w, which), cycle="treatment", start_date=TREATMENT_START
        )

    def medication(doses: int) -> Callable[[World], MedicationInput]:
        return lambda w: MedicationInput(
            participant_id=w.done, regimen_id="tx_estradiol_valerate",
            last_day=TREATMENT_START + dt.timedelta(days=2), doses_taken=doses,
        )  # fmt: skip

    def procedure(dose: int) -> Callable[[World], Any]:
        return lambda w: infusion(w.done, dose)

    def scan(on: dt.date) -> Callable[[World], UltrasoundInput]:
        return lambda w: UltrasoundInput(participant_id=w.done, scan_date=on, thickness_mm=40.0)

    def scan_fix(reason: str) -> Callable[[World], UltrasoundCorrection]:
        return lambda w: UltrasoundCorrection(scan_id=w.scan_id, thickness_mm=9.0, reason=reason)

    def transfer(which: str) -> Callable[[World], TransferInput]:
        return lambda w: TransferInput(
            participant_id=getattr(w, which), transfer_date=TRANSFER_DAY, embryo_grades=["4AB"]
        )

    def outcome(on: dt.date) -> Callable[[World], OutcomeInput]:
        return lambda w: OutcomeInput(
            transfer_id=w.transfer_id, beta_hcg_miu_ml=250.0, beta_hcg_date=on
        )

    def adverse(grade: int) -> Callable[[World], AdverseEventInput]:
        return lambda w: AdverseEventInput(
            participant_id=w.done, term="Pelvic pain", ctcae_grade=grade, serious=False,
            onset_date=DAY_10,
        )  # fmt: skip

    def deviation(site: int | None) -> Callable[[World], DeviationInput]:
        return lambda w: DeviationInput(
            occurred_on=DAY_10, category="visit window", description="scan two days late",
            participant_id=w.done, site_id=site,
        )  # fmt: skip

    def withdrawal(which: str) -> Callable[[World], WithdrawalInput]:
        return lambda w: WithdrawalInput(
            participant_id=getattr(w, which), withdrawn_on=DAY_10, initiated_by="participant",
            reason="moved to another city",
        )  # fmt: skip

    def question(field: str) -> Callable[[World], QueryInput]:
        return lambda w: QueryInput(
            entity="ultrasounds", row_id=w.scan_id, field=field, text="please confirm"
        )

    def answer(offset: int) -> Callable[[World], QueryAnswer]:
        return lambda w: QueryAnswer(query_id=w.query_id + offset, answer="confirmed at source")

    def closure(offset: int) -> Callable[[World], QueryClosure]:
        return lambda w: QueryClosure(
            query_id=w.query_id + offset, note="raised in error, value matches the source"
        )

    def participant(which: str) -> Callable[[World], int]:
        return lambda w: getattr(w, which)

    def signed(which: str) -> Callable[[World], SignOffInput]:
        return lambda w: sign_off(getattr(w, which))

    def site(code: str) -> Callable[[World], SiteInput]:
        return lambda w: SiteInput(code=code, name="Another hospital")

    def member(username: str) -> Callable[[World], TeamMember]:
        return lambda w: TeamMember(
            username=username, full_name="New Member", role=Role.COORDINATOR,
            password=PASSWORD, site_id=w.trial.site_id,
        )  # fmt: skip

    def name(username: str) -> Callable[[World], str]:
        return lambda w: username

    def identity(which: str) -> Callable[[World], IdentityInput]:
        return lambda w: IdentityInput(participant_id=getattr(w, which), full_name="Li Hua")

    def erasure(reason: str) -> Callable[[World], ErasureInput]:
        return lambda w: ErasureInput(participant_id=w.done, reason=reason)

    def membership(site_id: int) -> Callable[[World], MembershipInput]:
        return lambda w: MembershipInput(
            username=COORDINATOR, site_id=site_id, member=True,
            reason="she covers the second hospital's clinic on Fridays",
        )  # fmt: skip

    def correction(reason: str) -> Callable[[World], CorrectionInput]:
        return lambda w: CorrectionInput(
            record="ultrasound", record_id=w.scan_id, field="thickness_mm", new_value=9.0,
            reason=reason,
        )  # fmt: skip

    future = dt.date.today() + dt.timedelta(days=30)
    why = "she left the team at the end of the month"
    return [
        ("screen", run(screen, COORDINATOR, candidate({})), True),
        ("screen refused", run(screen, COORDINATOR, candidate({"age_yrs": 3})), False),
        ("consent", run(record_consent, COORDINATOR, consent(COORDINATOR)), True),
        ("consent refused", run(record_consent, COORDINATOR, consent("nobody")), False),
        ("enrol", run(enrol, COORDINATOR, enrolment("consented_screening")), True),
        ("enrol refused", run(enrol, COORDINATOR, enrolment("screening_only")), False),
        ("allocate", run(allocate, INVESTIGATOR, allocation("enrolled_only")), True),
        ("allocate refused", run(allocate, COORDINATOR, allocation("enrolled_only")), False),
        ("start cycle", run(start_cycle, COORDINATOR, cycle("fresh")), True),
        ("start cycle refused", run(start_cycle, COORDINATOR, cycle("done")), False),
        ("medication", run(record_medication, COORDINATOR, medication(2)), True),
        ("medication refused", run(record_medication, COORDINATOR, medication(99)), False),
        ("procedure", run(record_procedure, RADIOLOGIST, procedure(58_000_000)), True),
        ("procedure refused", run(record_procedure, RADIOLOGIST, procedure(70_000_000)), False),
        ("scan", run(record_ultrasound, COORDINATOR, scan(TRANSFER_DAY)), True),
        ("scan refused", run(record_ultrasound, COORDINATOR, scan(future)), False),
        ("scan fix", run(correct_ultrasound, COORDINATOR, scan_fix(REASON)), True),
        ("scan fix refused", run(correct_ultrasound, COORDINATOR, scan_fix("ok")), False),
        ("transfer", run(record_transfer, EMBRYOLOGIST, transfer("waiting")), True),
        ("transfer refused", run(record_transfer, EMBRYOLOGIST, transfer("done")), False),
        ("outcome", run(record_outcome, COORDINATOR, outcome(TRANSFER_DAY)), True),
        ("outcome refused", run(record_outcome, COORDINATOR, outcome(DAY_10)), False),
        ("adverse event", run(report_adverse_event, COORDINATOR, adverse(2)), True),
        ("adverse event refused", run(report_adverse_event, COORDINATOR, adverse(4)), False),
        ("deviation", run(record_deviation, MONITOR, deviation(None)), True),
        ("deviation refused", run(record_deviation, MONITOR, deviation(99)), False),
        ("withdraw", run(withdraw, COORDINATOR, withdrawal("done")), True),
        ("withdraw refused", run(withdraw, COORDINATOR, withdrawal("consented_participant")),
         False),
        ("open query", run(open_query, MONITOR, question("thickness_mm")), True),
        ("open query refused", run(open_query, MONITOR, question("no_such_field")), False),
        ("answer query", run(answer_query, COORDINATOR, answer(0)), True),
        ("answer query refused", run(answer_query, COORDINATOR, answer(100)), False),
        ("close query", run(close_query, MONITOR, closure(0)), True),
        ("close query refused", run(close_query, MONITOR, closure(100)), False),
        ("lock", run(lock_participant, INVESTIGATOR, signed("waiting")), True),
        ("lock refused", run(lock_participant, INVESTIGATOR, signed("locked")), False),
        ("unlock", run(unlock_participant, INVESTIGATOR, participant("locked"), reason=REASON),
         True),
        ("unlock refused",
         run(unlock_participant, INVESTIGATOR, participant("done"), reason=REASON), False),
        ("add site", run(add_site, INVESTIGATOR, site("SZ9")), True),
        ("add site refused", run(add_site, INVESTIGATOR, site("gz6")), False),
        ("add user", run(add_user, INVESTIGATOR, member("coord9")), True),
        ("add user refused", run(add_user, INVESTIGATOR, member("coord1")), False),
        ("deactivate",
         run(set_account_active, INVESTIGATOR, name(STATISTICIAN), active=False, reason=why),
         True),
        ("deactivate refused",
         run(set_account_active, INVESTIGATOR, name(STATISTICIAN), active=True, reason=why),
         False),
        ("unblock", run(unblock_sign_in, INVESTIGATOR, name(COORDINATOR), reason=why), True),
        ("unblock refused", run(unblock_sign_in, INVESTIGATOR, name("nobody"), reason=why), False),
        ("identity", run(record_identity, COORDINATOR, identity("done")), True),
        ("identity refused", run(record_identity, COORDINATOR, identity("locked")), False),
        ("erase", run(erase_identity, INVESTIGATOR, erasure(why)), True),
        ("erase refused", run(erase_identity, INVESTIGATOR, erasure("ok")), False),
        ("membership", run(set_site_membership, INVESTIGATOR, membership(2)), True),
        ("membership refused", run(set_site_membership, INVESTIGATOR, membership(1)), False),
        ("correction", run(correct_record, COORDINATOR, correction(REASON)), True),
        ("correction refused", run(correct_record, COORDINATOR, correction("ok")), False),
    ]  # fmt: skip


CASES = _cases()


def test_dry_runs_of_every_write_operation_change_nothing(
    engine: Engine, seed_protocol: Protocol, tmp_path: Path
) -> None:
    world = _world(engine, seed_protocol)
    for username in {u for u in (COORDINATOR, INVESTIGATOR, MONITOR, RADIOLOGIST, EMBRYOLOGIST)}:
        world.trial.actor(username)  # signed in before the snapshot
    before = _snapshot(engine)
    outcomes = {label: case(world) for label, case, _ in CASES}
    candidates = tmp_path / "candidates.csv"
    candidates.write_text("candidate_id,screening_date,sex\nC-9,2025-10-01,F\nC-8,2025-10-01,X\n")
    imported = import_screenings(
        world.trial.study, world.trial.actor(COORDINATOR), candidates, dry_run=True
    )
    assert [(p.row, p.field) for p in imported.problems] == [(2, "sex")]
    candidates.write_text("candidate_id,screening_date,sex\nC-9,2025-10-01,F\n")
    clean = import_screenings(
        world.trial.study, world.trial.actor(COORDINATOR), candidates, dry_run=True
    )
    assert clean.accepted and clean.screenings == ()
    assert _snapshot(engine) == before
    wrong = {n: r.refusal for n, _, a in CASES if (r := outcomes[n]).accepted is not a}
    assert not wrong
    for label, _, accepted in CASES:
        result = outcomes[label]
        if accepted:  # (the sign-in log that unblocking writes is not in the audit trail)
            assert result.changes or label == "unblock", f"{label} would write nothing?"
        else:
            assert result.refusal is not None and result.refusal.code and not result.changes


def test_an_accepted_dry_run_then_saved_gives_what_it_showed(
    engine: Engine, seed_protocol: Protocol
) -> None:
    world = _world(engine, seed_protocol)
    study, coordinator = world.trial.study, world.trial.actor(COORDINATOR)
    scan = UltrasoundInput(participant_id=world.done, scan_date=TRANSFER_DAY, thickness_mm=40.0)
    rehearsed = dry_run(record_ultrasound, study, coordinator, scan)
    assert rehearsed.accepted and isinstance(rehearsed.result, int)
    (thickness,) = rehearsed.changed("ultrasounds", "thickness_mm")
    assert (thickness.action, thickness.old_value, thickness.new_value) == ("insert", None, 40.0)
    (query,) = rehearsed.queries
    assert (query.table, query.field, query.check) == ("ultrasounds", "thickness_mm", "range")
    assert "outside" in query.text
    scan_id = record_ultrasound(study, coordinator, scan)
    with Session(engine) as session:
        assert session.get_one(Ultrasound, scan_id).thickness_mm == 40.0


def test_a_correction_rehearsed_shows_old_new_value_and_reason(
    engine: Engine, seed_protocol: Protocol
) -> None:
    world = _world(engine, seed_protocol)
    fix = UltrasoundCorrection(scan_id=world.scan_id, thickness_mm=9.5, reason=REASON)
    rehearsed = dry_run(correct_ultrasound, world.trial.study, world.trial.actor(COORDINATOR), fix)
    (change,) = rehearsed.changes
    assert (change.table, change.row_id, change.action) == (
        "ultrasounds",
        str(world.scan_id),
        "update",
    )
    assert (change.field, change.old_value, change.new_value, change.reason) == (
        "thickness_mm", 8.5, 9.5, REASON,
    )  # fmt: skip


def test_the_procedure_page_sees_the_dose_and_what_needs_an_override(
    engine: Engine, seed_protocol: Protocol
) -> None:
    """Before saving, the page shows the protocol's dose for her weight and, for a dose out of
    tolerance, that an investigator's override is needed (and would be allowed)."""
    world = _world(engine, seed_protocol)
    study, radiologist = world.trial.study, world.trial.actor(RADIOLOGIST)
    in_tolerance = dry_run(record_procedure, study, radiologist, infusion(world.done, 58_000_000))
    assert in_tolerance.accepted and isinstance(in_tolerance.result, ProcedureRecord)
    assert in_tolerance.result.plan.dose_viable_cells == 58_000_000
    assert in_tolerance.notes[DOSE_PLAN_NOTE].volume_ml == 15
    (dose,) = in_tolerance.changed("procedures", "dose_cells")
    assert dose.new_value == 58_000_000

    too_much = dry_run(record_procedure, study, radiologist, infusion(world.done, 70_000_000))
    assert not too_much.accepted and too_much.refusal is not None
    assert too_much.refusal.code == "procedure.needs_override"
    assert any("dose given" in p for p in too_much.refusal.params["problems"])
    assert too_much.notes[DOSE_PLAN_NOTE].dose_viable_cells == 58_000_000

    overridden = infusion(
        world.done, 70_000_000, override_reason="cells short after expansion; PI accepts it"
    )
    by_investigator = dry_run(record_procedure, study, world.trial.actor(INVESTIGATOR), overridden)
    assert by_investigator.accepted and by_investigator.result is not None
    assert by_investigator.result.overridden

    weight_off = dry_run(
        record_procedure, study, radiologist, infusion(world.done, 80_000_000, weight_kg=80.0)
    )
    assert weight_off.accepted
    assert [(q.field, q.check) for q in weight_off.queries] == [("weight_kg", "weight_change")]


def test_a_refusal_carries_code_field_params_and_message(
    engine: Engine, seed_protocol: Protocol
) -> None:
    world = _world(engine, seed_protocol)
    future = dt.date.today() + dt.timedelta(days=30)
    scan = UltrasoundInput(participant_id=world.done, scan_date=future, thickness_mm=8.0)
    rehearsed = dry_run(record_ultrasound, world.trial.study, world.trial.actor(COORDINATOR), scan)
    refusal = rehearsed.refusal
    assert refusal is not None and not rehearsed.accepted and rehearsed.result is None
    assert (refusal.kind, refusal.code, refusal.field) == (
        "RuleViolation",
        "date.future",
        "scan_date",
    )
    assert refusal.params["date"] == future and "in the future" in refusal.message

    locked = UltrasoundInput(participant_id=world.locked, scan_date=TRANSFER_DAY, thickness_mm=8.0)
    as_locked = dry_run(
        record_ultrasound, world.trial.study, world.trial.actor(COORDINATOR), locked
    )
    assert as_locked.refusal is not None and as_locked.refusal.kind == "LockedError"

    by_statistician = dry_run(
        record_ultrasound, world.trial.study, world.trial.actor(STATISTICIAN), scan
    )
    assert by_statistician.refusal is not None and by_statistician.refusal.code == "auth.role"


def test_sign_in_and_sign_out_cannot_be_rehearsed_and_change_nothing(
    engine: Engine, seed_protocol: Protocol
) -> None:
    world = _world(engine, seed_protocol)
    coordinator = world.trial.actor(COORDINATOR)
    before = _snapshot(engine)
    with pytest.raises(InvalidInput) as caught:
        dry_run(sign_out, world.trial.study, coordinator)
    assert caught.value.code == "dry_run.unsupported"
    with pytest.raises(InvalidInput):
        dry_run(sign_in, world.trial.study, COORDINATOR, PASSWORD)  # type: ignore[arg-type]
    assert _snapshot(engine) == before
    answer = QueryAnswer(query_id=world.query_id, answer="confirmed at source")
    answer_query(world.trial.study, coordinator, answer)  # her sign-in still works
