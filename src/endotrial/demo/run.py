"""Build a synthetic run of the whole trial by calling the services, so it obeys every rule."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from endotrial.demo import effects as fx
from endotrial.demo.population import FIRST_SCREENING, Candidate, candidate_pool
from endotrial.demo.target import prepare_demo_database, remove_sqlite_file
from endotrial.dosing import compute_dose
from endotrial.errors import InputError
from endotrial.protocol import Protocol, load_protocol
from endotrial.protocol.settings import TRANSFER_THICKNESS_MIN_MM
from endotrial.services import (
    Actor,
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
    QueryAnswer,
    QueryClosure,
    QueryInput,
    ScreeningRecord,
    SignOffInput,
    SiteInput,
    Study,
    TeamMember,
    TransferInput,
    UltrasoundCorrection,
    UltrasoundInput,
    VisitInput,
    WithdrawalInput,
    add_user,
    adverse_events,
    allocate,
    answer_query,
    close_query,
    correct_ultrasound,
    dashboard,
    enrol,
    list_queries,
    lock_participant,
    open_query,
    participant_queries,
    participants,
    pregnancy_outcome,
    record_consent,
    record_deviation,
    record_medication,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
    record_visit,
    report_adverse_event,
    screen_many,
    screening_log,
    set_up_study,
    sign_in,
    start_cycle,
    withdraw,
)
from endotrial.services.screening import Items
from endotrial.store import (
    QueryStatus,
    Relatedness,
    Role,
    make_engine,
    upgrade_database,
)

DEFAULT_SEED = 20250930
#: The synthetic trial's data cut-off: nothing later is recorded, so visits due after it are
#: still pending. Fixed so that runs reproduce; a machine whose clock is earlier uses its own
#: date instead (the services refuse dates in the future), see `data_cutoff`.
DATA_CUTOFF = dt.date(2026, 11, 20)
#: Days from the infusion to the safety visit (the protocol plans 7, window 5-9).
POST_PROCEDURE_VISIT_DAYS = 7
#: Days from the transfer to the 28-week follow-up (the protocol plans 177, window 177-191).
WEEK_28_VISIT_DAYS = 180
DEFAULT_CANDIDATES = 150
COORDINATOR = "coord.li"
INVESTIGATOR = "pi.chen"
RADIOLOGIST = "ir.wang"
EMBRYOLOGIST = "embryo.huang"
MONITOR = "monitor.zhao"
#: The investigator comes first: on the new database she creates the site and her own account
#: (the bootstrap rule of services.people), then adds the rest of the team.
#: The demo's sign-ins (printed by `make run`): SYNTHETIC accounts for a demonstration only.
DEMO_PASSWORDS = {
    INVESTIGATOR: "demo-investigator-pw",
    COORDINATOR: "demo-coordinator-pw",
    RADIOLOGIST: "demo-radiologist-pw",
    EMBRYOLOGIST: "demo-embryologist-pw",
    MONITOR: "demo-monitor-pw",
}
TEAM = (
    (INVESTIGATOR, "Chen Hui (investigator)", Role.INVESTIGATOR),
    (COORDINATOR, "Li Na (research coordinator)", Role.COORDINATOR),
    (RADIOLOGIST, "Wang Jun (interventional radiology)", Role.RADIOLOGIST),
    (EMBRYOLOGIST, "Huang Lei (embryology lab)", Role.EMBRYOLOGIST),
    (MONITOR, "Zhao Min (monitor)", Role.MONITOR),
)
RELEASE_RESULTS: dict[str, float | str] = {
    "sterility": "negative",
    "mycoplasma": "negative",
    "endotoxin_eu_ml": 0.12,
    "cd105_pct": 98.6,
    "cd73_pct": 99.1,
    "cd90_pct": 98.9,
    "cd45_pct": 0.4,
    "cd34_pct": 0.3,
    "cd14_or_cd11b_pct": 0.5,
    "cd79a_or_cd19_pct": 0.2,
    "hla_dr_pct": 0.7,
}


@dataclass(frozen=True)
class DemoSummary:
    """What the synthetic run produced (equal for equal seeds, whatever the time taken)."""

    seed: int
    data_cutoff: dt.date
    screened: int
    decisions: dict[str, int]
    enrolled_by_arm: dict[str, int]
    withdrawn: int
    procedures: int
    transfers: int
    cancelled_transfers: int
    clinical_pregnancies_by_arm: dict[str, int]
    live_births_by_arm: dict[str, int]
    in_follow_up: int
    """Enrolled, not withdrawn, without a recorded transfer by the cut-off."""
    adverse_events: int
    serious_adverse_events: int
    deviations: int
    open_queries: int
    visits_due: int
    """Scheduled events due on the cut-off date (inside their window, not yet recorded)."""
    visits_overdue: int
    """Scheduled events past their window on the cut-off date with nothing recorded."""
    elapsed_seconds: float = field(compare=False)


def data_cutoff(today: dt.date | None = None) -> dt.date:
    """The cut-off a run uses: `DATA_CUTOFF`, or today when the clock is earlier.

    Runs reproduce (same seed, same trial) whenever the clock is on or after `DATA_CUTOFF`.
    On an earlier clock the cut-off is today: the run is still reproducible for that day, but
    it is a different synthetic trial (one random stream feeds every participant, so stopping
    earlier shifts what later participants draw).
    """
    return min(DATA_CUTOFF, today or dt.date.today())


def check_seed(seed: int) -> int:
    """A seed the random generator accepts: a whole number, 0 or more."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(
            f"seed {seed} cannot seed the synthetic trial: give a whole number, 0 or more "
            f"(the same seed gives the same trial; default {DEFAULT_SEED})"
        )
    return seed


