"""The analysis dataset, built from the trial's database (one documented build).

`build_dataset(engine, protocol)` reads every table it needs once, through the store's
read-only session, and returns the tables of `endotrial.analysis.dataset` (checked against
that contract before they are returned) and the screening log the participant flow needs:

- participants: her study id, site, arm (allocated and received), dates, every
  non-identifying screening item of her last screening before enrolment cast by its protocol
  type (derived items the screening did not keep, such as a BMI, computed from the others),
  the values the analysis plan reads (`endotrial.protocol.analysis_values`), exposure and
  every pregnancy outcome derived again from the recorded facts by `endotrial.outcomes`;
  the analysis-set flags come from the plan's rules (`analysis.sets`);
  and one column per outcome measure of the protocol (`analysis.measures.measure_column`):
  her value at its event, her change from baseline, or whether its threshold is met
  (`endotrial.outcomes.measures`), missing until every value it needs is recorded;
- embryos, adverse events and measurements (thickness scans, β-hCG values and the number
  values of outcome measures, each with the schedule event it belongs to);
- screenings: one row per person screened, her last decision and the criteria she failed.

Identity never enters: no name, candidate id, pseudonym, birth date or free-text note other
than a withdrawal's reason; people are named by study id, screenings by a running number.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from endotrial.analysis.dataset import ANALYSIS_TABLES, SCREENINGS, validate_frames
from endotrial.analysis.measures import measure_column
from endotrial.analysis.sets import SET_COLUMNS, apply_analysis_plan
from endotrial.dosing.engine import procedure_dose_rule
from endotrial.eligibility.engine import derived_values
from endotrial.errors import InputError
from endotrial.outcomes import (
    GardnerGrade,
    PregnancyFacts,
    derive_outcome,
    gestational_age_days,
    is_good_quality,
)
from endotrial.outcomes.measures import derive_measure
from endotrial.protocol.analysis_values import VALUE_NAMES
from endotrial.protocol.models import (
    DataItem,
    ItemType,
    MeasureDerivation,
    OutcomeMeasure,
    Protocol,
    ScheduleEvent,
)
from endotrial.store import models as m
from endotrial.store.trial_protocol import RecordedProtocol, protocol_sha256, recorded_protocol
from endotrial.store.unit_of_work import read_session

#: Units of the measurements table, by measurement name.
UNITS = {"thickness_mm": "mm", "beta_hcg_miu_ml": "mIU/mL"}


@dataclass(frozen=True)
class AnalysisDataset:
    """The analysis tables built from one database, with what identifies the build."""

    participants: pd.DataFrame
    embryos: pd.DataFrame
    adverse_events: pd.DataFrame
    measurements: pd.DataFrame
    screenings: pd.DataFrame
    protocol_id: str
    protocol_sha256: str

    def frames(self) -> dict[str, pd.DataFrame]:
        """The four tables of the analysis contract, by name."""
        return {name: getattr(self, name) for name in ANALYSIS_TABLES}

    def row_counts(self) -> dict[str, int]:
        return {
            name: len(frame)
            for name, frame in {**self.frames(), "screenings": self.screenings}.items()
        }


def build_dataset(engine: Engine, protocol: Protocol) -> AnalysisDataset:
    """Read the trial's database (read-only) into the analysis dataset."""
    digest = protocol_sha256(protocol)
    with read_session(engine) as session:  # rows are read inside: the session expires them
        _check_protocol(recorded_protocol(session), protocol, digest)
        build = _Build(protocol, _Rows.read(session))
        participants = build.participants()
        embryos, adverse_events = build.embryos(), build.adverse_events()
        measurements, screenings = build.measurements(), build.screenings()
    dataset = AnalysisDataset(
        participants=_with_analysis_sets(participants, protocol),
        embryos=embryos,
        adverse_events=adverse_events,
        measurements=measurements,
        screenings=screenings,
        protocol_id=protocol.protocol_id,
        protocol_sha256=digest,
    )
    validate_frames(dataset.frames())
    validate_frames({"screenings": dataset.screenings}, tables=(SCREENINGS,))
    return dataset


