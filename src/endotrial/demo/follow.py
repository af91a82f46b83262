"""One synthetic participant followed through her arm of any protocol, by the services.

Her cycles are started in the protocol's order; in each, the scans, procedures and visits her
arm's schedule dates are recorded on their days, the drug regimens at the cycle's end. A cycle
holding the embryo transfer (found by its event role, never by id) is followed as a transfer
cycle: the scan the transfer hangs from, the transfer or its cancellation, the pregnancy test
and, when pregnant, the follow-ups to delivery. A protocol without transfers is followed to
its last scheduled scan or visit instead. Nothing dated after the data cut-off is recorded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from endotrial.demo import effects as fx
from endotrial.demo.profile import AdverseEventRate, Candidate, schedule_roots
from endotrial.dosing import compute_dose
from endotrial.dosing.engine import VIABILITY_RESULT_ID, procedure_dose_rule
from endotrial.errors import EndotrialError
from endotrial.outcomes.measures import items_at, measurement_events
from endotrial.protocol.models import (
    CycleSpec,
    DataItem,
    DoseRule,
    EventRole,
    ItemType,
    MeasureDerivation,
    ProcedureSpec,
    ReleaseCriterion,
)
from endotrial.protocol.settings import TRANSFER_THICKNESS_MIN_MM
from endotrial.schedule.engine import Schedule, ScheduledEvent, build_schedule
from endotrial.services import (
    AdverseEventInput,
    CycleStartInput,
    DeviationInput,
    MeasurementInput,
    MedicationInput,
    OutcomeInput,
    ProcedureInput,
    QueryAnswer,
    QueryClosure,
    SignOffInput,
    TransferInput,
    UltrasoundCorrection,
    UltrasoundInput,
    VisitInput,
    WithdrawalInput,
    answer_query,
    close_query,
    correct_ultrasound,
    list_queries,
    lock_participant,
    participant_queries,
    record_deviation,
    record_measurement,
    record_medication,
    record_outcome,
    record_procedure,
    record_transfer,
    record_ultrasound,
    record_visit,
    report_adverse_event,
    start_cycle,
    withdraw,
)
from endotrial.store import QueryStatus, Relatedness

if TYPE_CHECKING:
    from endotrial.demo.run import _Run

#: The visits a visit record fulfils (other kinds are recorded by their own services).
VISIT_KINDS = ("visit", "follow_up")
#: Days after a day-5 blastocyst transfer to 12 weeks' gestation (the ongoing-pregnancy scan).
ONGOING_DAYS_AFTER_TRANSFER = 65
#: Miscarriages happen between these days after the transfer (weeks 7 to 10).
LOSS_DAYS_AFTER_TRANSFER = (35, 60)
#: A visit held after its planned date by this many days (the team books the next free day).
VISIT_DELAY_DAYS = 3
#: Defaults for a transfer protocol whose schedule lacks a test or scan event with its role.
BETA_HCG_DAYS_AFTER_TRANSFER = 12
PREGNANCY_SCAN_DAYS_AFTER_TRANSFER = 30
#: Chance that a procedure slips to the next day, that one dose is off target.
P_PROCEDURE_ON_DAY = 0.9
P_DOSE_OFF_TARGET = 0.05
OFF_TARGET_FACTOR = 1.15
P_SIGNS_OFF = 0.3
#: What the run wrote, per participant, to compare with what the read side shows.
Tally = Counter[str]


class PastCutoff(Exception):
    """Her next visit falls after the data cut-off: her record stops there."""


@dataclass(frozen=True)
class _Activity:
    day: int
    order: int
    act: Callable[[], None]


class Follow:
    """One participant through her arm's cycles, procedures, scans and visits."""

    def __init__(self, run: _Run, participant_id: int, arm: str, candidate: Candidate) -> None:
        self.trial = run
        self.study = run.study
        self.protocol = run.protocol
        self.profile = run.profile
        self.coordinator = run.actors["coord.li"]
        self.rng = run.rng
        self.pid = participant_id
        self.arm = arm
        self.candidate = candidate
        self.tally: Tally = run.tally.setdefault(participant_id, Counter())
        screened_on = _date(candidate.items["screening_date"])
        self.start = screened_on + dt.timedelta(days=int(self.rng.integers(7, 30)))
        self.baseline_mm = float(self.rng.normal(*self.profile.baseline_thickness_mm))
        self.actual: dict[str, dt.date] = {}
        self.done: set[str] = set()
        self.transfer_cycle = _transfer_cycle(run)
        self.measured: dict[str, float] = {}
        """Her baseline value of each number item measured (for a change from baseline)."""
        self.measuring = set(measurement_events(self.protocol))

    # ------------------------------------------------------------------ helpers
    def day(self, cycle_start: dt.date, cycle_day: int) -> dt.date:
        return cycle_start + dt.timedelta(days=cycle_day - 1)

    def by_cutoff(self, on: dt.date) -> dt.date:
        """`on`, or stop following her when it lies after the data cut-off."""
        return self.trial.by_cutoff(on)

    def schedule(self) -> Schedule:
        """Her schedule from the dates known so far (a cycle not yet started: as planned; a
        date the site gives and she has not reached: her first cycle's, for now)."""
        roots = schedule_roots(self.protocol, self.arm, self.start)
        return build_schedule(self.protocol, self.arm, {**roots, **self.actual})

    def run(self) -> None:
        with contextlib.suppress(PastCutoff):  # the rest of her follow-up is still to come
            self._follow()

    def _follow(self) -> None:
        cycles = self._her_cycles()
        self._before_cycles()
        for index, cycle in enumerate(cycles):
            if index == 1 and self._withdraws(cycles[0]):
                return
            if cycle.id == self.transfer_cycle:
                self._transfer_cycle(cycle)
                return
            self._treatment_cycle(cycle, first=index == 0)
        if len(cycles) == 1 and self._withdraws(cycles[0]):
            return
        self._follow_up()
        self._signs_off()

    def _her_cycles(self) -> list[CycleSpec]:
        """The protocol's cycles her arm's schedule has, in order."""
        events = {e.id for e in self.protocol.schedule if e.arms is None or self.arm in e.arms}
        return [c for c in self.protocol.cycles if c.start_event in events]

    def _withdraws(self, first: CycleSpec) -> bool:
        if self.rng.random() >= fx.P_WITHDRAWS:
            return False
        reason = str(self.rng.choice(["moved away", "personal reasons", "spontaneous pregnancy"]))
        withdrawn_on = self.by_cutoff(self.day(self.start, first.length_days + 2))
        withdrawal = WithdrawalInput(
            participant_id=self.pid,
            withdrawn_on=withdrawn_on,
            initiated_by="participant",
            reason=reason,
        )
        withdraw(self.study, self.coordinator, withdrawal)
        return True

    # ------------------------------------------------------------------ cycles
    def _cycle_start(self, cycle: CycleSpec, *, first: bool) -> tuple[dt.date, bool]:
        """Day 1: drawn for her first cycle; a later one near its planned day (now and then
        after its window, a deviation)."""
        if first:
            return self.start, False
        late = self.rng.random() < fx.P_LATE_VISIT
        planned = self.schedule().event(cycle.start_event)
        if planned.anchor is None:  # a day 1 the site gives: after the cycle before it
            previous = max(self.actual.values())
            return previous + dt.timedelta(days=int(self.rng.integers(1, 8))), False
        before = planned.planned_date - planned.earliest
        after = planned.latest - planned.planned_date
        shift = int(self.rng.integers(-before.days, min(after.days, 4) + 1))
        extra = after.days + 1 if late else 0
        return planned.planned_date + dt.timedelta(days=shift + extra), late

    def _begin(self, cycle: CycleSpec, start: dt.date, late: bool) -> None:
        self.actual[cycle.start_event] = start
        begun = CycleStartInput(participant_id=self.pid, cycle=cycle.id, start_date=start)
        start_cycle(self.study, self.coordinator, begun)
        self.tally["cycles"] += 1
        if late:
            self._deviation(start, "visit window", f"{cycle.id} cycle started late (holiday)")

    def _treatment_cycle(self, cycle: CycleSpec, *, first: bool) -> None:
        start, late = self._cycle_start(cycle, first=first)
        self.by_cutoff(self.day(start, cycle.length_days))  # entered once it is complete
        self._begin(cycle, start, late)
        for activity in sorted(self._activities(cycle, start), key=lambda a: (a.day, a.order)):
            activity.act()
        self._cycle_medication(cycle)

    def _activities(self, cycle: CycleSpec, start: dt.date) -> list[_Activity]:
        """What happens in the cycle, by cycle day: scans, procedures, visits, and the drug
        regimens' adverse events drawn at mid-cycle."""
        found: list[_Activity] = []
        arm = self.protocol.arm(self.arm)
        for procedure_id in arm.procedures:
            spec = self.protocol.procedure(procedure_id)
            if cycle.id in spec.cycles_given():
                found.append(
                    _Activity(spec.cycle_day, 1, _bind(self._procedure, spec, cycle, start))
                )
        procedure_ids = set(arm.procedures)
        for event in self.schedule():
            if event.cycle != cycle.id or event.anchor in procedure_ids:
                continue
            day = event.cycle_day or 1
            if event.kind == "ultrasound":
                found.append(_Activity(day, 0, _bind(self._scheduled_scan, event)))
            elif event.kind in VISIT_KINDS:
                found.append(_Activity(day, 2, _bind(self._visit, event.id, event.date)))
            elif event.id in self.measuring:
                found.append(_Activity(day, 2, _bind(self._measure_on, event)))
        if any(self.protocol.regimen(r).cycle == cycle.id for r in arm.regimens):
            found.append(
                _Activity(cycle.length_days // 2, 3, _bind(self._regimen_aes, cycle, start))
            )
        return found

    def _cycle_medication(self, cycle: CycleSpec) -> None:
        """Each regimen of the cycle, from its start to its stop in her schedule."""
        schedule = self.schedule()
        for regimen_id in self.protocol.arm(self.arm).regimens:
            if self.protocol.regimen(regimen_id).cycle != cycle.id:
                continue
            first = schedule.event(f"{regimen_id}_start").date
            last = schedule.event(f"{regimen_id}_stop").date
            self._medication(regimen_id, last, (last - first).days + 1)

    def _regimen_aes(self, cycle: CycleSpec, start: dt.date) -> None:
        latest_day = max(4, cycle.length_days * 5 // 7)
        onset = self.day(start, int(self.rng.integers(3, latest_day)))
        self._adverse_events(self.profile.regimen_aes, onset)

    # ------------------------------------------------------------------ scans
    def _scheduled_scan(self, event: ScheduledEvent) -> None:
        self._scan(event.date, self._thickness_at(event.id), event.id)

    def _thickness_at(self, event_id: str) -> float:
        effect = self.profile.scan_effects.get(event_id)
        if effect is None:
            return self.baseline_mm
        gain = effect.gain_mm.get(self.arm, 0.0)
        return self.baseline_mm + gain + float(self.rng.normal(0, effect.noise_sd_mm))

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
        self.tally["ultrasounds"] += 1
        if event_id is not None:
            self.done.add(event_id)
            self._measure(event_id, scan_on, value)
        if late:
            self._deviation(scan_on, "visit window", f"{event_id} done 4 days late")
            self._answer("ultrasounds", scan_id, "scan_date", "late visit; deviation recorded")
        if typo:
            self._resolve_typo(scan_id, value)
        return value

    def _answer(self, entity: str, row_id: int, field_name: str, answer: str) -> None:
        """The site answers the edit-check query; the monitor closes about half of them."""
        monitor = self.trial.monitor
        open_queries = list_queries(self.study, monitor, status=QueryStatus.OPEN, entity=entity)
        for query in open_queries:
            if query.row_id == str(row_id) and query.field == field_name:
                reply = QueryAnswer(query_id=query.query_id, answer=answer)
                answer_query(self.study, self.coordinator, reply)
                if self.rng.random() < 0.5:
                    closure = QueryClosure(query_id=query.query_id, note="answer accepted")
                    close_query(self.study, monitor, closure)

    def _resolve_typo(self, scan_id: int, value: float) -> None:
        monitor = self.trial.monitor
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

    # ------------------------------------------------------------------ medication, visits
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
        self.tally["medication_records"] += 1

    def _visit(self, event_id: str, on: dt.date) -> None:
        """A scheduled visit no other record fulfils, held on `on` (once it has happened)."""
        visit = VisitInput(
            participant_id=self.pid, event_id=event_id, visit_date=self.by_cutoff(on)
        )
        record_visit(self.study, self.coordinator, visit)
        self.tally["visits"] += 1
        self.done.add(event_id)
        self._measure(event_id, visit.visit_date)

    # ------------------------------------------------------------------ outcome measures
    def _measure_on(self, event: ScheduledEvent) -> None:
        """An event recorded by no other record here (a lab, an assessment): its measures."""
        self._measure(event.id, self.by_cutoff(event.date))
        self.done.add(event.id)

    def _measure(self, event_id: str, on: dt.date, scanned_mm: float | None = None) -> None:
        """Each item the protocol's outcome measures ask for at this event, with a value in
        the item's range (SYNTHETIC: a change from baseline is the profile's, by arm)."""
        if event_id not in self.measuring:
            return
        for item in items_at(self.protocol, event_id).values():
            value = self._value(item, event_id, scanned_mm)
            measurement = MeasurementInput(
                participant_id=self.pid, event_id=event_id, item=item.name, value=value,
                measured_date=on,
            )  # fmt: skip
            record_measurement(self.study, self.coordinator, measurement)
            self.tally["measurements"] += 1

    def _value(
        self, item: DataItem, event_id: str, scanned_mm: float | None
    ) -> float | int | bool | str:
        if item.type == ItemType.boolean:
            return bool(self.rng.random() < 0.6)
        if item.type == ItemType.category:
            return str(self.rng.choice(item.values or []))
        if item.type == ItemType.date:
            return str(self.by_cutoff(self.trial.cutoff))
        low = item.minimum if item.minimum is not None else 0.0
        high = item.maximum if item.maximum is not None else low + 100.0
        span = high - low
        if scanned_mm is not None and item.unit == "mm" and "thick" in item.name:
            number = scanned_mm  # the scan's own thickness
        elif self._changes_at(item.name, event_id) and item.name in self.measured:
            change = self.profile.measure_change_fraction.get(self.arm, 0.0) * span
            number = self.measured[item.name] + change + float(self.rng.normal(0, span * 0.03))
        else:
            number = float(self.rng.uniform(low + 0.15 * span, low + 0.6 * span))
        number = float(np.clip(number, low, high))
        self.measured.setdefault(item.name, number)
        if item.type == ItemType.integer:
            return round(number)
        return round(number, 1)

    def _changes_at(self, item_name: str, event_id: str) -> bool:
        return any(
            m.item == item_name
            and m.event == event_id
            and m.derivation == MeasureDerivation.change_from_baseline
            for m in self.protocol.outcome_measures
        )

    # ------------------------------------------------------------------ procedures
    def _procedure(self, spec: ProcedureSpec, cycle: CycleSpec, start: dt.date) -> None:
        """The procedure on its cycle day (now and then the next), dosed by her arm's rule
        (none: without cells), then its adverse events and the visits that follow it."""
        next_day = self.rng.random() >= P_PROCEDURE_ON_DAY
        on = self.day(start, spec.cycle_day + (1 if next_day else 0))
        rule = procedure_dose_rule(self.protocol, self.arm, spec.id)
        viability_pct = round(
            float(np.clip(self.rng.normal(91, 3), _lowest_viability(rule), 99)), 1
        )
        weight_kg = self._weight_kg(rule)
        dose_fields: dict[str, object] = {}
        off_target = False
        if rule is not None:
            plan = compute_dose(rule, weight_kg, viability_pct=viability_pct)
            off_target = self.rng.random() < P_DOSE_OFF_TARGET and _may_override(
                rule, plan.dose_viable_cells
            )
            factor = OFF_TARGET_FACTOR if off_target else float(self.rng.uniform(0.96, 1.04))
            dose_fields = {
                "viability_pct": viability_pct,
                "dose_given_cells": int(round(plan.dose_viable_cells * factor, -5)),
                "release_results": dict(self.profile.release_results or _passing_results(rule)),
                "cell_lot": _lot(rule.product, on, int(self.rng.integers(1, 40))),
            }
        procedure = ProcedureInput(
            participant_id=self.pid,
            procedure_id=spec.id,
            cycle=cycle.id,
            procedure_date=on,
            weight_kg=weight_kg if rule is not None else None,
            pre_checks={check.id: check.passes[0] for check in spec.pre_checks},
            checklist={"all_steps_done": True, "observation_hours": spec.observation_hours},
            override_reason="extra cells in the final syringe; PI judged safe"
            if off_target
            else None,
            **dose_fields,  # type: ignore[arg-type]
        )
        user = self.trial.investigator if off_target else self.trial.radiologist
        record_procedure(self.study, user, procedure)
        self.tally["procedures"] += 1
        if cycle.id == spec.cycle:
            self.actual[spec.id] = on
        self._adverse_events(self.profile.procedure_aes, on, with_cells=rule is not None)
        if cycle.id == spec.cycle:  # its visits within the cycle (later ones: in date order)
            for event in self.schedule():
                if event.anchor == spec.id and event.kind in VISIT_KINDS and event.cycle:
                    self._visit(event.id, on + dt.timedelta(days=event.offset_days))

    def _weight_kg(self, rule: DoseRule | None) -> float | None:
        """Her screening weight, else a plausible one inside the rule's range."""
        given = self.candidate.items.get("weight_kg")
        low = rule.weight_min_kg if rule is not None and rule.weight_min_kg else 40.0
        high = rule.weight_max_kg if rule is not None and rule.weight_max_kg else 90.0
        if isinstance(given, int | float) and low <= float(given) <= high:
            return float(given)
        if rule is not None and rule.kind == "fixed" and rule.weight_min_kg is None:
            return None
        return round(float(np.clip(self.rng.normal(58, 7), low, high)), 1)

    def _adverse_events(
        self, catalogue: tuple[AdverseEventRate, ...], on: dt.date, *, with_cells: bool = True
    ) -> None:
        for term, grade, serious, probability, related_to in catalogue:
            if self.rng.random() >= probability:
                continue
            related = {
                "procedure": Relatedness.NOT_RELATED,
                "cells": Relatedness.NOT_RELATED,
                "hrt": Relatedness.NOT_RELATED,
            }
            related["procedure" if related_to == "cells" and not with_cells else related_to] = (
                Relatedness.PROBABLE
            )
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

    def _deviation(self, on: dt.date, category: str, description: str) -> None:
        deviation = DeviationInput(
            occurred_on=on, category=category, description=description, participant_id=self.pid
        )
        record_deviation(self.study, self.coordinator, deviation)

    def _before_cycles(self) -> None:
        """Scans and visits the protocol dates before her first cycle (a baseline scan in the
        cycle before): held once she is enrolled, before the cycle starts."""
        enrolled_on = self.trial.enrolled_on.get(self.pid, self.start)
        for event in self.schedule():
            if event.date >= self.start or event.id in self.done:
                continue
            on = max(event.date, enrolled_on)
            if event.kind == "ultrasound":
                self._scan(on, self._thickness_at(event.id), event.id)
            elif event.kind in VISIT_KINDS:
                self._visit(event.id, on)
            elif event.id in self.measuring:
                self._measure(event.id, self.by_cutoff(on))
                self.done.add(event.id)

    # ------------------------------------------------------------------ after the cycles
    def _after_transfer(self) -> None:
        """Her scheduled scans and visits that do not follow from the transfer (a thickness
        measured months after the treatment), in date order; the transfer's own follow-up
        is the pregnancy's."""
        schedule = self.schedule()
        anchors = {e.id: e.anchor for e in schedule}
        transfer_event = self.protocol.role_event(EventRole.embryo_transfer, self.arm)

        def follows_transfer(event_id: str | None) -> bool:
            seen: set[str] = set()
            while event_id is not None and event_id not in seen:
                if event_id == transfer_event:
                    return True
                seen.add(event_id)
                event_id = anchors.get(event_id)
            return False

        self._follow_up(skip={e.id for e in schedule if follows_transfer(e.id)})

    def _follow_up(self, skip: set[str] | None = None) -> None:
        """The scheduled scans and visits after her cycles, in date order."""
        for event in self.schedule():
            if event.id in self.done or event.id in (skip or set()):
                continue
            if event.kind == "ultrasound":
                self.by_cutoff(event.date)
                self._scheduled_scan(event)
            elif event.kind in VISIT_KINDS:
                self._visit(event.id, event.date)
            elif event.id in self.measuring:
                self._measure_on(event)

    def _signs_off(self) -> None:
        """Follow-up complete and every query closed: now and then the investigator signs."""
        signs_off = self.rng.random() < P_SIGNS_OFF
        investigator = self.trial.investigator
        if signs_off and not participant_queries(self.study, investigator, self.pid):
            password = self.trial.investigator_password
            lock_participant(
                self.study, investigator, SignOffInput(participant_id=self.pid, password=password)
            )

    # ------------------------------------------------------------------ transfer cycle
    def _transfer_cycle(self, cycle: CycleSpec) -> None:
        start, late = self._cycle_start(cycle, first=False)
        self.by_cutoff(start)
        self._begin(cycle, start, late)
        decisive = _decisive_scan(
            self.schedule(), self.protocol.role_event(EventRole.embryo_transfer, self.arm)
        )
        threshold_mm = TRANSFER_THICKNESS_MIN_MM.number(self.protocol)
        scan_on = self.schedule().event(decisive).date if decisive else start
        thickness_mm = self._thickness_at(decisive or "")
        if decisive is not None:
            thickness_mm = self._scan(scan_on, thickness_mm, decisive)
        if thickness_mm < threshold_mm:  # estradiol extended, scanned again
            scan_on += dt.timedelta(days=fx.EXTENSION_DAYS)
            thickness_mm += fx.EXTENDED_ESTRADIOL_GAIN_MM
            thickness_mm = self._scan(scan_on, thickness_mm, None)
        if decisive is not None:
            self.actual[decisive] = scan_on
        if thickness_mm < fx.CANCEL_BELOW_MM:
            self._cancelled(cycle, start, scan_on, thickness_mm)
            return
        if thickness_mm < threshold_mm:
            text = (
                f"transfer at {thickness_mm} mm, below the {threshold_mm:g} mm threshold "
                "(investigator decision)"
            )
            self._deviation(scan_on, "transfer threshold", text)
        self._transfer(cycle, thickness_mm, threshold_mm)

    def _cancelled(
        self, cycle: CycleSpec, start: dt.date, on: dt.date, thickness_mm: float
    ) -> None:
        reason = f"thin endometrium ({thickness_mm} mm after extended estradiol)"
        self.by_cutoff(on)
        transfer = TransferInput(participant_id=self.pid, transfer_date=on, cancel_reason=reason)
        transfer_id = record_transfer(self.study, self.coordinator, transfer)
        self.tally["transfers"] += 1
        record_outcome(self.study, self.coordinator, OutcomeInput(transfer_id=transfer_id))
        self._transfer_medication(cycle, on)
        self._after_transfer()

    def _transfer_medication(self, cycle: CycleSpec, until: dt.date) -> None:
        """The cycle's regimens begun by `until`, recorded up to it (entered at that visit)."""
        schedule = self.schedule()
        for regimen_id in self.protocol.arm(self.arm).regimens:
            if self.protocol.regimen(regimen_id).cycle != cycle.id:
                continue
            first = schedule.event(f"{regimen_id}_start").date
            if first <= until:
                self._medication(regimen_id, until, (until - first).days + 1)

    def _transfer(self, cycle: CycleSpec, thickness_mm: float, threshold_mm: float) -> None:
        transfer_event = self.protocol.role_event(EventRole.embryo_transfer, self.arm)
        assert transfer_event is not None  # a transfer cycle holds the transfer
        transfer_on = self.by_cutoff(self.schedule().event(transfer_event).date)
        embryos = 2 if self.rng.random() < fx.P_DOUBLE_EMBRYO else 1
        grades = tuple(str(g) for g in self.rng.choice(fx.GOOD_GRADES, size=embryos))
        embryo_day = 5 if self.rng.random() < 0.8 else 6
        transfer = TransferInput(
            participant_id=self.pid,
            transfer_date=transfer_on,
            embryo_grades=list(grades),
            embryo_day=embryo_day,
        )
        transfer_id = record_transfer(self.study, self.trial.embryologist, transfer)
        self.tally["transfers"] += 1
        self.actual[transfer_event] = transfer_on
        if thickness_mm < threshold_mm:
            answer = "investigator decided to transfer; deviation recorded"
            self._answer("embryo_transfers", transfer_id, "transfer_date", answer)
        self._outcomes(cycle, transfer_id, transfer_on, embryos, embryo_day)
        self._after_transfer()
        self._signs_off()

    def _days_after_transfer(self, role: EventRole, default_days: int) -> tuple[int, int]:
        """Planned days from the transfer to the event with `role`, and its window after."""
        event_id = self.protocol.role_event(role, self.arm)
        if event_id is None:
            return default_days, 2
        event = self.schedule().event(event_id)
        return event.offset_days, (event.latest - event.planned_date).days

    def _outcomes(
        self,
        cycle: CycleSpec,
        transfer_id: int,
        transfer_on: dt.date,
        embryos: int,
        embryo_day: int,
    ) -> None:
        """Record beta-hCG and the transfer cycle's medication up to it (entered at that
        visit), then the pregnancy scan, 12-week follow-up and delivery when pregnant."""
        late = self.rng.random() < fx.P_LATE_VISIT
        hcg_days, hcg_after = self._days_after_transfer(
            EventRole.beta_hcg_test, BETA_HCG_DAYS_AFTER_TRANSFER
        )
        hcg_on = self.by_cutoff(
            transfer_on + dt.timedelta(days=hcg_days + (hcg_after + 3 if late else 0))
        )
        draw = self.rng.random()
        p_clinical = self.profile.p_clinical_pregnancy.get(self.arm, 0.0)
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
        self._transfer_medication(cycle, hcg_on)
        if not (clinical or biochemical):
            return
        twins = embryos == 2 and self.rng.random() < fx.P_TWINS_IF_TWO_EMBRYOS
        scan_days, _after = self._days_after_transfer(
            EventRole.pregnancy_scan, PREGNANCY_SCAN_DAYS_AFTER_TRANSFER
        )
        scan_on = self.by_cutoff(
            transfer_on + dt.timedelta(days=scan_days + int(self.rng.integers(-3, 4)))
        )
        sacs = (2 if twins else 1) if clinical else 0
        facts = facts.model_copy(update={"ultrasound_date": scan_on, "gestational_sacs": sacs})
        record_outcome(self.study, self.coordinator, facts, reason="7-week ultrasound result")
        if clinical:
            self._twelve_weeks(facts, transfer_on, embryo_day)

    def _twelve_weeks(self, facts: OutcomeInput, transfer_on: dt.date, embryo_day: int) -> None:
        if self.rng.random() < fx.P_MISCARRIAGE:
            loss_days = int(self.rng.integers(*LOSS_DAYS_AFTER_TRANSFER))
            loss_on = self.by_cutoff(transfer_on + dt.timedelta(days=loss_days))
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
            ongoing_on = self.by_cutoff(
                transfer_on + dt.timedelta(days=ONGOING_DAYS_AFTER_TRANSFER)
            )
            update = facts.model_copy(
                update={"fetal_heartbeat_12_weeks": True, "ongoing_date": ongoing_on}
            )
        record_outcome(self.study, self.coordinator, update, reason="12-week follow-up visit")
        if update.ongoing_date is not None:
            self._delivery(update, transfer_on, embryo_day)

    def _delivery(self, facts: OutcomeInput, transfer_on: dt.date, embryo_day: int) -> None:
        """The follow-up visits after the transfer but the last (the birth date fulfils the
        delivery follow-up), then the birth (gestational age drawn; twins when two sacs)."""
        transfer_event = self.protocol.role_event(EventRole.embryo_transfer, self.arm)
        follow_ups = [
            e for e in self.schedule() if e.anchor == transfer_event and e.kind in VISIT_KINDS
        ]
        for event in follow_ups[:-1]:
            self._visit(event.id, event.date + dt.timedelta(days=VISIT_DELAY_DAYS))
        weeks = float(np.clip(self.rng.normal(*fx.DELIVERY_WEEKS), 30.0, 41.7))
        age_at_transfer_days = 14 + embryo_day
        born_on = transfer_on + dt.timedelta(days=round(weeks * 7) - age_at_transfer_days)
        alive = 0 if self.rng.random() < fx.P_STILLBIRTH else facts.gestational_sacs or 1
        update = facts.model_copy(
            update={"birth_date": self.by_cutoff(born_on), "live_born_count": alive}
        )
        record_outcome(self.study, self.coordinator, update, reason="delivery recorded")


def _bind(function: Callable[..., None], *args: object) -> Callable[[], None]:
    return lambda: function(*args)


def _date(value: object) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _transfer_cycle(run: _Run) -> str | None:
    """The cycle holding the embryo transfer (by its role), if the protocol has one."""
    event_id = run.protocol.role_event(EventRole.embryo_transfer)
    if event_id is None:
        return None
    for arm in run.protocol.arms:
        roots = schedule_roots(run.protocol, arm.id, run.cutoff)
        with contextlib.suppress(EndotrialError):
            return build_schedule(run.protocol, arm.id, roots).event(event_id).cycle
    return None


def _decisive_scan(schedule: Schedule, transfer_event: str | None) -> str | None:
    """The scan the transfer hangs from (its anchors followed up to a scan), if any."""
    events = {e.id: e for e in schedule}
    current = events.get(transfer_event or "")
    while current is not None and current.anchor is not None:
        current = events.get(current.anchor)
        if current is not None and current.kind == "ultrasound":
            return current.id
    return None


def _lowest_viability(rule: DoseRule | None) -> float:
    """A viability that passes the rule's limit, never below the seed's 82 %."""
    limits = [
        float(c.value)
        for c in (rule.release_criteria if rule is not None else [])
        if c.id == VIABILITY_RESULT_ID and c.kind == "minimum" and isinstance(c.value, int | float)
    ]
    return max([82.0, *(limit + 2 for limit in limits)])


def _may_override(rule: DoseRule, dose_cells: float) -> bool:
    """Whether an investigator may accept a dose off target by OFF_TARGET_FACTOR."""
    within = rule.override_within_pct or 0
    capped = (
        rule.max_total_cells is not None and dose_cells * OFF_TARGET_FACTOR > rule.max_total_cells
    )
    return rule.override_out_of_tolerance and within >= (OFF_TARGET_FACTOR - 1) * 100 and not capped


def _passing_results(rule: DoseRule) -> dict[str, float | str]:
    """A release result for each criterion (viability is given on its own) that passes."""
    return {c.id: _passing(c) for c in rule.release_criteria if c.id != VIABILITY_RESULT_ID}


def _passing(criterion: ReleaseCriterion) -> float | str:
    value = criterion.value
    if criterion.kind == "equals" or not isinstance(value, int | float):
        return value
    low, high = criterion.possible_range()
    if criterion.kind == "minimum":
        top = high if high is not None else float(value) * 1.5 + 1
        return round(float(value) + (top - float(value)) * 0.7, 1)
    return round(max(low, float(value) * 0.25), 3)


def _lot(product: str, on: dt.date, number: int) -> str:
    """'HBMSC-2511-07': the product's first word in capitals ('hBMSC (human ...)' gives
    HBMSC), the month made, the batch number."""
    word = re.split(r"[\s(]", product.strip(), maxsplit=1)[0]
    prefix = re.sub(r"[^A-Za-z0-9-]", "", word).upper()[:12] or "LOT"
    return f"{prefix}-{on:%y%m}-{number:02d}"