def create_demo(
    url: str | None,
    *,
    seed: int = DEFAULT_SEED,
    replace: bool = False,
    protocol: Protocol | None = None,
    today: dt.date | None = None,
) -> DemoSummary:
    """What `endotrial demo` does: check the inputs, prepare the database, build the run.

    Nothing is created when an input is wrong; a SQLite file created here is removed again
    when the build fails half-way, so that running it again is not refused as "holds data".
    """
    check_seed(seed)
    _check_cutoff(data_cutoff(today))
    created = prepare_demo_database(url, replace=replace)
    try:
        return build_demo(url, seed=seed, protocol=protocol, today=today)
    except BaseException:
        if created is not None:
            remove_sqlite_file(created)
        raise


def build_demo(
    url: str | None,
    *,
    seed: int = DEFAULT_SEED,
    candidates: int = DEFAULT_CANDIDATES,
    protocol: Protocol | None = None,
    today: dt.date | None = None,
) -> DemoSummary:
    """Create (migrate) the database at `url` and fill it with a synthetic run of the trial,
    recorded up to `data_cutoff(today)` (today: the machine's date by default)."""
    check_seed(seed)
    cutoff = _check_cutoff(data_cutoff(today))
    started = time.perf_counter()
    upgrade_database(url)
    engine = make_engine(url)
    try:
        rng = np.random.default_rng(seed)
        run = _Run(Study(engine, protocol or load_protocol()), rng, cutoff)
        run.execute(candidates)
        elapsed_s = time.perf_counter() - started
        return _summary(run.study, run.actors[MONITOR], seed, cutoff, elapsed_s)
    finally:
        engine.dispose()


def _check_cutoff(cutoff: dt.date) -> dt.date:
    if cutoff < FIRST_SCREENING:
        raise InputError(
            f"the synthetic trial starts screening on {FIRST_SCREENING}, after this machine's "
            f"date {cutoff}: check the computer's clock"
        )
    return cutoff


def render_summary(summary: DemoSummary) -> str:
    """The summary as a few lines of text for the CLI."""
    lines = [
        f"synthetic run (seed {summary.seed}) built in {summary.elapsed_seconds:.1f} s",
        f"screened {summary.screened}: "
        + ", ".join(f"{k} {v}" for k, v in sorted(summary.decisions.items())),
        "enrolled: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.enrolled_by_arm.items())),
        f"withdrawn {summary.withdrawn}; infusions {summary.procedures}; transfers "
        f"{summary.transfers} ({summary.cancelled_transfers} cancelled)",
        "clinical pregnancies: "
        + ", ".join(f"{k} {v}" for k, v in sorted(summary.clinical_pregnancies_by_arm.items()))
        + "; live births: "
        + ", ".join(f"{k} {v}" for k, v in sorted(summary.live_births_by_arm.items())),
        f"data cut-off {summary.data_cutoff}: {summary.in_follow_up} still before their transfer",
        f"adverse events {summary.adverse_events} ({summary.serious_adverse_events} serious); "
        f"deviations {summary.deviations}; open queries {summary.open_queries}",
        f"visits on the cut-off date: {summary.visits_due} due, {summary.visits_overdue} overdue",
        "SYNTHETIC DATA for demonstration only: never analyse as evidence.",
    ]
    return "\n".join(lines)