def _with_analysis_sets(participants: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """The plan's set flags and covariates; a protocol that declares no analysis sets (a
    single-arm or descriptive trial) has every flag False: no one is in a set it lacks."""
    if protocol.analysis_plan.analysis_sets is not None:
        return apply_analysis_plan(participants, protocol)
    return participants.assign(**{column: False for column in SET_COLUMNS.values()})


def _check_protocol(recorded: RecordedProtocol | None, protocol: Protocol, digest: str) -> None:
    """The analysis must read the database with the protocol it runs: another file (or an
    edited one) would name other items, arms and sets."""
    if recorded is None:
        return  # a database set up before revision 0005 has no protocol recorded yet
    if (recorded.protocol_id, recorded.content_sha256) != (protocol.protocol_id, digest):
        raise InputError(
            f"the database runs {recorded}, not the protocol given ({protocol.protocol_id}, "
            f"content sha256 {digest[:16]}…): analyse it with the protocol file it was set "
            "up with (--protocol)",
            code="analysis.protocol_mismatch",
        )


@dataclass(frozen=True)
class _Rows:
    """Every row the build reads, loaded once per table."""

    sites: dict[int, str]
    participants: list[m.Participant]
    allocations: dict[int, m.Allocation]
    screenings: list[m.Screening]
    cycles: dict[int, list[m.Cycle]]
    medications: set[int]
    procedures: dict[int, list[m.Procedure]]
    ultrasounds: dict[int, list[m.Ultrasound]]
    transfers: dict[int, list[m.EmbryoTransfer]]
    embryos: dict[int, list[m.TransferredEmbryo]]
    outcomes: dict[int, m.PregnancyOutcome]
    adverse_events: list[m.AdverseEvent]
    major_deviations: set[int]
    withdrawals: dict[int, m.Withdrawal]
    measurements: dict[int, list[m.Measurement]]

    @classmethod
    def read(cls, session: Session) -> _Rows:
        def every(model: Any) -> list[Any]:
            return list(session.scalars(select(model).order_by(model.id)))

        return cls(
            sites={site.id: site.code for site in every(m.Site)},
            participants=[p for p in every(m.Participant) if p.enrolled_on is not None],
            allocations={a.participant_id: a for a in every(m.Allocation)},
            screenings=every(m.Screening),
            cycles=_by_participant(every(m.Cycle)),
            medications={r.participant_id for r in every(m.MedicationRecord)},
            procedures=_by_participant(every(m.Procedure)),
            ultrasounds=_by_participant(every(m.Ultrasound)),
            transfers=_by_participant(every(m.EmbryoTransfer)),
            embryos=_grouped(every(m.TransferredEmbryo), "transfer_id"),
            outcomes={o.transfer_id: o for o in every(m.PregnancyOutcome)},
            adverse_events=every(m.AdverseEvent),
            major_deviations={
                d.participant_id
                for d in every(m.ProtocolDeviation)
                if d.major and d.participant_id is not None
            },
            withdrawals={w.participant_id: w for w in every(m.Withdrawal)},
            measurements=_by_participant(every(m.Measurement)),
        )


def _by_participant(rows: Iterable[Any]) -> dict[int, list[Any]]:
    return _grouped(rows, "participant_id")


def _grouped(rows: Iterable[Any], key: str) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return dict(grouped)


class _Build:
    def __init__(self, protocol: Protocol, rows: _Rows) -> None:
        self.protocol = protocol
        self.rows = rows
        self.study_ids = {p.id: p.study_id for p in rows.participants}
        self.items = [item for item in protocol.data_items if not item.identifying]
        self.cycle_kinds = {c.id: c for cs in rows.cycles.values() for c in cs}
        self.arm_received: dict[int, str | None] = {}

    # participants ---------------------------------------------------------------------------

    def participants(self) -> pd.DataFrame:
        records = [self._participant(p) for p in self.rows.participants]
        frame = pd.DataFrame.from_records(records, columns=self._participant_columns())
        return _typed(frame, self._participant_types())

    def _participant_columns(self) -> list[str]:
        fixed = [
            "participant_id", "site", "arm", "arm_received", "enrolled_on", "allocated_on",
        ]  # fmt: skip
        columns = [*fixed, *self._item_columns().keys(), *_STATUS_COLUMNS, *_OUTCOME_COLUMNS]
        return [*columns, *self._measure_columns().keys()]

    def _measure_columns(self) -> dict[str, OutcomeMeasure]:
        """Each outcome measure by its column (its id; `measure_<id>` if that is taken)."""
        fixed = {"participant_id", "site", "arm", "arm_received", "enrolled_on", "allocated_on"}
        taken = {*fixed, *self._item_columns(), *_STATUS_COLUMNS, *_OUTCOME_COLUMNS}
        return {measure_column(ms.id, taken): ms for ms in self.protocol.outcome_measures}

    def _measure_values(self, pid: int) -> dict[str, object]:
        """Her derived outcome on each measure (missing until every value is recorded)."""
        rows = self.rows.measurements.get(pid, [])
        values: dict[str, object] = {}
        for column, measure in self._measure_columns().items():
            recorded = {r.event_id: r.typed_value for r in rows if r.item == measure.item}
            values[column] = derive_measure(measure, recorded).outcome
        return values

    def _item_columns(self) -> dict[str, DataItem]:
        """Screening items by their column name (`screening_<name>` when the engine derives a
        participant value of the same name)."""
        return {(f"screening_{i.name}" if i.name in VALUE_NAMES else i.name): i for i in self.items}

    def _participant_types(self) -> dict[str, str]:
        types = {c: _ITEM_DTYPES[i.type] for c, i in self._item_columns().items()}
        types.update(_FIXED_TYPES)
        items = {item.name: item for item in self.protocol.data_items}
        for column, measure in self._measure_columns().items():
            types[column] = _measure_dtype(measure, items[measure.item])
        return types

    def _participant(self, participant: m.Participant) -> dict[str, Any]:
        pid = participant.id
        allocation = self.rows.allocations.get(pid)
        arm = allocation.arm if allocation else participant.arm
        withdrawal = self.rows.withdrawals.get(pid)
        transfer = self._first_transfer(pid)
        outcome = self._outcome(transfer)
        procedures = self.rows.procedures.get(pid, [])
        values = {
            "allocated": allocation is not None,
            "started_treatment": bool(self.rows.cycles.get(pid)) or pid in self.rows.medications,
            "procedure_attempted": bool(procedures),
            "received_intervention": self._received(arm, pid, procedures),
            "transfer_done": transfer is not None and not transfer.cancelled,
            "transfer_cancelled": None if transfer is None else transfer.cancelled,
            "embryos_transferred": self._embryo_count(transfer),
            "major_deviation": pid in self.rows.major_deviations,
            "withdrawn": withdrawal is not None,
            "lost_to_follow_up": withdrawal is not None
            and outcome.get("clinical_pregnancy") is None,
            "baseline_thickness_mm": self._baseline_thickness(pid),
            "thickness_mm": self._transfer_thickness(pid, transfer),
            "dose_cells": _total_dose(procedures),
        }
        self.arm_received[pid] = self._arm_received(arm, bool(procedures))
        return {
            "participant_id": participant.study_id,
            "site": self.rows.sites.get(participant.site_id),
            "arm": arm,
            "arm_received": self.arm_received[pid],
            "enrolled_on": participant.enrolled_on,
            "allocated_on": allocation.allocated_on if allocation else None,
            **self._baseline_items(pid),
            **values,
            "transfer_on": None if transfer is None else transfer.transfer_date,
            "withdrawn_on": withdrawal.withdrawn_on if withdrawal else None,
            "withdrawal_reason": withdrawal.reason if withdrawal else None,
            **outcome,
            **self._measure_values(pid),
        }

    def _baseline_items(self, pid: int) -> dict[str, object]:
        """Her last screening's items; derived items it did not keep computed from the rest."""
        screenings = [s for s in self.rows.screenings if s.participant_id == pid]
        stored: Mapping[str, object] = screenings[-1].item_values if screenings else {}
        missing_derived = [i.name for i in self.items if i.derived and stored.get(i.name) is None]
        computed = derived_values(self.protocol, stored) if missing_derived else {}
        values = {**stored, **{n: computed.get(n) for n in missing_derived}}
        return {column: values.get(item.name) for column, item in self._item_columns().items()}

    def _received(self, arm: str | None, pid: int, procedures: Sequence[m.Procedure]) -> bool:
        """Every procedure of her arm given (a dose recorded where the procedure has a dose
        rule); an arm without procedures: she started its treatment."""
        if arm is None:
            return False
        needed = self.protocol.arm(arm).procedures
        if not needed:
            return bool(self.rows.cycles.get(pid)) or pid in self.rows.medications
        given = {
            p.procedure_id
            for p in procedures
            if p.dose_cells or self._given_without_cells(arm, p.procedure_id)
        }
        return set(needed) <= given

    def _given_without_cells(self, arm: str, procedure_id: str) -> bool:
        """Her arm gives this procedure without cells (no dose rule; a vehicle control)."""
        if procedure_id not in {p.id for p in self.protocol.procedures}:
            return False
        return procedure_dose_rule(self.protocol, arm, procedure_id) is None

    def _arm_received(self, arm: str | None, attempted: bool) -> str | None:
        """Treatment received: an arm with procedures counts only when one was attempted;
        otherwise she had the arm without procedures (when the protocol has exactly one)."""
        if arm is None or attempted or not self.protocol.arm(arm).procedures:
            return arm
        plain = [a.id for a in self.protocol.arms if not a.procedures]
        return plain[0] if len(plain) == 1 else arm

    def _first_transfer(self, pid: int) -> m.EmbryoTransfer | None:
        transfers = sorted(self.rows.transfers.get(pid, []), key=lambda t: (t.transfer_date, t.id))
        return transfers[0] if transfers else None

    def _embryo_count(self, transfer: m.EmbryoTransfer | None) -> int | None:
        if transfer is None:
            return None
        return 0 if transfer.cancelled else len(self.rows.embryos.get(transfer.id, []))

    def _outcome(self, transfer: m.EmbryoTransfer | None) -> dict[str, object]:
        """Pregnancy outcomes derived again from the recorded facts (ICMART, the protocol's
        settings); all missing before a transfer is recorded."""
        if transfer is None:
            return dict.fromkeys(_OUTCOME_COLUMNS)
        embryos = self.rows.embryos.get(transfer.id, [])
        stored = self.rows.outcomes.get(transfer.id)
        derived = derive_outcome(_facts(transfer, embryos, stored), self.protocol)
        return {
            "gestational_sacs": derived.implantation_sacs,
            "biochemical_pregnancy": derived.biochemical_pregnancy,
            "clinical_pregnancy": derived.clinical_pregnancy,
            "ectopic_pregnancy": derived.ectopic_pregnancy,
            "miscarriage": derived.miscarriage,
            "ongoing_pregnancy": derived.ongoing_pregnancy,
            "live_birth": derived.live_birth,
        }

    def _scans(self, pid: int) -> list[tuple[m.Ultrasound, m.Cycle | None]]:
        scans = sorted(self.rows.ultrasounds.get(pid, []), key=lambda u: (u.scan_date, u.id))
        return [(u, self.cycle_kinds.get(u.cycle_id or -1)) for u in scans]

    def _baseline_thickness(self, pid: int) -> float | None:
        """The first scan of her first cycle (the protocol's first cycle) with a thickness."""
        first_cycle = self.protocol.cycles[0].id
        for scan, cycle in self._scans(pid):
            if cycle is not None and cycle.kind == first_cycle and scan.thickness_mm is not None:
                return scan.thickness_mm
        return None

    def _transfer_thickness(self, pid: int, transfer: m.EmbryoTransfer | None) -> float | None:
        """The maximal thickness in the transfer's cycle, scans before the transfer day."""
        if transfer is None or transfer.cycle_id is None:
            return None
        values = [
            scan.thickness_mm
            for scan, _cycle in self._scans(pid)
            if scan.cycle_id == transfer.cycle_id
            and scan.thickness_mm is not None
            and scan.scan_date < transfer.transfer_date
        ]
        return max(values) if values else None

    # the other tables -----------------------------------------------------------------------

    def embryos(self) -> pd.DataFrame:
        records = []
        for participant in self.rows.participants:
            transfer = self._first_transfer(participant.id)
            if transfer is None or transfer.cancelled:
                continue
            records += self._embryo_rows(participant, transfer)
        return _typed(pd.DataFrame.from_records(records, columns=_EMBRYO_COLUMNS), _EMBRYO_TYPES)

    def _embryo_rows(
        self, participant: m.Participant, transfer: m.EmbryoTransfer
    ) -> list[dict[str, Any]]:
        embryos = self.rows.embryos.get(transfer.id, [])
        facts = _facts(transfer, embryos, self.rows.outcomes.get(transfer.id))
        sacs = derive_outcome(facts, self.protocol).implantation_sacs  # 0 after a negative hCG
        implanted = None if sacs is None else min(sacs, len(embryos))
        allocation = self.rows.allocations.get(participant.id)
        return [
            {
                "participant_id": participant.study_id,
                "arm": allocation.arm if allocation else participant.arm,
                "transfer_id": str(transfer.id),
                "embryo_number": number,
                "embryo_day": embryo.embryo_day,
                "expansion": embryo.expansion,
                "icm": embryo.icm,
                "te": embryo.te,
                "good_quality": is_good_quality(
                    GardnerGrade(embryo.expansion, embryo.icm, embryo.te), self.protocol
                ),
                "implanted": None if implanted is None else number <= implanted,
            }
            for number, embryo in enumerate(embryos, start=1)
        ]

    def adverse_events(self) -> pd.DataFrame:
        records = [
            {
                "ae_id": str(ae.id),
                "participant_id": self.study_ids[ae.participant_id],
                "arm": self.arm_received.get(ae.participant_id),
                "term": ae.term,
                "ctcae_grade": ae.ctcae_grade,
                "serious": ae.serious,
                "related_procedure": str(ae.related_procedure),
                "related_cells": str(ae.related_cells),
                "related_hrt": str(ae.related_hrt),
                "expected": ae.expected,
                "onset_date": ae.onset_date,
                "resolution_date": ae.resolution_date,
                "outcome": ae.outcome,
            }
            for ae in self.rows.adverse_events
            if ae.participant_id in self.study_ids
        ]
        frame = pd.DataFrame.from_records(records, columns=_AE_COLUMNS)
        return _typed(frame, _AE_TYPES)

    def measurements(self) -> pd.DataFrame:
        records: list[dict[str, Any]] = []
        for participant in self.rows.participants:
            records += self._scan_rows(participant)
            records += self._hcg_rows(participant)
            records += self._measure_rows(participant)
        frame = pd.DataFrame.from_records(records, columns=_MEASUREMENT_COLUMNS)
        frame = frame.drop_duplicates(
            subset=["participant_id", "measurement", "measured_on", "scheduled_event"], keep="last"
        ).reset_index(drop=True)
        return _typed(frame, _MEASUREMENT_TYPES)

    def _scan_rows(self, participant: m.Participant) -> list[dict[str, Any]]:
        rows = []
        for scan, cycle in self._scans(participant.id):
            if scan.thickness_mm is None:
                continue
            day = None if cycle is None else (scan.scan_date - cycle.start_date).days
            event = scan.event_id or self._scan_event(cycle, day)
            rows.append(
                self._measurement(participant, "thickness_mm", scan.thickness_mm, scan.scan_date)
                | {
                    "scheduled_event": event,
                    "cycle": cycle.kind if cycle else None,
                    "day_from_cycle_start": day,
                }
            )
        return rows

    def _measure_rows(self, participant: m.Participant) -> list[dict[str, Any]]:
        """Her outcome measures' number values (a yes/no or a code is in its measure's column)."""
        items = {item.name: item for item in self.protocol.data_items}
        rows = []
        for row in self.rows.measurements.get(participant.id, []):
            item = items.get(row.item)
            if item is None or row.value_number is None:
                continue
            cycle = cycle_on_day(self.rows.cycles.get(participant.id, []), row.measured_date)
            rows.append(
                self._measurement(participant, row.item, row.value_number, row.measured_date)
                | {
                    "unit": item.unit or "",
                    "scheduled_event": row.event_id,
                    "cycle": cycle.kind if cycle else None,
                    "day_from_cycle_start": (
                        (row.measured_date - cycle.start_date).days if cycle else None
                    ),
                }
            )
        return rows

    def _scan_event(self, cycle: m.Cycle | None, day: int | None) -> str | None:
        """For a scan stored without its event (before revision 0005): the protocol's scan of
        that cycle whose window holds the scan's cycle day."""
        if cycle is None or day is None:
            return None
        for event in self.protocol.schedule:
            if event.kind == "ultrasound" and event.cycle == cycle.kind and _in_window(event, day):
                return event.id
        return None

    def _hcg_rows(self, participant: m.Participant) -> list[dict[str, Any]]:
        transfer = self._first_transfer(participant.id)
        stored = None if transfer is None else self.rows.outcomes.get(transfer.id)
        if transfer is None or stored is None or stored.beta_hcg_miu_ml is None:
            return []
        on = stored.beta_hcg_date or transfer.transfer_date
        event = stored.beta_hcg_event_id or self._lab_event(transfer, on)
        return [
            self._measurement(participant, "beta_hcg_miu_ml", stored.beta_hcg_miu_ml, on)
            | {
                "scheduled_event": event,
                "cycle": self._cycle_kind(transfer.cycle_id),
                "day_from_cycle_start": self._cycle_day(transfer.cycle_id, on),
            }
        ]

    def _lab_event(self, transfer: m.EmbryoTransfer, on: dt.date) -> str | None:
        days = (on - transfer.transfer_date).days
        transfer_events = {e.id for e in self.protocol.schedule if e.kind == "transfer"}
        for event in self.protocol.schedule:
            if (
                event.kind == "lab"
                and event.anchor in transfer_events
                and (
                    event.offset_days - event.window_before_days
                    <= days
                    <= (event.offset_days + event.window_after_days)
                )
            ):
                return event.id
        return None

    def _cycle_kind(self, cycle_id: int | None) -> str | None:
        cycle = self.cycle_kinds.get(cycle_id or -1)
        return None if cycle is None else cycle.kind

    def _cycle_day(self, cycle_id: int | None, on: dt.date) -> int | None:
        cycle = self.cycle_kinds.get(cycle_id or -1)
        return None if cycle is None else (on - cycle.start_date).days

    def _measurement(
        self, participant: m.Participant, name: str, value: float, on: dt.date
    ) -> dict[str, Any]:
        allocation = self.rows.allocations.get(participant.id)
        return {
            "participant_id": participant.study_id,
            "arm": allocation.arm if allocation else participant.arm,
            "measurement": name,
            "value": value,
            "unit": UNITS.get(name, ""),
            "measured_on": on,
        }

    def screenings(self) -> pd.DataFrame:
        """One row per person screened: her last screening (the decision that stands)."""
        last: dict[object, m.Screening] = {}
        enrolled: dict[object, int] = {}
        for screening in sorted(self.rows.screenings, key=lambda s: (s.screened_at, s.id)):
            person = screening.person_id or (screening.site_id, screening.candidate_ref)
            last[person] = screening
            if screening.participant_id is not None:
                enrolled[person] = screening.participant_id
        records = [
            {
                "screening_number": number,
                "site": self.rows.sites.get(screening.site_id or -1),
                "screened_on": _screened_on(screening),
                "decision": str(screening.decision),
                "failed_criteria": ", ".join(screening.failed_criteria),
                "unknown_criteria": ", ".join(screening.unknown_criteria),
                "participant_id": self.study_ids.get(enrolled.get(person, -1)),
            }
            for number, (person, screening) in enumerate(last.items(), start=1)
        ]
        frame = pd.DataFrame.from_records(records, columns=[c.name for c in SCREENINGS.columns])
        return _typed(frame, {c.name: _KIND_DTYPES[c.kind] for c in SCREENINGS.columns})


def _facts(
    transfer: m.EmbryoTransfer,
    embryos: Sequence[m.TransferredEmbryo],
    stored: m.PregnancyOutcome | None,
) -> PregnancyFacts:
    """The recorded facts of a transfer, as the outcome rules read them."""
    if stored is None:
        return PregnancyFacts(
            transfer_cancelled=transfer.cancelled, embryos_transferred=len(embryos)
        )
    embryo_day = embryos[0].embryo_day if embryos else 5

    def weeks(on: dt.date | None) -> float | None:
        return (
            None if on is None else gestational_age_days(transfer.transfer_date, embryo_day, on) / 7
        )

    return PregnancyFacts(
        transfer_cancelled=transfer.cancelled,
        embryos_transferred=len(embryos),
        beta_hcg_miu_ml=stored.beta_hcg_miu_ml,
        gestational_sacs=stored.gestational_sacs,
        ectopic=bool(stored.ectopic),
        fetal_heartbeat_12_weeks=stored.fetal_heartbeat,
        loss_gestational_weeks=weeks(stored.miscarriage_date),
        delivery_gestational_weeks=weeks(stored.birth_date),
        live_born=stored.live_born_count,
    )


def _screened_on(screening: m.Screening) -> dt.date:
    """The screening date the form gives (the protocol's reference day), else the day saved."""
    given = screening.item_values.get("screening_date")
    try:
        return dt.date.fromisoformat(str(given)) if given else screening.screened_at.date()
    except ValueError:
        return screening.screened_at.date()


def _total_dose(procedures: Sequence[m.Procedure]) -> float | None:
    doses = [p.dose_cells for p in procedures if p.dose_cells is not None]
    return float(sum(doses)) if doses else None


def _in_window(event: ScheduleEvent, day_from_start: int) -> bool:
    assert event.cycle_day is not None
    target = event.cycle_day - 1
    return target - event.window_before_days <= day_from_start <= target + event.window_after_days


def cycle_on_day(cycles: Sequence[m.Cycle], on: dt.date) -> m.Cycle | None:
    """The cycle she was in on `on`: the latest started by then."""
    started = [c for c in cycles if c.start_date <= on]
    return max(started, key=lambda c: (c.start_date, c.id)) if started else None


def _measure_dtype(measure: OutcomeMeasure, item: DataItem) -> str:
    """A change is a number, a threshold yes/no; a value is typed by its item."""
    if measure.derivation == MeasureDerivation.change_from_baseline:
        return "float64"
    if measure.derivation == MeasureDerivation.meets_threshold:
        return "boolean"
    return _ITEM_DTYPES[item.type]


def _typed(frame: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    """Cast each column to its pandas dtype (nullable integers, booleans and strings; dates as
    datetime64), so the CSVs and the analysis read the same types whatever the database."""
    typed = frame.copy()
    for column, dtype in dtypes.items():
        if column not in typed.columns:
            continue
        if dtype == "date":
            typed[column] = pd.to_datetime(typed[column])
        else:
            typed[column] = typed[column].astype(dtype)  # type: ignore[call-overload]
    return typed


_KIND_DTYPES = {
    "string": "string",
    "integer": "Int64",
    "float": "float64",
    "boolean": "boolean",
    "date": "date",
}
_ITEM_DTYPES = {
    ItemType.number: "float64",
    ItemType.integer: "Int64",
    ItemType.boolean: "boolean",
    ItemType.date: "date",
    ItemType.category: "string",
}
_STATUS_COLUMNS = (
    "allocated", "started_treatment", "procedure_attempted", "received_intervention",
    "transfer_done", "transfer_cancelled", "embryos_transferred", "major_deviation",
    "withdrawn", "lost_to_follow_up", "baseline_thickness_mm", "thickness_mm", "dose_cells",
    "transfer_on", "withdrawn_on", "withdrawal_reason",
)  # fmt: skip
_OUTCOME_COLUMNS = (
    "gestational_sacs", "biochemical_pregnancy", "clinical_pregnancy", "ectopic_pregnancy",
    "miscarriage", "ongoing_pregnancy", "live_birth",
)  # fmt: skip


def _table_types(name: str) -> dict[str, str]:
    return {c.name: _KIND_DTYPES[c.kind] for c in ANALYSIS_TABLES[name].columns}


_FIXED_TYPES = {
    name: dtype
    for name, dtype in _table_types("participants").items()
    if name in {"participant_id", "site", "arm", "arm_received", "enrolled_on", "allocated_on"}
    or name in _STATUS_COLUMNS
    or name in _OUTCOME_COLUMNS
}
_EMBRYO_COLUMNS = [c.name for c in ANALYSIS_TABLES["embryos"].columns]
_EMBRYO_TYPES = _table_types("embryos")
_AE_COLUMNS = [c.name for c in ANALYSIS_TABLES["adverse_events"].columns]
_AE_TYPES = _table_types("adverse_events")
_MEASUREMENT_COLUMNS = [c.name for c in ANALYSIS_TABLES["measurements"].columns]
_MEASUREMENT_TYPES = _table_types("measurements")
