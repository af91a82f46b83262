"""Property-based: the services fed random and hostile input (issue 6).

Each example calls one operation with fields that are right, nearly right or wrong in type,
range and form (NaN, huge integers, control characters, far dates, another site's ids, unknown
codes). Whatever comes in, only the project's own errors come out, and what is stored stays
valid: every date in the trial's span, no second cycle, transfer or infusion, every infusion
with passing pre-checks, counts possible, and the tables equal to the audit trail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from services_helpers import (
    COORDINATOR,
    EMBRYOLOGIST,
    INVESTIGATOR,
    MONITOR,
    PASSED_PRE_CHECKS,
    RADIOLOGIST,
    RELEASED,
    Trial,
    allocated,
    eligible_items,
    screened,
    set_up_trial,
    start_transfer_cycle,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from two_sites import add_site_b

from endotrial.errors import EndotrialError
from endotrial.protocol import load_protocol
from endotrial.services import (
    AdverseEventInput,
    AllocationInput,
    CandidateInput,
    ConsentInput,
    CycleStartInput,
    DeviationInput,
    EnrolmentInput,
    MedicationInput,
    OutcomeInput,
    ProcedureInput,
    QueryInput,
    TransferInput,
    UltrasoundInput,
    WithdrawalInput,
    allocate,
    enrol,
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
    start_cycle,
    withdraw,
)
from endotrial.store import (
    AdverseEvent,
    Consent,
    Cycle,
    EmbryoTransfer,
    PregnancyOutcome,
    Procedure,
    TransferredEmbryo,
    Ultrasound,
    make_engine,
    reconcile_with_trail,
    upgrade_database,
    verify_audit_chain,
)

PROTOCOL = load_protocol("nct07176143")
EARLIEST = PROTOCOL.identity.start_date - dt.timedelta(days=365)
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Values of any type: what a careless script or a hostile client sends.
hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "  ", "\x00", "'; DROP TABLE participants; --", "<script>x</script>"]),
    st.text(min_size=5000, max_size=5000, alphabet="a阳"),
    st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
ids = st.integers(1, 8)
near_dates = st.dates(dt.date(2024, 1, 1), dt.date(2027, 6, 30))
far_dates = st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))
dates = st.one_of(near_dates, near_dates, near_dates, far_dates)


words = st.one_of(
    st.sampled_from(["v1.1", "moved away", "Pelvic pain", "visit window", "Please verify."]),
    st.text(min_size=1, max_size=30),
)


def maybe(right: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a value of the right kind, sometimes anything at all."""
    # (not one_of: it flattens `hostile`'s own branches, which would then win most draws)
    return st.integers(0, 9).flatmap(lambda roll: hostile if roll == 0 else right)