class _Run:
    def __init__(self, study: Study, rng: np.random.Generator, cutoff: dt.date) -> None:
        self.study = study
        self.engine = study.engine
        self.protocol = study.protocol
        self.rng = rng
        self.cutoff = cutoff
        self.site_id = 0
        self.threshold_mm = TRANSFER_THICKNESS_MIN_MM.number(study.protocol)
        self.actors: dict[str, Actor] = {}

    def execute(self, size: int) -> None:
        self._team()
        pool = [
            candidate
            for candidate in candidate_pool(self.rng, size)
            if _date(candidate.items["screening_date"]) <= self.cutoff
        ]
        inputs = [
            CandidateInput(candidate_ref=c.ref, items=cast(Items, c.items), site_id=self.site_id)
            for c in pool
        ]
        records = screen_many(self.study, self.actors[COORDINATOR], inputs)
        for candidate, record, arm in self._enrolments(pool, records):
            with contextlib.suppress(_PastCutoff):  # consent after the cut-off: still to come
                participant_id = self._enrol(candidate, record, arm)
                _Follow(self, participant_id, arm, candidate).run()
        self._monitoring()

    def _team(self) -> None:
        """The investigator sets the new database up, then adds her site's team; everyone signs
        in once."""
        (name, full_name, role), *others = TEAM
        site = SiteInput(code="GZ6", name="Sixth Affiliated Hospital, SYSU")
        member = TeamMember(
            username=name, full_name=full_name, role=role, password=DEMO_PASSWORDS[name]
        )
        self.actors[name] = set_up_study(self.study, site, member)
        self.site_id = 1
        for name, full_name, role in others:
            member = TeamMember(
                username=name,
                full_name=full_name,
                role=role,
                password=DEMO_PASSWORDS[name],
                site_id=self.site_id,
            )
            add_user(self.study, self.actors[INVESTIGATOR], member)
            self.actors[name] = sign_in(self.study, name, DEMO_PASSWORDS[name])

    def by_cutoff(self, on: dt.date) -> dt.date:
        """`on`, or stop recording (raise _PastCutoff) when it lies after the data cut-off."""
        if on > self.cutoff:
            raise _PastCutoff
        return on

    def _enrolments(
        self, pool: list[Candidate], records: list[ScreeningRecord]
    ) -> list[tuple[Candidate, ScreeningRecord, str]]:
        """Who is enrolled, in screening order, and in which arm (preference, 30 per arm)."""
        per_arm = self.protocol.identity.enrollment_target // len(self.protocol.arms)
        filled: Counter[str] = Counter()
        chosen = []
        for candidate, record in zip(pool, records, strict=True):
            if record.decision.value != "eligible" or self.rng.random() < fx.P_DECLINES_CONSENT:
                continue
            arm = _arm_for(candidate, record.eligible_arms, filled, per_arm)
            if arm is not None:
                filled[arm] += 1
                chosen.append((candidate, record, arm))
        return chosen

    def _enrol(self, candidate: Candidate, record: ScreeningRecord, arm: str) -> int:
        screened_on = _date(candidate.items["screening_date"])
        consent_on = self.by_cutoff(screened_on + dt.timedelta(days=int(self.rng.integers(0, 5))))
        consent = ConsentInput(
            screening_id=record.screening_id,
            form_version="v1.1 (2025-08-20)",
            consent_date=consent_on,
            taken_by=COORDINATOR,
        )
        coordinator = self.actors[COORDINATOR]
        participant_id = record_consent(self.study, coordinator, consent)
        enrolment = EnrolmentInput(screening_id=record.screening_id, enrolled_on=consent_on)
        enrol(self.study, coordinator, enrolment)
        basis = (
            "participant preference after counselling; fit for the uterine-artery procedure"
            if arm == "hbmsc"
            else "participant preference (or procedure not possible / stem-cell arm full)"
        )
        allocation = AllocationInput(
            participant_id=participant_id, arm=arm, basis=basis, allocated_on=consent_on
        )
        allocate(self.study, self.actors[INVESTIGATOR], allocation)
        return participant_id

    def _monitoring(self) -> None:
        """A monitor's source-data queries on data not yet signed off: some answered and
        closed, some left open."""
        pages = participants(self.study, self.actors[MONITOR])
        ids = sorted(page.participant_id for page in pages if not page.locked)
        picks = self.rng.choice(ids, size=min(4, len(ids)), replace=False)
        for index, participant_id in enumerate(sorted(int(p) for p in picks)):
            text = "Consent form version on file differs from the CRF? Please verify."
            query = QueryInput(
                entity="participants", row_id=participant_id, field="status", text=text
            )
            query_id = open_query(self.study, self.actors[MONITOR], query)
            if index % 2 == 0:
                answer = QueryAnswer(query_id=query_id, answer="verified: v1.1")
                answer_query(self.study, self.actors[COORDINATOR], answer)
                if index == 0:
                    close_query(self.study, self.actors[MONITOR], QueryClosure(query_id=query_id))


