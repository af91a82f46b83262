"""Builders shared by the service tests: a site, a team and candidates at each step."""

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from endotrial.errors import EndotrialError
from endotrial.protocol import Protocol
from endotrial.services import (
    Actor,
    AllocationInput,
    CandidateInput,
    ConsentInput,
    CycleStartInput,
    EnrolmentInput,
    ProcedureInput,
    QueryView,
    ServiceError,
    SignOffInput,
    SiteInput,
    Study,
    TeamMember,
    add_user,
    allocate,
    enrol,
    list_queries,
    record_consent,
    screen,
    set_up_study,
    sign_in,
    start_cycle,
)
from endotrial.store import AuditEntry, QueryStatus, Role

SCREENED_ON = dt.date(2025, 10, 1)
TREATMENT_START = dt.date(2025, 10, 6)
TRANSFER_CYCLE_START = TREATMENT_START + dt.timedelta(days=31)
TRANSFER_DAY = TRANSFER_CYCLE_START + dt.timedelta(days=18)  # planned: transfer-cycle day 19
COORDINATOR = "coord1"
INVESTIGATOR = "pi1"
RADIOLOGIST = "rad1"
CELL_LAB = "lab1"
EMBRYOLOGIST = "embryo1"
MONITOR = "monitor1"
STATISTICIAN = "stat1"
SAFETY_BOARD = "dsmb1"
#: One account per role, the investigator first: she bootstraps the site and adds the others.
TEAM = {
    Role.INVESTIGATOR: INVESTIGATOR,
    Role.COORDINATOR: COORDINATOR,
    Role.RADIOLOGIST: RADIOLOGIST,
    Role.CELL_LAB: CELL_LAB,
    Role.EMBRYOLOGIST: EMBRYOLOGIST,
    Role.MONITOR: MONITOR,
    Role.STATISTICIAN: STATISTICIAN,
    Role.SAFETY_BOARD: SAFETY_BOARD,
}


def eligible_items(**changes: object) -> dict[str, object]:
    """A candidate who meets every criterion (change one item to fail one)."""
    items: dict[str, object] = {
        "screening_date": SCREENED_ON,
        "sex": "F",
        "age_years": 31,
        "weight_kg": 58.0,
        "height_cm": 160.0,
        "cycle_length_days": 29,
        "regular_cycle_months": 24,
        "afc": 10,
        "fsh_iu_l": 6.5,
        "sex_hormones_normal": True,
        "serology_date": dt.date(2025, 8, 1),
        "hiv_ab": "negative",
        "tpa": "negative",
        "hbsag": "negative",
        "hcv_ab": "negative",
        "good_blastocysts": 3,
        "severe_iua_electroresection": True,
        "normal_cavity_hysteroscopy_date": dt.date(2025, 9, 1),
        "cancelled_fet_thin_endometrium": True,
        "current_uterine_abnormality": False,
        "hydrosalpinx": False,
        "consecutive_failed_transfers": 1,
        "failed_good_embryos": 1,
        "unexplained_bleeding": False,
        "active_pid": False,
        "tract_malformation": False,
        "abnormal_tct_1y": False,
        "severe_hepatic_renal": False,
        "cardiac_disease": False,
        "hypertension": False,
        "thromboembolism_history": False,
        "platelets_1e9_l": 220.0,
        "hemoglobin_g_l": 125.0,
        "hematologic_disorder": False,
        "systemic_disease": False,
        "recurrent_miscarriage": False,
        "couple_chromosomal_abnormality": False,
        "couple_genetic_disorder": False,
        "couple_teratogen_exposure": False,
        "last_other_trial_date": None,
        "investigator_excludes": False,
        "cannot_comply": False,
        "iodine_allergy": False,
    }
    items.update(changes)
    return items


PASSWORD = "correct horse battery"


@dataclass
class Trial:
    """A study with a site and a signed-in account per role (`trial.actor(ROLE_USERNAME)`)."""

    engine: Engine
    protocol: Protocol
    site_id: int
    actors: dict[str, Actor] = field(default_factory=dict)

    @property
    def study(self) -> Study:
        return Study(self.engine, self.protocol)

    def actor(self, username: str) -> Actor:
        if username not in self.actors:
            self.actors[username] = sign_in(self.study, username, PASSWORD)
        return self.actors[username]


def set_up_trial(engine: Engine, protocol: Protocol) -> Trial:
    """A site and one active account of every role (see TEAM): the investigator sets the
    database up (central: attached to no site) and adds her site's team."""
    study = Study(engine, protocol)
    site = SiteInput(code="GZ6", name="Sixth Affiliated Hospital")
    first = TeamMember(
        username=INVESTIGATOR, full_name="PI1", role=Role.INVESTIGATOR, password=PASSWORD
    )
    investigator = set_up_study(study, site, first)
    trial = Trial(engine, protocol, site_id=1, actors={INVESTIGATOR: investigator})
    for role, username in TEAM.items():
        if role is Role.INVESTIGATOR:
            continue
        member = TeamMember(
            username=username,
            full_name=username.upper(),
            role=role,
            password=PASSWORD,
            site_id=trial.site_id,
        )
        add_user(study, investigator, member)
    return trial


def screened(trial: Trial, ref: str, **changes: object) -> int:
    candidate = CandidateInput(
        candidate_ref=ref, items=eligible_items(**changes), site_id=trial.site_id
    )
    return screen(trial.study, trial.actor(COORDINATOR), candidate).screening_id


