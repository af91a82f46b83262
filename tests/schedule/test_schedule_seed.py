"""The schedule engine on the seed protocol (NCT07176143), treatment cycle starting 2026-01-05."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from icalendar import Calendar

from endotrial.errors import InputError, ProtocolError
from endotrial.protocol import Protocol, load_protocol
from endotrial.schedule import (
    Schedule,
    build_schedule,
    render_schedule_ics,
    render_schedule_json,
    render_schedule_table,
    schedule_records,
)

START = dt.date(2026, 1, 5)
ROOT = {"treatment_cycle_start": START}


def day(n: int) -> dt.date:
    """Treatment-cycle day n (day 1 = START)."""
    return START + dt.timedelta(days=n - 1)


@pytest.fixture(scope="module")
def seed() -> Protocol:
    return load_protocol("nct07176143")


@pytest.fixture(scope="module")
def hbmsc(seed: Protocol) -> Schedule:
    return build_schedule(seed, "hbmsc", ROOT)


@pytest.fixture(scope="module")
def control(seed: Protocol) -> Schedule:
    return build_schedule(seed, "control", ROOT)


def test_treatment_cycle_drugs(hbmsc: Schedule) -> None:
    start = hbmsc.event("tx_estradiol_valerate_start")
    assert (start.date, start.cycle, start.cycle_day) == (day(1), "treatment", 1)
    assert start.label == "Start estradiol valerate 3 mg bid"
    assert hbmsc.event("tx_estradiol_valerate_stop").date == day(28)
    dydrogesterone = hbmsc.event("tx_dydrogesterone_start")
    assert (dydrogesterone.date, dydrogesterone.cycle_day) == (day(19), 19)
    assert dydrogesterone.label == "Start dydrogesterone 10 mg bid"
    assert hbmsc.event("tx_dydrogesterone_stop").cycle_day == 28


def test_infusion_day_10_with_its_checks_and_observation(hbmsc: Schedule) -> None:
    infusion = hbmsc.event("hbmsc_infusion")
    assert infusion.date == dt.date(2026, 1, 14) == day(10)
    assert (infusion.cycle, infusion.cycle_day) == ("treatment", 10)
    assert (infusion.earliest, infusion.latest) == (day(10), day(11))
    iodine = hbmsc.event("iodine_allergy_test")
    assert (iodine.date, iodine.cycle_day, iodine.anchor) == (day(9), 9, "hbmsc_infusion")
    assert iodine.note is not None and "only if negative" in iodine.note
    assert hbmsc.event("groin_preparation").date == day(10)
    observation = hbmsc.event("hbmsc_infusion_observation_end")
    assert observation.label.startswith("48 h observation ends")
    assert (observation.date, observation.cycle_day) == (day(12), 12)
    assert hbmsc.event("post_procedure_visit").date == day(17)


def test_control_arm_has_no_procedure(control: Schedule) -> None:
    ids = {e.id for e in control}
    assert "hbmsc_infusion" not in ids
    assert "iodine_allergy_test" not in ids
    assert "hbmsc_infusion_observation_end" not in ids
    assert "post_procedure_visit" not in ids
    assert control.event("tx_dydrogesterone_start").date == day(19)
    assert control.event("embryo_transfer").date == dt.date(2026, 2, 23)


def test_transfer_cycle(hbmsc: Schedule) -> None:
    transfer_start = hbmsc.event("transfer_cycle_start")
    assert transfer_start.date == START + dt.timedelta(days=31) == dt.date(2026, 2, 5)
    assert (transfer_start.cycle, transfer_start.cycle_day) == ("transfer", 1)
    assert hbmsc.event("fet_estradiol_valerate_start").date == transfer_start.date
    progesterone = hbmsc.event("progesterone_start")
    transfer = hbmsc.event("embryo_transfer")
    # The 6th day of progesterone: progesterone day 1 + 5 days.
    assert transfer.date - progesterone.date == dt.timedelta(days=5)
    assert (transfer.cycle, transfer.cycle_day) == ("transfer", 19)
    assert transfer.date == dt.date(2026, 2, 23)


def test_beta_hcg_and_clinical_pregnancy_scan(hbmsc: Schedule) -> None:
    transfer = hbmsc.event("embryo_transfer").date
    hcg = hbmsc.event("beta_hcg")
    assert hcg.date == transfer + dt.timedelta(days=12)
    assert (hcg.earliest, hcg.latest) == (
        transfer + dt.timedelta(days=9),
        transfer + dt.timedelta(days=14),
    )
    # GA on transfer day = 14 days + 5 (day-5 blastocyst) = 19 days; 6, 7 and 8 weeks
    # are 42, 49 and 56 days of gestation.
    ga_at_transfer_days = 19
    scan = hbmsc.event("clinical_pregnancy_ultrasound")
    assert scan.date == transfer + dt.timedelta(days=7 * 7 - ga_at_transfer_days)
    assert scan.date - transfer == dt.timedelta(days=30)
    assert scan.earliest == transfer + dt.timedelta(days=6 * 7 - ga_at_transfer_days)
    assert scan.latest == transfer + dt.timedelta(days=8 * 7 - ga_at_transfer_days)
    assert scan.condition == "positive beta-hCG"


def test_events_sorted_and_all_computed(hbmsc: Schedule) -> None:
    dates = [e.date for e in hbmsc]
    assert dates == sorted(dates)
    assert [e.id for e in hbmsc if e.actual] == ["treatment_cycle_start"]
    assert all(e.in_window for e in hbmsc)
    # Anchors come before the events hanging from them on the same day.
    ids = [e.id for e in hbmsc]
    assert ids.index("treatment_cycle_start") < ids.index("tx_estradiol_valerate_start")


def test_actual_transfer_moves_hcg_and_scan(seed: Protocol) -> None:
    actual = dt.date(2026, 2, 25)
    schedule = build_schedule(seed, "control", {**ROOT, "embryo_transfer": actual})
    transfer = schedule.event("embryo_transfer")
    assert transfer.actual and transfer.date == actual
    assert transfer.planned_date == dt.date(2026, 2, 23)
    assert not transfer.in_window
    assert schedule.event("beta_hcg").date == actual + dt.timedelta(days=12)
    assert schedule.event("clinical_pregnancy_ultrasound").date == actual + dt.timedelta(days=30)
    assert schedule.event("progesterone_start").date == dt.date(2026, 2, 18)


def test_luteal_drugs_follow_their_events(seed: Protocol) -> None:
    """Dydrogesterone starts with progesterone and both FET drugs stop at 10 weeks' gestation:
    an actual later ultrasound and transfer move them (cycle days would not)."""
    planned = build_schedule(seed, "control", ROOT)
    assert planned.event("fet_luteal_dydrogesterone_start").date == dt.date(2026, 2, 18)
    assert planned.event("fet_luteal_dydrogesterone_stop").date == dt.date(2026, 4, 15)
    scan, transfer = dt.date(2026, 2, 20), dt.date(2026, 2, 27)
    actual = {**ROOT, "transfer_ultrasound": scan, "embryo_transfer": transfer}
    moved = build_schedule(seed, "control", actual)
    assert moved.event("fet_luteal_dydrogesterone_start").date == scan + dt.timedelta(days=2)
    ten_weeks = transfer + dt.timedelta(days=70 - 19)  # day-5 blastocyst: GA 19 d at transfer
    for drug in ("fet_luteal_dydrogesterone", "fet_estradiol_valerate"):
        assert moved.event(f"{drug}_stop").date == ten_weeks
        assert moved.event(f"{drug}_stop").date == moved.event("luteal_support_end").date


def test_actual_infusion_moves_observation_and_visit(seed: Protocol) -> None:
    schedule = build_schedule(seed, "hbmsc", {**ROOT, "hbmsc_infusion": day(11)})
    infusion = schedule.event("hbmsc_infusion")
    assert infusion.actual and infusion.in_window and infusion.cycle_day == 11
    assert schedule.event("hbmsc_infusion_observation_end").date == day(13)
    assert schedule.event("post_procedure_visit").date == day(18)
    # The pre-check hangs from the infusion too: it moves with the actual date.
    assert schedule.event("iodine_allergy_test").date == day(10)
    # Events hanging from the cycle start stay where they were.
    assert schedule.event("tx_dydrogesterone_start").date == day(19)


def test_actual_transfer_cycle_start_moves_the_transfer_cycle(seed: Protocol) -> None:
    late = dt.date(2026, 2, 9)
    schedule = build_schedule(seed, "control", {**ROOT, "transfer_cycle_start": late})
    assert schedule.event("transfer_cycle_start").in_window
    assert schedule.event("fet_estradiol_valerate_start").date == late
    assert schedule.event("embryo_transfer").date == late + dt.timedelta(days=18)


def test_missing_root_anchor(seed: Protocol) -> None:
    with pytest.raises(InputError, match="treatment_cycle_start"):
        build_schedule(seed, "hbmsc", {})
    with pytest.raises(InputError, match="treatment_cycle_start"):
        build_schedule(seed, "hbmsc", {"embryo_transfer": dt.date(2026, 2, 23)})


def test_unknown_or_foreign_anchor_refused(seed: Protocol) -> None:
    with pytest.raises(InputError, match="no_such_event"):
        build_schedule(seed, "hbmsc", {**ROOT, "no_such_event": START})
    with pytest.raises(InputError, match=r"hbmsc_infusion.*arm 'control'"):
        build_schedule(seed, "control", {**ROOT, "hbmsc_infusion": day(10)})


def test_unknown_arm(seed: Protocol) -> None:
    with pytest.raises(InputError, match=r"no arm 'placebo'.*control, hbmsc"):
        build_schedule(seed, "placebo", ROOT)


def test_event_lookup_names_known_ids(hbmsc: Schedule) -> None:
    with pytest.raises(InputError, match="no event 'nope'"):
        hbmsc.event("nope")


def test_event_anchored_outside_its_arm_is_a_protocol_error(seed: Protocol) -> None:
    visit = next(e for e in seed.schedule if e.id == "post_procedure_visit")
    unrestricted = visit.model_copy(update={"arms": None})
    schedule = [unrestricted if e.id == visit.id else e for e in seed.schedule]
    broken = seed.model_copy(update={"schedule": schedule})
    with pytest.raises(ProtocolError, match=r"post_procedure_visit.*hbmsc_infusion"):
        build_schedule(broken, "control", ROOT)


def test_json_records(hbmsc: Schedule) -> None:
    records = json.loads(render_schedule_json(hbmsc))
    assert records == schedule_records(hbmsc)
    assert len(records) == len(hbmsc)
    infusion = next(r for r in records if r["id"] == "hbmsc_infusion")
    assert infusion["date"] == "2026-01-14"
    assert (infusion["earliest"], infusion["latest"]) == ("2026-01-14", "2026-01-15")
    assert (infusion["cycle"], infusion["cycle_day"], infusion["arm"]) == ("treatment", 10, "hbmsc")


def test_table_is_aligned_and_readable(hbmsc: Schedule) -> None:
    text = render_schedule_table(hbmsc)
    lines = text.splitlines()
    assert lines[0].startswith("nct07176143 — arm hbmsc")
    header, rule = lines[2], lines[3]
    assert header.split()[:2] == ["date", "window"]
    assert set(rule.replace(" ", "")) == {"-"}
    rows = [line for line in lines[4:] if line[:1].isdigit()]
    assert len(rows) == len(hbmsc)
    event_column = header.index("event")
    assert all(row[event_column - 2 : event_column] == "  " for row in rows)
    assert "2026-01-14" in next(r for r in rows if "Uterine-artery infusion" in r)
    assert "only if: positive beta-hCG" in text


def test_ics_round_trip(hbmsc: Schedule) -> None:
    stamp = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    data = render_schedule_ics(hbmsc, stamp=stamp)
    calendar = Calendar.from_ical(data)
    assert str(calendar["VERSION"]) == "2.0"
    assert "endotrial" in str(calendar["PRODID"])
    events = list(calendar.walk("VEVENT"))
    assert len(events) == len(hbmsc)
    by_uid = {str(e["UID"]): e for e in events}
    assert len(by_uid) == len(events)
    for event in hbmsc:
        vevent = by_uid[f"nct07176143-hbmsc-20260105-{event.id}@endotrial"]
        assert vevent.decoded("DTSTART") == event.date
        assert vevent.decoded("DTEND") == event.date + dt.timedelta(days=1)
        assert str(vevent["SUMMARY"]) == event.label
        assert vevent.decoded("DTSTAMP") == stamp
    scan = by_uid["nct07176143-hbmsc-20260105-clinical_pregnancy_ultrasound@endotrial"]
    description = str(scan["DESCRIPTION"])
    assert "2026-03-18 to 2026-04-01" in description
    assert "positive beta-hCG" in description
    assert "hbmsc" in description
    # The same schedule and stamp give the same bytes (stable UIDs, no hidden state).
    assert render_schedule_ics(hbmsc, stamp=stamp) == data


def test_ics_uids_differ_between_participants_and_cycle_starts(
    seed: Protocol, hbmsc: Schedule
) -> None:
    """Two participants' calendars imported into one clinic calendar must not replace each
    other's events: the UID carries the participant's study id and the cycle start."""
    stamp = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    later = build_schedule(seed, "hbmsc", {"treatment_cycle_start": START + dt.timedelta(7)})

    def uids(data: bytes) -> set[str]:
        return {str(e["UID"]) for e in Calendar.from_ical(data).walk("VEVENT")}

    first = render_schedule_ics(hbmsc, stamp=stamp, participant="P-001")
    second = render_schedule_ics(hbmsc, stamp=stamp, participant="P-002")
    assert not uids(first) & uids(second)
    assert not uids(render_schedule_ics(hbmsc, stamp=stamp)) & uids(
        render_schedule_ics(later, stamp=stamp)
    )
    assert "nct07176143-hbmsc-P-001-20260105-hbmsc_infusion@endotrial" in uids(first)
    # An updated schedule of the same participant keeps its UIDs (re-import replaces).
    moved = build_schedule(seed, "hbmsc", {**ROOT, "embryo_transfer": dt.date(2026, 2, 25)})
    assert uids(render_schedule_ics(moved, stamp=stamp, participant="P-001")) == uids(first)
    summaries = [str(e["SUMMARY"]) for e in Calendar.from_ical(first).walk("VEVENT")]
    assert all(summary.startswith("P-001: ") for summary in summaries)


def test_ics_text_is_valid_icalendar(hbmsc: Schedule) -> None:
    """CRLF line ends and lines folded at 75 octets (RFC 5545 3.1), even with a participant."""
    data = render_schedule_ics(hbmsc, participant="SC-2026-0042")
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    lines = data.split(b"\r\n")
    assert b"\n" not in b"".join(lines)
    assert all(len(line) <= 75 for line in lines)
    assert any(line.startswith(b" ") for line in lines), "long descriptions are folded"


@pytest.mark.parametrize("label", ["Li Na", "Chen", "", "P 017", "a" * 41 + "1", "P-01;7"])
def test_ics_participant_must_be_a_study_id(hbmsc: Schedule, label: str) -> None:
    with pytest.raises(InputError, match="study id"):
        render_schedule_ics(hbmsc, participant=label)