@dataclass(frozen=True)
class _Treated:
    """Her transfer cycle's first day and the day luteal support began."""

    start: dt.date
    progesterone_on: dt.date


class _PastCutoff(Exception):
    """Her next visit falls after the data cut-off: her record stops there."""


class _Follow:
    """One participant through the treatment cycle, procedure, transfer and outcomes, up to
    the data cut-off."""

    def __init__(self, run: _Run, participant_id: int, arm: str, candidate: Candidate) -> None:
        self.trial = run
        self.study = run.study
        self.protocol = run.protocol
        self.coordinator = run.actors[COORDINATOR]
        self.rng = run.rng
        self.pid = participant_id
        self.arm = arm
        self.candidate = candidate
        screened_on = _date(candidate.items["screening_date"])
        self.start = screened_on + dt.timedelta(days=int(self.rng.integers(7, 30)))
        self.baseline_mm = float(self.rng.normal(*fx.BASELINE_THICKNESS_MM))

    def day(self, cycle_start: dt.date, cycle_day: int) -> dt.date:
        return cycle_start + dt.timedelta(days=cycle_day - 1)

    def by_cutoff(self, on: dt.date) -> dt.date:
        """`on`, or stop following her when it lies after the data cut-off."""
        return self.trial.by_cutoff(on)

    def run(self) -> None:
        with contextlib.suppress(_PastCutoff):  # the rest of her follow-up is still to come
            self._follow()

    def _follow(self) -> None:
        self._treatment_cycle()
        if self.rng.random() < fx.P_WITHDRAWS:
            reason = str(
                self.rng.choice(["moved away", "personal reasons", "spontaneous pregnancy"])
            )
            withdrawn_on = self.by_cutoff(self.day(self.start, 30))
            withdrawal = WithdrawalInput(
                participant_id=self.pid,
                withdrawn_on=withdrawn_on,
                initiated_by="participant",
                reason=reason,
            )
            withdraw(self.study, self.coordinator, withdrawal)
            return
        self._transfer_cycle()

    # ------------------------------------------------------------------ treatment cycle
    def _treatment_cycle(self) -> None:
        self.by_cutoff(self.day(self.start, 28))  # the cycle is entered once it is complete
        start = CycleStartInput(participant_id=self.pid, cycle="treatment", start_date=self.start)
        start_cycle(self.study, self.coordinator, start)
        self._scan(self.day(self.start, 9), self.baseline_mm, "baseline_ultrasound")
        if self.arm == "hbmsc":
            self._infusion()
        self._hrt_adverse_events()
        gain = fx.LATE_PROLIFERATIVE_GAIN_MM[self.arm]
        late_mm = self.baseline_mm + gain + float(self.rng.normal(0, 0.5))
        self._scan(self.day(self.start, 18), late_mm, "late_proliferative_ultrasound")
        self._medication("tx_estradiol_valerate", self.day(self.start, 28), 28)
        self._medication("tx_dydrogesterone", self.day(self.start, 28), 10)

    def _scan(self, on: dt.date, thickness_mm: float, event_id: str | None) -> float:
        """A scheduled scan (event_id) or an unscheduled one (None, e.g. after extension)."""
        late = event_id is not None and self.rng.random() < fx.P_LATE_VISIT
        scan_on = self.by_cutoff(on + dt.timedelta(days=4) if late else on)
        value = round(max(thickness_mm, 2.0), 1)
        typo = self.rng.random() < fx.P_TYPO
        entered = value * 10 if typo else value  # a decimal point lost at data entry
        scan = UltrasoundInput(
            participant_id=self.pid,
            scan_date=scan_on,
            thickness_mm=entered,
            trilaminar=bool(value >= 7),
            event_id=event_id,
        )
        scan_id = record_ultrasound(self.study, self.coordinator, scan)
        if late:
            self._deviation(scan_on, "visit window", f"{event_id} done 4 days late")
            self._answer("ultrasounds", scan_id, "scan_date", "late visit; deviation recorded")
        if typo:
            self._resolve_typo(scan_id, value)
        return value

    def _answer(self, entity: str, row_id: int, field_name: str, answer: str) -> None:
        """The site answers the edit-check query; the monitor closes about half of them."""
        monitor = self.trial.actors[MONITOR]
        open_queries = list_queries(self.study, monitor, status=QueryStatus.OPEN, entity=entity)
        for query in open_queries:
            if query.row_id == str(row_id) and query.field == field_name:
                reply = QueryAnswer(query_id=query.query_id, answer=answer)
                answer_query(self.study, self.coordinator, reply)
                if self.rng.random() < 0.5:
                    closure = QueryClosure(query_id=query.query_id, note="answer accepted")
                    close_query(self.study, monitor, closure)

    def _resolve_typo(self, scan_id: int, value: float) -> None:
        monitor = self.trial.actors[MONITOR]
        (query,) = [
            q
            for q in list_queries(
                self.study, monitor, status=QueryStatus.OPEN, entity="ultrasounds"
            )
            if q.row_id == str(scan_id) and q.field == "thickness_mm"
        ]
        answer = f"decimal point lost at entry; source says {value} mm"
        answer_query(
            self.study, self.coordinator, QueryAnswer(query_id=query.query_id, answer=answer)
        )
        correction = UltrasoundCorrection(scan_id=scan_id, thickness_mm=value, reason=answer)
        correct_ultrasound(self.study, self.coordinator, correction)
        close_query(self.study, monitor, QueryClosure(query_id=query.query_id, note="corrected"))

    def _medication(self, regimen_id: str, last_day: dt.date, days: int) -> None:
        self.by_cutoff(last_day)
        per_day = self.protocol.regimen(regimen_id).doses_per_day
        missed = min(int(self.rng.poisson(0.4)), days * per_day)
        course = MedicationInput(
            participant_id=self.pid,
            regimen_id=regimen_id,
            taken_on=last_day,
            doses_taken=days * per_day - missed,
            days=days,
        )
        record_medication(self.study, self.coordinator, course)

    def _infusion(self) -> None:
        on = self.day(self.start, 10 if self.rng.random() < 0.9 else 11)
        weight_kg = float(str(self.candidate.items["weight_kg"]))
        viability_pct = round(float(np.clip(self.rng.normal(91, 3), 82, 99)), 1)
        plan = compute_dose(self.protocol, weight_kg, viability_pct=viability_pct)
        off_target = self.rng.random() < 0.05
        factor = 1.15 if off_target else float(self.rng.uniform(0.96, 1.04))
        dose_cells = int(round(plan.dose_viable_cells * factor, -5))
        procedure = ProcedureInput(
            participant_id=self.pid,
            procedure_date=on,
            weight_kg=weight_kg,
            viability_pct=viability_pct,
            dose_given_cells=dose_cells,
            release_results=RELEASE_RESULTS,
            pre_checks={
                "iodine_allergy_test": "negative",
                "groin_preparation": "done",
                "cell_product_release": "checked",
            },
            checklist={"angiography_confirmed": True, "observation_hours": 48},
            cell_lot=f"HBMSC-{on:%y%m}-{int(self.rng.integers(1, 40)):02d}",
            override_reason="extra cells in the final syringe; PI judged safe"
            if off_target
            else None,
        )
        user = INVESTIGATOR if off_target else RADIOLOGIST
        record_procedure(self.study, self.trial.actors[user], procedure)
        self._adverse_events(fx.PROCEDURE_AES, on)
        self._visit("post_procedure_visit", on + dt.timedelta(days=POST_PROCEDURE_VISIT_DAYS))

    def _visit(self, event_id: str, on: dt.date) -> None:
        """A scheduled visit no other record fulfils, held on `on` (once it has happened)."""
        visit = VisitInput(
            participant_id=self.pid, event_id=event_id, visit_date=self.by_cutoff(on)
        )
        record_visit(self.study, self.coordinator, visit)

    def _hrt_adverse_events(self) -> None:
        self._adverse_events(fx.HRT_AES, self.day(self.start, int(self.rng.integers(3, 20))))

    def _adverse_events(
        self, catalogue: tuple[tuple[str, int, bool, float, str], ...], on: dt.date
    ) -> None:
        for term, grade, serious, probability, related_to in catalogue:
            if self.rng.random() >= probability:
                continue
            related = {
                "procedure": Relatedness.NOT_RELATED,
                "cells": Relatedness.NOT_RELATED,
                "hrt": Relatedness.NOT_RELATED,
            }
            related[related_to] = Relatedness.PROBABLE
            resolved_on = on + dt.timedelta(days=int(self.rng.integers(1, 8)))
            event = AdverseEventInput(
                participant_id=self.pid,
                term=term,
                ctcae_grade=grade,
                serious=serious,
                onset_date=on,
                related_procedure=related["procedure"],
                related_cells=related["cells"],
                related_hrt=related["hrt"],
                resolution_date=resolved_on if resolved_on <= self.trial.cutoff else None,
                outcome="recovered" if resolved_on <= self.trial.cutoff else "recovering",
            )
            report_adverse_event(self.study, self.coordinator, event)

    # ------------------------------------------------------------------ transfer cycle
    def _transfer_cycle(self) -> None:
        late = self.rng.random() < fx.P_LATE_VISIT
        offset = int(self.rng.integers(30, 36)) + (8 if late else 0)
        start = self.by_cutoff(self.start + dt.timedelta(days=offset))
        cycle = CycleStartInput(participant_id=self.pid, cycle="transfer", start_date=start)
        start_cycle(self.study, self.coordinator, cycle)
        if late:
            self._deviation(start, "visit window", "transfer cycle started late (holiday)")
        gain = fx.TRANSFER_CYCLE_GAIN_MM[self.arm]
        thickness_mm = self.baseline_mm + gain + float(self.rng.normal(0, 0.8))
        scan_on = self.day(start, 12)
        thickness_mm = self._scan(scan_on, thickness_mm, "transfer_ultrasound")
        if thickness_mm < self.trial.threshold_mm:  # estradiol extended, scanned again
            scan_on = self.day(start, 16)
            thickness_mm += fx.EXTENDED_ESTRADIOL_GAIN_MM
            thickness_mm = self._scan(scan_on, thickness_mm, None)
        if thickness_mm < fx.CANCEL_BELOW_MM:
            self._cancelled(start, scan_on, thickness_mm)
            return
        if thickness_mm < self.trial.threshold_mm:
            text = (
                f"transfer at {thickness_mm} mm, below the 7 mm threshold (investigator decision)"
            )
            self._deviation(scan_on, "transfer threshold", text)
        self._transfer(start, scan_on, thickness_mm)

    def _cancelled(self, start: dt.date, on: dt.date, thickness_mm: float) -> None:
        reason = f"thin endometrium ({thickness_mm} mm after extended estradiol)"
        self.by_cutoff(on)
        transfer = TransferInput(participant_id=self.pid, transfer_date=on, cancel_reason=reason)
        transfer_id = record_transfer(self.study, self.coordinator, transfer)
        record_outcome(self.study, self.coordinator, OutcomeInput(transfer_id=transfer_id))
        days = (on - start).days + 1
        self._medication("fet_estradiol_valerate", on, days)

    def _transfer(self, start: dt.date, scan_on: dt.date, thickness_mm: float) -> None:
        progesterone_on = scan_on + dt.timedelta(days=2)
        transfer_on = self.by_cutoff(progesterone_on + dt.timedelta(days=5))
        embryos = 2 if self.rng.random() < fx.P_DOUBLE_EMBRYO else 1
        grades = tuple(str(g) for g in self.rng.choice(fx.GOOD_GRADES, size=embryos))
        embryo_day = 5 if self.rng.random() < 0.8 else 6
        transfer = TransferInput(
            participant_id=self.pid,
            transfer_date=transfer_on,
            embryo_grades=list(grades),
            embryo_day=embryo_day,
        )
        transfer_id = record_transfer(self.study, self.trial.actors[EMBRYOLOGIST], transfer)
        if thickness_mm < self.trial.threshold_mm:
            answer = "investigator decided to transfer; deviation recorded"
            self._answer("embryo_transfers", transfer_id, "transfer_date", answer)
        treated = _Treated(start, progesterone_on)
        self._outcomes(transfer_id, transfer_on, embryos, embryo_day, treated)
        signs_off = self.rng.random() < 0.3  # follow-up complete and every query closed
        investigator = self.trial.actors[INVESTIGATOR]
        if signs_off and not participant_queries(self.study, investigator, self.pid):
            signed = SignOffInput(participant_id=self.pid, password=DEMO_PASSWORDS[INVESTIGATOR])
            lock_participant(self.study, investigator, signed)

    def _outcomes(
        self,
        transfer_id: int,
        transfer_on: dt.date,
        embryos: int,
        embryo_day: int,
        treated: _Treated,
    ) -> dt.date:
        """Record beta-hCG and the transfer cycle's medication up to it (entered at that
        visit), then the 7-week scan, 12-week follow-up and delivery when pregnant."""
        late = self.rng.random() < fx.P_LATE_VISIT
        hcg_on = self.by_cutoff(transfer_on + dt.timedelta(days=17 if late else 12))
        draw = self.rng.random()
        p_clinical = fx.P_CLINICAL_PREGNANCY[self.arm]
        clinical = draw < p_clinical
        biochemical = p_clinical <= draw < p_clinical + fx.P_BIOCHEMICAL
        if clinical:
            hcg = float(self.rng.lognormal(np.log(650), 0.5))
        elif biochemical:
            hcg = float(self.rng.lognormal(np.log(45), 0.5))
        else:
            hcg = float(self.rng.uniform(0.5, 4.0))
        facts = OutcomeInput(
            transfer_id=transfer_id, beta_hcg_miu_ml=round(hcg, 1), beta_hcg_date=hcg_on
        )
        record_outcome(self.study, self.coordinator, facts)
        self._medication("fet_estradiol_valerate", hcg_on, (hcg_on - treated.start).days + 1)
        luteal_days = (hcg_on - treated.progesterone_on).days + 1
        self._medication("fet_luteal_dydrogesterone", hcg_on, luteal_days)
        if not (clinical or biochemical):
            return hcg_on
        twins = embryos == 2 and self.rng.random() < fx.P_TWINS_IF_TWO_EMBRYOS
        scan_on = self.by_cutoff(transfer_on + dt.timedelta(days=int(self.rng.integers(27, 34))))
        sacs = (2 if twins else 1) if clinical else 0
        facts = facts.model_copy(update={"ultrasound_date": scan_on, "gestational_sacs": sacs})
        reason = "7-week ultrasound result"
        record_outcome(self.study, self.coordinator, facts, reason=reason)
        if clinical:
            self._twelve_weeks(facts, transfer_on, embryo_day)
        return hcg_on

    def _twelve_weeks(self, facts: OutcomeInput, transfer_on: dt.date, embryo_day: int) -> None:
        if self.rng.random() < fx.P_MISCARRIAGE:
            loss_on = self.by_cutoff(
                transfer_on + dt.timedelta(days=int(self.rng.integers(35, 60)))
            )
            update = facts.model_copy(update={"loss_date": loss_on})
            event = AdverseEventInput(
                participant_id=self.pid,
                term="Miscarriage",
                ctcae_grade=2,
                serious=False,
                onset_date=loss_on,
            )
            report_adverse_event(self.study, self.coordinator, event)
        else:
            ongoing_on = self.by_cutoff(transfer_on + dt.timedelta(days=65))
            update = facts.model_copy(
                update={"fetal_heartbeat_12_weeks": True, "ongoing_date": ongoing_on}
            )
        reason = "12-week follow-up visit"
        record_outcome(self.study, self.coordinator, update, reason=reason)
        if update.ongoing_date is not None:
            self._delivery(update, transfer_on, embryo_day)

    def _delivery(self, facts: OutcomeInput, transfer_on: dt.date, embryo_day: int) -> None:
        """The 28-week follow-up, then the birth (gestational age drawn; twins when two sacs),
        once each has happened (the birth date fulfils the delivery follow-up)."""
        self._visit("pregnancy_28_weeks", transfer_on + dt.timedelta(days=WEEK_28_VISIT_DAYS))
        weeks = float(np.clip(self.rng.normal(*fx.DELIVERY_WEEKS), 30.0, 41.7))
        age_at_transfer_days = 14 + embryo_day
        born_on = transfer_on + dt.timedelta(days=round(weeks * 7) - age_at_transfer_days)
        alive = 0 if self.rng.random() < fx.P_STILLBIRTH else facts.gestational_sacs or 1
        update = facts.model_copy(
            update={"birth_date": self.by_cutoff(born_on), "live_born_count": alive}
        )
        record_outcome(self.study, self.coordinator, update, reason="delivery recorded")

    def _deviation(self, on: dt.date, category: str, description: str) -> None:
        deviation = DeviationInput(
            occurred_on=on, category=category, description=description, participant_id=self.pid
        )
        record_deviation(self.study, self.coordinator, deviation)


