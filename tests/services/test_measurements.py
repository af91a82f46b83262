"""Issue 9, finding 8, through the services: outcome measures recorded at schedule events
(`record_measurement`): what the protocol asks for where, typed by the item, once, corrected
with a reason, a query outside the window, site and role rules. The protocol is a test file
shaped like NCT03724617 (tests/fixtures/protocols/thickness_before_after.yaml)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from measure_helpers import (
    AT_3M,
    AT_6M,
    BASELINE,
    MENSES,
    SCREENED_ON,
    before_after_participant,
    before_after_protocol,
)
from services_helpers import (
    COORDINATOR,
    EMBRYOLOGIST,
    INVESTIGATOR,
    MONITOR,
    RADIOLOGIST,
    Trial,
    audit_rows,
    queries,
    refused,
)
from services_helpers import set_up_trial as _set_up_trial
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from endotrial.services import (
    CorrectionInput,
    InvalidInput,
    MeasurementCorrection,
    MeasurementInput,
    MeasureState,
    MeasureView,
    NotFoundError,
    PermissionDenied,
    QueryInput,
    correct_measurement,
    correct_record,
    open_query,
    outcome_measures,
    participant_records,
    participant_timeline,
    record_measurement,
)
from endotrial.services.verification import verify_everything
from endotrial.store import AuditEntry, Measurement


@pytest.fixture
def trial(engine: Engine) -> Trial:
    return _set_up_trial(engine, before_after_protocol())


def participant(trial: Trial, ref: str = "C-1") -> int:
    return before_after_participant(trial, ref)


def measure(
    trial: Trial, pid: int, event: str, item: str, value: Any, on: dt.date,
    username: str = RADIOLOGIST,
) -> int:  # fmt: skip
    given = MeasurementInput(
        participant_id=pid, event_id=event, item=item, value=value, measured_date=on
    )
    return record_measurement(trial.study, trial.actor(username), given)


def stored(engine: Engine, row_id: int) -> Measurement:
    with Session(engine) as session:
        row = session.get_one(Measurement, row_id)
        session.expunge(row)
        return row


def test_each_kind_of_value_is_stored_typed_by_its_item(trial: Trial) -> None:
    pid = participant(trial)
    thickness = measure(trial, pid, "baseline_scan", "thickness_mm", 4.2, BASELINE)
    pain = measure(trial, pid, "follow_up_3m", "pain_vas", 3, AT_3M, COORDINATOR)
    niche = measure(trial, pid, "follow_up_6m", "niche_present", False, AT_6M)
    grade = measure(trial, pid, "follow_up_6m", "adhesion_grade", "mild", AT_6M, INVESTIGATOR)
    assert (
        stored(trial.engine, thickness).value_number,
        stored(trial.engine, pain).value_number,
    ) == (4.2, 3.0)
    row = stored(trial.engine, niche)
    assert (row.value_boolean, row.value_number, row.value_text) == (False, None, None)
    assert stored(trial.engine, grade).value_text == "mild"
    assert not queries(trial, entity="measurements")  # every date in its window


def test_an_item_the_protocol_does_not_ask_for_at_the_event_is_refused(trial: Trial) -> None:
    pid = participant(trial)
    before = audit_rows(trial.engine)
    with refused("measurement.not_asked", field="item") as caught:
        measure(trial, pid, "baseline_scan", "niche_present", True, BASELINE)
    assert "thickness_mm" in str(caught.value)  # what is asked there
    with refused("measurement.not_asked", field="item"):
        measure(trial, pid, "menses", "thickness_mm", 4.0, MENSES)
    with refused("measurement.no_such_event", field="event_id") as caught:
        measure(trial, pid, "scan_12m", "thickness_mm", 4.0, AT_6M)
    assert "follow_up_6m" in str(caught.value)
    assert audit_rows(trial.engine) == before


@pytest.mark.parametrize(
    ("event", "item", "value", "on"),
    [
        ("baseline_scan", "thickness_mm", 31.0, BASELINE),  # above the item's maximum
        ("baseline_scan", "thickness_mm", -0.5, BASELINE),
        ("baseline_scan", "thickness_mm", True, BASELINE),  # a flag is not a number
        ("baseline_scan", "thickness_mm", "4.2", BASELINE),  # nor is text
        ("follow_up_3m", "pain_vas", 3.5, AT_3M),  # an integer item
        ("follow_up_3m", "pain_vas", 11, AT_3M),
        ("follow_up_6m", "niche_present", 1, AT_6M),  # yes/no is true or false
        ("follow_up_6m", "adhesion_grade", "Mild", AT_6M),  # a code of the item
    ],
)
def test_a_value_that_does_not_fit_its_item_is_refused_naming_value(
    trial: Trial, event: str, item: str, value: object, on: dt.date
) -> None:
    pid = participant(trial)
    with refused("input.invalid", field="value", kind=InvalidInput):
        measure(trial, pid, event, item, value, on)
    with Session(trial.engine) as session:
        assert session.scalars(select(Measurement)).all() == []


def test_an_item_is_measured_once_at_an_event_then_corrected_with_a_reason(
    trial: Trial,
) -> None:
    pid = participant(trial)
    row_id = measure(trial, pid, "baseline_scan", "thickness_mm", 4.2, BASELINE)
    with refused("measurement.already", field="item") as caught:
        measure(trial, pid, "baseline_scan", "thickness_mm", 4.4, BASELINE)
    assert f"#{row_id}" in str(caught.value)
    radiologist = trial.actor(RADIOLOGIST)
    with refused("input.reason_required", field="reason"):
        correct_measurement(trial.study, radiologist, MeasurementCorrection(
            measurement_id=row_id, value=4.4, reason="x"))  # fmt: skip
    with refused("correction.unchanged", field="value"):
        correct_measurement(trial.study, radiologist, MeasurementCorrection(
            measurement_id=row_id, value=4.2, reason="re-read of the saved image"))  # fmt: skip
    with refused("input.invalid", field="value"):
        correct_measurement(trial.study, radiologist, MeasurementCorrection(
            measurement_id=row_id, value=40.0, reason="re-read of the saved image"))  # fmt: skip
    reason = "transcription error: the source report says 4.4 mm"
    correction = MeasurementCorrection(measurement_id=row_id, value=4.4, reason=reason)
    correct_measurement(trial.study, radiologist, correction)
    assert stored(trial.engine, row_id).value_number == 4.4
    with Session(trial.engine) as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == "measurements",
                AuditEntry.field == "value_number",
                AuditEntry.action == "update",
            )
        ).one()
    assert (entry.old_value, entry.new_value, entry.reason) == ("4.2", "4.4", reason)
    # The trail verifies whole: the chain, who may write measurements, every row reconciled.
    report = verify_everything(trial.engine)
    assert report.ok and report.complete, str(report)


def test_the_database_holds_once_per_event_and_item_and_one_typed_value(trial: Trial) -> None:
    """The constraints behind the service's rules (a race past the service's check)."""
    pid = participant(trial)
    measure(trial, pid, "baseline_scan", "thickness_mm", 4.2, BASELINE)
    rows: list[dict[str, object]] = [
        {"value_number": 4.3},  # a second value of the item at the event
        {"value_number": None},  # no value (a new event, so only the check fails)
        {"value_number": 1.0, "value_text": "mild"},  # two values
    ]
    for i, values in enumerate(rows):
        event = "baseline_scan" if i == 0 else f"other_{i}"
        row: dict[str, object] = {"participant_id": pid, "event_id": event, "item": "thickness_mm",
               "measured_date": BASELINE, "version": 1, **values}  # fmt: skip
        with trial.engine.begin() as connection, pytest.raises(IntegrityError):
            connection.execute(insert(Measurement).values(row))


def test_a_date_outside_the_events_window_opens_a_query(trial: Trial) -> None:
    pid = participant(trial)
    late = AT_6M + dt.timedelta(days=30)  # window: 14 days either side
    row_id = measure(trial, pid, "follow_up_6m", "thickness_mm", 6.0, late)
    (query,) = queries(trial, entity="measurements")
    assert (query.row_id, query.field) == (str(row_id), "measured_date")
    assert "Follow-up at 6 months" in query.text


def test_dates_are_checked_as_for_every_record(trial: Trial) -> None:
    pid = participant(trial)
    with refused("date.before_enrolment", field="measured_date"):
        measure(trial, pid, "baseline_scan", "thickness_mm", 4.2, SCREENED_ON - dt.timedelta(1))
    future = dt.date.today() + dt.timedelta(days=30)
    with refused("date.future", field="measured_date"):
        measure(trial, pid, "follow_up_6m", "thickness_mm", 4.2, future)


def test_another_sites_participant_is_not_found_and_roles_are_checked(trial: Trial) -> None:
    pid = participant(trial)
    with refused("auth.role", kind=PermissionDenied):
        measure(trial, pid, "baseline_scan", "thickness_mm", 4.2, BASELINE, EMBRYOLOGIST)
    with refused("auth.role", kind=PermissionDenied):
        measure(trial, pid, "baseline_scan", "thickness_mm", 4.2, BASELINE, MONITOR)
    with pytest.raises(NotFoundError):
        measure(trial, pid + 1000, "baseline_scan", "thickness_mm", 4.2, BASELINE)


# --------------------------------------------------------------------------- reading them


def _views(trial: Trial, pid: int, on: dt.date) -> dict[str, MeasureView]:
    views = outcome_measures(trial.study, trial.actor(COORDINATOR), pid, on=on)
    return {view.measure_id: view for view in views}


def test_each_measure_is_derived_once_its_values_are_recorded(trial: Trial) -> None:
    pid = participant(trial)
    measure(trial, pid, "baseline_scan", "thickness_mm", 4.1, BASELINE)
    measure(trial, pid, "follow_up_6m", "thickness_mm", 5.9, AT_6M)
    measure(trial, pid, "follow_up_6m", "niche_present", True, AT_6M)
    measure(trial, pid, "follow_up_6m", "adhesion_grade", "mild", AT_6M)
    views = _views(trial, pid, AT_6M)
    change = views["thickness_change_6m_mm"]
    assert change.state is MeasureState.DERIVED and change.result == pytest.approx(1.8)
    assert [(v.event_id, v.value) for v in change.values] == [
        ("baseline_scan", 4.1),
        ("follow_up_6m", 5.9),
    ]
    assert (change.unit, change.outcome_id) == ("mm", "thickness_change")
    niche = views["niche_6m"]
    assert (niche.result, niche.threshold) == (True, "== true")
    assert views["adhesion_free_6m"].result is False  # mild is not none
    assert views["adhesion_grade_6m"].result == "mild"
    assert views["thickness_baseline_mm"].result == 4.1


def test_a_measure_without_its_values_is_not_yet_due_due_or_missing(trial: Trial) -> None:
    pid = participant(trial)
    measure(trial, pid, "baseline_scan", "thickness_mm", 4.1, BASELINE)
    before = _views(trial, pid, AT_3M - dt.timedelta(days=30))
    assert before["thickness_3m_mm"].state is MeasureState.NOT_YET_DUE
    assert before["thickness_change_6m_mm"].state is MeasureState.NOT_YET_DUE
    assert before["thickness_change_6m_mm"].result is None
    assert _views(trial, pid, AT_3M)["thickness_3m_mm"].state is MeasureState.DUE
    late = _views(trial, pid, AT_3M + dt.timedelta(days=30))
    assert late["thickness_3m_mm"].state is MeasureState.MISSING
    assert late["thickness_change_6m_mm"].state is MeasureState.NOT_YET_DUE


def test_her_timeline_lists_at_each_event_the_measures_and_whether_recorded(
    trial: Trial,
) -> None:
    pid = participant(trial)
    row_id = measure(trial, pid, "follow_up_6m", "thickness_mm", 5.9, AT_6M)
    timeline = participant_timeline(trial.study, trial.actor(COORDINATOR), pid, on=AT_6M)
    at = {event.event_id: event.measures for event in timeline.events}
    assert [m.item for m in at["baseline_scan"]] == ["thickness_mm"]
    assert [(m.item, m.recorded) for m in at["follow_up_6m"]] == [
        ("thickness_mm", True),
        ("niche_present", False),
        ("adhesion_grade", False),
    ]
    thickness = at["follow_up_6m"][0]
    assert (thickness.value, thickness.record) == (5.9, f"measurements #{row_id}")
    assert thickness.measures == ("thickness_change_6m_mm",)
    assert at["follow_up_6m"][2].measures == ("adhesion_grade_6m", "adhesion_free_6m")
    assert at["menses"] == ()
    records = participant_records(trial.study, trial.actor(COORDINATOR), pid)
    assert any(r.entity == "measurements" and r.row_id == row_id for r in records)


def test_another_sites_reader_does_not_find_her_measures(trial: Trial) -> None:
    pid = participant(trial)
    with pytest.raises(NotFoundError):
        outcome_measures(trial.study, trial.actor(COORDINATOR), pid + 1000)


def test_a_corrected_date_is_checked_and_outside_the_window_opens_a_query(trial: Trial) -> None:
    pid = participant(trial)
    row_id = measure(trial, pid, "follow_up_6m", "niche_present", False, AT_6M)
    coordinator = trial.actor(COORDINATOR)
    reason = "the scan was on the later day, per the ultrasound report"

    def correct(**fields: Any) -> None:
        given = MeasurementCorrection(measurement_id=row_id, reason=reason, **fields)
        correct_measurement(trial.study, coordinator, given)

    with refused("input.invalid", field="value"):
        correct()  # nothing to correct
    with refused("date.before_enrolment", field="measured_date"):
        correct(measured_date=SCREENED_ON - dt.timedelta(days=1))
    with refused("correction.unchanged", field="measured_date"):
        correct(measured_date=AT_6M)
    assert not queries(trial, entity="measurements")
    correct(measured_date=AT_6M + dt.timedelta(days=20), value=True)
    row = stored(trial.engine, row_id)
    assert (row.measured_date, row.value_boolean) == (AT_6M + dt.timedelta(days=20), True)
    (query,) = queries(trial, entity="measurements")
    assert query.field == "measured_date"


def test_the_generic_correction_points_to_correct_measurement(trial: Trial) -> None:
    pid = participant(trial)
    row_id = measure(trial, pid, "baseline_scan", "thickness_mm", 4.2, BASELINE)
    correction = CorrectionInput(
        record="measurement", record_id=row_id, field="value_number", new_value=4.4,
        reason="transcription error, report p.2",
    )  # fmt: skip
    with refused("correction.elsewhere", field="record") as caught:
        correct_record(trial.study, trial.actor(COORDINATOR), correction)
    assert "correct_measurement" in str(caught.value)


def test_the_monitor_raises_a_query_on_a_measurement(trial: Trial) -> None:
    pid = participant(trial)
    row_id = measure(trial, pid, "baseline_scan", "thickness_mm", 4.2, BASELINE)
    raised = QueryInput(
        entity="measurements", row_id=row_id, field="value_number",
        text="the source report says 4.4 mm: please check",
    )  # fmt: skip
    open_query(trial.study, trial.actor(MONITOR), raised)
    (query,) = queries(trial, entity="measurements")
    assert (query.row_id, query.field) == (str(row_id), "value_number")