def fields(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The operation's fields, now and then one left out."""
    every = st.fixed_dictionaries({k: maybe(v) for k, v in strategies.items()})
    return st.integers(0, 3).flatmap(
        lambda roll: (
            every
            if roll
            else every.flatmap(
                lambda d: st.sampled_from(sorted(d)).map(
                    lambda k: {**d, k: None} if False else {x: y for x, y in d.items() if x != k}
                )
            )
        ),
    )


codes = st.sampled_from(["negative", "positive", "NEGATIVE", "pos", "阳性", "", "done", "checked"])
pre_checks = st.one_of(
    st.just(PASSED_PRE_CHECKS),
    st.dictionaries(st.sampled_from([*PASSED_PRE_CHECKS, "other"]), codes, max_size=4),
)
release = st.one_of(
    st.just(RELEASED),
    st.builds(
        lambda key, value: {**RELEASED, key: value},
        st.sampled_from([*RELEASED, "viability_pct", "unknown_test"]),
        st.one_of(st.floats(-10, 200), st.sampled_from(["negative", "positive", "neg", "?"])),
    ),
)
OPERATIONS: dict[str, tuple[type, Callable[..., Any], str, st.SearchStrategy[dict[str, Any]]]] = {
    "screen": (
        CandidateInput,
        screen,
        COORDINATOR,
        fields(
            candidate_ref=st.text(min_size=1, max_size=70),
            items=st.one_of(
                st.just(eligible_items()),
                st.builds(
                    lambda key, value: {**eligible_items(), key: value},
                    st.sampled_from([*eligible_items(), "iodine_alergy"]),
                    hostile,
                ),
            ),
            site_id=ids,
        ),
    ),
    "consent": (
        ConsentInput,
        record_consent,
        COORDINATOR,
        fields(
            screening_id=ids,
            form_version=words,
            consent_date=dates,
            taken_by=st.sampled_from([COORDINATOR, "coord.b", "nobody", RADIOLOGIST]),
        ),
    ),
    "enrol": (EnrolmentInput, enrol, COORDINATOR, fields(screening_id=ids, enrolled_on=dates)),
    "allocate": (
        AllocationInput,
        allocate,
        INVESTIGATOR,
        fields(
            participant_id=ids,
            arm=st.sampled_from(["control", "hbmsc", "HBMSC", "placebo"]),
            basis=words,
            allocated_on=dates,
        ),
    ),
    "cycle": (
        CycleStartInput,
        start_cycle,
        COORDINATOR,
        fields(
            participant_id=ids,
            cycle=st.sampled_from(["treatment", "transfer", "third"]),
            start_date=dates,
        ),
    ),
    "medication": (
        MedicationInput,
        record_medication,
        COORDINATOR,
        fields(
            participant_id=ids,
            regimen_id=st.sampled_from([r.id for r in PROTOCOL.regimens] + ["aspirin"]),
            taken_on=dates,
            doses_taken=st.integers(-1, 60),
            days=st.integers(0, 40),
        ),
    ),
    "procedure": (
        ProcedureInput,
        record_procedure,
        RADIOLOGIST,
        fields(
            participant_id=ids,
            procedure_date=dates,
            weight_kg=st.floats(40, 80) | st.floats(-10, 400),
            viability_pct=st.floats(80, 100) | st.floats(-1, 120),
            dose_given_cells=st.integers(40_000_000, 80_000_000) | st.integers(-1, 10**14),
            release_results=release,
            pre_checks=pre_checks,
            override_reason=st.sampled_from([None, "ok", "PI accepts a lower dose after review"]),
        ),
    ),
    "scan": (
        UltrasoundInput,
        record_ultrasound,
        COORDINATOR,
        fields(
            participant_id=ids,
            scan_date=dates,
            thickness_mm=st.floats(0, 20) | st.floats(-5, 500),
            event_id=st.sampled_from([None, "baseline_ultrasound", "nowhere"]),
        ),
    ),
    "transfer": (
        TransferInput,
        record_transfer,
        EMBRYOLOGIST,
        fields(
            participant_id=ids,
            transfer_date=dates,
            embryo_grades=st.lists(st.sampled_from(["4AB", "3BB", "7ZZ", "", "4ab"]), max_size=8),
            embryo_day=st.sampled_from([5, 6]) | st.integers(0, 10),
            cancel_reason=st.sampled_from([None, "thin endometrium", ""]),
        ),
    ),
    "outcome": (
        OutcomeInput,
        record_outcome,
        COORDINATOR,
        fields(
            transfer_id=ids,
            beta_hcg_miu_ml=st.floats(0, 5000) | st.floats(-10, 2e6),
            beta_hcg_date=dates,
            ultrasound_date=dates,
            gestational_sacs=st.integers(0, 8) | st.integers(-1, 60),
            birth_date=dates,
            loss_date=dates,
            live_born_count=st.integers(0, 4) | st.integers(-1, 30),
        ),
    ),
    "adverse_event": (
        AdverseEventInput,
        report_adverse_event,
        COORDINATOR,
        fields(
            participant_id=ids,
            term=words,
            ctcae_grade=st.integers(0, 6),
            serious=st.booleans(),
            onset_date=dates,
            resolution_date=dates,
        ),
    ),
    "deviation": (
        DeviationInput,
        record_deviation,
        MONITOR,
        fields(
            occurred_on=dates,
            category=words,
            description=words,
            participant_id=ids,
            site_id=ids,
        ),
    ),
    "withdrawal": (
        WithdrawalInput,
        withdraw,
        COORDINATOR,
        fields(
            participant_id=ids,
            withdrawn_on=dates,
            initiated_by=st.sampled_from(["participant", "sponsor", "nurse"]),
            reason=words,
        ),
    ),
    "query": (
        QueryInput,
        open_query,
        MONITOR,
        fields(
            entity=st.sampled_from(["participants", "ultrasounds", "audit_log", "users", "x"]),
            row_id=ids,
            field=st.sampled_from(["status", "thickness_mm", "password_hash", "nope"]),
            text=words,
        ),
    ),
}


_TRIALS: dict[str, Trial] = {}


def _trial(folder: Path) -> Trial:
    """One trial for the whole run of examples: two sites, participants at every step."""
    if "trial" not in _TRIALS:
        url = f"sqlite:///{folder / 'hostile.db'}"
        upgrade_database(url)
        trial = set_up_trial(make_engine(url), PROTOCOL)
        add_site_b(trial)
        allocated(trial, "p-hbmsc", "hbmsc")
        start_transfer_cycle(trial, allocated(trial, "p-control", "control"))
        allocated(trial, "p-new", "control", start_treatment=False)
        screened(trial, "s-only")
        _TRIALS["trial"] = trial
    return _TRIALS["trial"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _TRIALS.clear()
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture
def engine(folder: Path) -> Engine:
    """This module's one trial database (the services' after-test reconciliation reads it)."""
    return _trial(folder).engine


@SETTINGS
@given(call=st.sampled_from(sorted(OPERATIONS)).flatmap(
    lambda name: st.tuples(st.just(name), OPERATIONS[name][3])
))  # fmt: skip
def test_only_the_projects_errors_escape(folder: Path, call: tuple[str, dict[str, Any]]) -> None:
    trial = _trial(folder)
    name, values = call
    model, operation, username, _ = OPERATIONS[name]
    try:
        data = model(**values)
    except EndotrialError:
        event(f"{name}: input refused")
        return
    try:
        operation(trial.study, trial.actor(username), data)
        event(f"{name}: saved")
    except EndotrialError as error:  # refused with a message: anything else fails the test
        event(f"{name}: {error.code}")


def test_nothing_invalid_was_stored(folder: Path) -> None:
    """Runs after the examples (file order): the stored data obey the rules."""
    trial = _trial(folder)
    engine = trial.engine
    assert verify_audit_chain(engine).ok
    assert reconcile_with_trail(engine).ok
    today = dt.date.today() + dt.timedelta(days=1)
    with Session(engine) as session:
        for column in (
            Consent.consent_date,
            Cycle.start_date,
            Ultrasound.scan_date,
            Procedure.procedure_date,
            EmbryoTransfer.transfer_date,
            AdverseEvent.onset_date,
        ):
            low, high = session.execute(select(func.min(column), func.max(column))).one()
            assert low is None or EARLIEST <= low <= high <= today, column
        one_per = session.execute(
            select(Cycle.participant_id, Cycle.kind, func.count()).group_by(
                Cycle.participant_id, Cycle.kind
            )
        ).all()
        assert all(count == 1 for *_, count in one_per)
        for procedure in session.scalars(select(Procedure)):
            checks = {k: v for k, v in procedure.pre_checks.items() if k != "release_results"}
            assert checks == PASSED_PRE_CHECKS
        for scan in session.scalars(select(Ultrasound)):
            assert scan.thickness_mm is None or 0 <= scan.thickness_mm <= 100
        for outcome in session.scalars(select(PregnancyOutcome)):
            embryos = session.scalar(
                select(func.count()).where(TransferredEmbryo.transfer_id == outcome.transfer_id)
            )
            assert (outcome.gestational_sacs or 0) <= 3 * max(int(embryos or 0), 1)
            assert outcome.beta_hcg_miu_ml is None or outcome.beta_hcg_miu_ml >= 0