def _arm_for(
    candidate: Candidate, open_arms: tuple[str, ...], filled: Counter[str], per_arm: int
) -> str | None:
    preferred = "hbmsc" if candidate.prefers_cells else "control"
    for arm in (preferred, *(a for a in ("control", "hbmsc") if a != preferred)):
        if arm in open_arms and filled[arm] < per_arm:
            return arm
    return None


def _date(value: object) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _summary(
    study: Study, reader: Actor, seed: int, cutoff: dt.date, elapsed_s: float
) -> DemoSummary:
    """The run as its monitor reads it, through the read side (the counts of her site)."""
    protocol = study.protocol
    decisions = Counter(e.decision.value for e in screening_log(study, reader))
    board = dashboard(study, reader, on=cutoff)
    arms = {a.arm: a.count for a in board.enrolled_by_arm if a.count}
    pages = participants(study, reader)
    transfers = [(page.arm, t) for page in pages for t in page.transfers]
    events = adverse_events(study, reader)
    pregnancies: Counter[str] = Counter({arm.id: 0 for arm in protocol.arms})
    births: Counter[str] = Counter({arm.id: 0 for arm in protocol.arms})
    for arm, transfer in transfers:
        outcome = pregnancy_outcome(study, reader, transfer.transfer_id)
        pregnancies[str(arm)] += bool(outcome.clinical_pregnancy)
        births[str(arm)] += bool(outcome.live_birth)
    withdrawn = board.total("withdrawn")
    return DemoSummary(
        seed=seed,
        data_cutoff=cutoff,
        screened=sum(decisions.values()),
        decisions=dict(sorted(decisions.items())),
        enrolled_by_arm=dict(sorted(arms.items())),
        withdrawn=withdrawn,
        procedures=sum(page.counts.procedures for page in pages),
        transfers=sum(not t.cancelled for _, t in transfers),
        cancelled_transfers=sum(t.cancelled for _, t in transfers),
        clinical_pregnancies_by_arm=dict(sorted(pregnancies.items())),
        live_births_by_arm=dict(sorted(births.items())),
        in_follow_up=sum(arms.values()) - withdrawn - len(transfers),
        adverse_events=len(events),
        serious_adverse_events=sum(e.serious for e in events),
        deviations=sum(page.counts.deviations for page in pages),
        open_queries=board.total("open_queries"),
        visits_due=board.total("visits_due"),
        visits_overdue=board.total("visits_overdue"),
        elapsed_seconds=round(elapsed_s, 2),
    )