def consented(trial: Trial, screening_id: int) -> int:
    consent = ConsentInput(
        screening_id=screening_id,
        form_version="v1.0",
        consent_date=SCREENED_ON,
        taken_by=COORDINATOR,
    )
    return record_consent(trial.study, trial.actor(COORDINATOR), consent)


def allocated_from_screening(
    trial: Trial,
    screening_id: int,
    arm: str,
    *,
    on: dt.date,
    basis: str,
    form_version: str = "v1",
) -> int:
    """Her consent, enrolment and allocation to `arm`, all on `on`, for any protocol (the
    coordinator consents and enrols, the investigator allocates); her participant id."""
    coordinator = trial.actor(COORDINATOR)
    consent = ConsentInput(
        screening_id=screening_id, form_version=form_version, consent_date=on,
        taken_by=COORDINATOR,
    )  # fmt: skip
    participant_id = record_consent(trial.study, coordinator, consent)
    enrol(trial.study, coordinator, EnrolmentInput(screening_id=screening_id, enrolled_on=on))
    allocation = AllocationInput(
        participant_id=participant_id, arm=arm, basis=basis, allocated_on=on
    )
    allocate(trial.study, trial.actor(INVESTIGATOR), allocation)
    return participant_id


def enrolled(trial: Trial, ref: str, **changes: object) -> int:
    screening_id = screened(trial, ref, **changes)
    consented(trial, screening_id)
    enrolment = EnrolmentInput(screening_id=screening_id, enrolled_on=SCREENED_ON)
    return enrol(trial.study, trial.actor(COORDINATOR), enrolment)


def allocated(trial: Trial, ref: str, arm: str, *, start_treatment: bool = True) -> int:
    participant_id = enrolled(trial, ref)
    basis = "participant preference; fit for the procedure"
    allocation = AllocationInput(
        participant_id=participant_id, arm=arm, basis=basis, allocated_on=SCREENED_ON
    )
    allocate(trial.study, trial.actor(INVESTIGATOR), allocation)
    if start_treatment:
        start = CycleStartInput(
            participant_id=participant_id, cycle="treatment", start_date=TREATMENT_START
        )
        start_cycle(trial.study, trial.actor(COORDINATOR), start)
    return participant_id


DAY_10 = dt.date(2025, 10, 15)  # treatment cycle starts 2025-10-06
RELEASED = {
    "sterility": "negative",
    "mycoplasma": "negative",
    "endotoxin_eu_ml": 0.1,
    "cd105_pct": 98.0,
    "cd73_pct": 99.0,
    "cd90_pct": 98.5,
    "cd45_pct": 0.5,
    "cd34_pct": 0.4,
    "cd14_or_cd11b_pct": 0.3,
    "cd79a_or_cd19_pct": 0.2,
    "hla_dr_pct": 0.6,
}
PASSED_PRE_CHECKS = {
    "iodine_allergy_test": "negative",
    "groin_preparation": "done",
    "cell_product_release": "checked",
}


def infusion(participant_id: int, dose_cells: int, **changes: object) -> ProcedureInput:
    values: dict[str, object] = {
        "participant_id": participant_id,
        "procedure_date": DAY_10,
        "weight_kg": 58.0,
        "viability_pct": 92.0,
        "dose_given_cells": dose_cells,
        "release_results": RELEASED,
        "pre_checks": PASSED_PRE_CHECKS,
        "cell_lot": "LOT-1",
    }
    values.update(changes)
    return ProcedureInput(**values)


def start_transfer_cycle(trial: Trial, participant_id: int) -> int:
    """Start her transfer cycle on the planned day; returns the participant id."""
    start = CycleStartInput(
        participant_id=participant_id, cycle="transfer", start_date=TRANSFER_CYCLE_START
    )
    start_cycle(trial.study, trial.actor(COORDINATOR), start)
    return participant_id


@contextmanager
def refused(
    code: str, *, field: str | None = None, kind: type[EndotrialError] = ServiceError
) -> Iterator[pytest.ExceptionInfo[EndotrialError]]:
    """Expect the block to be refused with an error of `kind` carrying `code` (and `field`);
    the caught error is in the yielded info for further checks after the block."""
    with pytest.raises(kind) as caught:
        yield caught
    assert caught.value.code == code, f"{caught.value.code}: {caught.value}"
    if field is not None:
        assert caught.value.field == field, f"{caught.value.field}: {caught.value}"


def audit_rows(engine: Engine) -> int:
    """How many audit entries the database holds (a refusal must add none)."""
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def queries(
    trial: Trial, *, status: QueryStatus | None = None, entity: str | None = None
) -> list[QueryView]:
    """The trial's queries as the site's monitor sees them."""
    return list_queries(trial.study, trial.actor(MONITOR), status=status, entity=entity)


def sign_off(participant_id: int) -> SignOffInput:
    """An investigator's sign-off of her data, signed with the team's password."""
    return SignOffInput(participant_id=participant_id, password=PASSWORD)


@contextmanager
def counting_statements(engine: Engine) -> Iterator[Callable[[], int]]:
    """The number of SQL statements sent to the database inside the block, so far."""
    sent: list[str] = []

    def count(*args: object) -> None:
        sent.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield lambda: len(sent)
    finally:
        event.remove(engine, "before_cursor_execute", count)
