"""Attacks on the services' seam (issue 8) as a hostile or careless caller would make them:
corrections with values of the wrong type or beyond what entry allows, dry runs that must
write nothing, reads and writes by an actor whose sites or account changed under her, time
zones that are not a place's, and screening files that are empty, doubled or hostile."""

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    MONITOR,
    PASSWORD,
    STATISTICIAN,
    TREATMENT_START,
    Trial,
    allocated,
    audit_rows,
    eligible_items,
    refused,
    set_up_trial,
)
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from two_sites import SiteB, add_site_b

from endotrial.errors import EndotrialError
from endotrial.protocol import Protocol
from endotrial.services import (
    DeviationInput,
    InvalidInput,
    MedicationInput,
    MembershipInput,
    NotFoundError,
    NotSignedIn,
    SiteInput,
    TeamMember,
    add_site,
    add_user,
    dashboard,
    participant_summary,
    participant_timeline,
    participants,
    record_deviation,
    record_medication,
    set_account_active,
    set_site_membership,
    sign_in,
    sign_out,
)
from endotrial.services.corrections import CorrectionInput, correct_record
from endotrial.services.dry_run import dry_run
from endotrial.services.imports import import_screenings
from endotrial.store import MedicationRecord, Role, Screening, Site

REASON = "transcription error, source document page 3"
#: A member of both sites (the seed site and site B).
ROAMER = "coord.both"


@pytest.fixture
def trial(engine: Engine, seed_protocol: Protocol) -> Trial:
    return set_up_trial(engine, seed_protocol)


@pytest.fixture
def site_b(trial: Trial) -> SiteB:
    return add_site_b(trial)


def _medication(trial: Trial, participant_id: int) -> int:
    course = MedicationInput(
        participant_id=participant_id, regimen_id="tx_estradiol_valerate",
        first_day=TREATMENT_START + dt.timedelta(days=2),
        last_day=TREATMENT_START + dt.timedelta(days=3), doses_taken=2,
    )  # fmt: skip
    return record_medication(trial.study, trial.actor(COORDINATOR), course)


def _deviation(trial: Trial, participant_id: int) -> int:
    deviation = DeviationInput(
        occurred_on=TREATMENT_START, category="visit window", description="scan two days late",
        participant_id=participant_id,
    )  # fmt: skip
    return record_deviation(trial.study, trial.actor(MONITOR), deviation)


def _correction(record: str, row_id: int, field: str, value: Any, **kw: Any) -> CorrectionInput:
    given: dict[str, Any] = {"reason": REASON, **kw}
    return CorrectionInput(record=record, record_id=row_id, field=field, new_value=value, **given)


# --------------------------------------------------------------------------- corrections


@pytest.mark.parametrize(
    ("record", "field", "value"),
    [
        ("medication", "last_day", "2025-10-09"),  # a date as text
        ("medication", "last_day", dt.datetime(2025, 10, 9, 8, 0)),  # a moment for a day
        ("medication", "doses_taken", True),  # a flag for a count
        ("medication", "doses_taken", 2.0),  # a float for a count
        ("medication", "doses_taken", -1),
        ("medication", "doses_taken", 10**30),
        ("deviation", "major", 1),  # a number for a flag
        ("deviation", "description", "late\x00scan"),  # a NUL pasted from a binary file
        ("deviation", "description", "\x1b[31mlate"),  # a terminal escape
        ("deviation", "description", "x" * 100_000),
        ("deviation", "description", "   "),
        ("deviation", "category", None),
        ("deviation", "occurred_on", None),
    ],
)
def test_a_correction_of_the_wrong_type_or_size_is_refused_and_writes_nothing(
    trial: Trial, record: str, field: str, value: Any
) -> None:
    pid = allocated(trial, "c1", "hbmsc")
    ids = {"medication": _medication(trial, pid), "deviation": _deviation(trial, pid)}
    before = audit_rows(trial.engine)
    with refused("input.invalid", field="new_value", kind=InvalidInput) as caught:
        correct_record(
            trial.study, trial.actor(INVESTIGATOR), _correction(record, ids[record], field, value)
        )
    assert len(str(caught.value)) < 1_000  # a huge value is not echoed whole
    assert audit_rows(trial.engine) == before


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_weight_corrected_to_nan_or_infinity_is_refused(trial: Trial, value: float) -> None:
    """NaN compares unequal to everything, so it would pass 'unchanged' and any range check
    written as `not value > limit`; it must be refused by type."""
    with refused("input.invalid", field="new_value", kind=InvalidInput):
        correct_record(
            trial.study, trial.actor(INVESTIGATOR), _correction("procedure", 1, "weight_kg", value)
        )


@pytest.mark.parametrize("reason", ["", "   ", "\t\n", "ok", "fixed fixed", "2025-10-09"])
def test_a_correction_without_a_reason_that_says_something_is_refused(
    trial: Trial, reason: str
) -> None:
    pid = allocated(trial, "c1", "hbmsc")
    row_id = _medication(trial, pid)
    before = audit_rows(trial.engine)
    change = _correction("medication", row_id, "last_day", dt.date(2025, 10, 10), reason=reason)
    with refused("input.reason_required", kind=InvalidInput):
        correct_record(trial.study, trial.actor(INVESTIGATOR), change)
    assert audit_rows(trial.engine) == before


@pytest.mark.parametrize("field", ["participant_id", "id", "version", "cycle_id", "regimen_id"])
def test_a_correction_never_moves_a_record_to_another_participant(trial: Trial, field: str) -> None:
    pid = allocated(trial, "c1", "hbmsc")
    other = allocated(trial, "c2", "hbmsc")
    row_id = _medication(trial, pid)
    with refused("correction.not_correctable", field="field"):
        correct_record(
            trial.study, trial.actor(INVESTIGATOR), _correction("medication", row_id, field, other)
        )
    with Session(trial.engine) as session:
        assert session.get_one(MedicationRecord, row_id).participant_id == pid


def test_a_medication_period_corrected_backward_is_refused(trial: Trial) -> None:
    pid = allocated(trial, "c1", "hbmsc")
    row_id = _medication(trial, pid)
    early = TREATMENT_START  # before the recorded first day (start + 2)
    with refused("date.end_before_start"):
        correct_record(
            trial.study, trial.actor(INVESTIGATOR),
            _correction("medication", row_id, "last_day", early),
        )  # fmt: skip


def test_a_medication_period_corrected_beyond_its_regimen_is_refused_as_at_entry(
    trial: Trial,
) -> None:
    """Entry refuses a period longer than the regimen's days (medication.period_too_long);
    a correction of one of its days must not stretch it there."""
    pid = allocated(trial, "c1", "hbmsc")
    row_id = _medication(trial, pid)
    regimen = trial.protocol.regimen("tx_estradiol_valerate")
    assert regimen.first_day is not None and regimen.last_day is not None
    too_long = regimen.last_day - regimen.first_day + 1 + 5
    last = TREATMENT_START + dt.timedelta(days=2 + too_long)
    long_course = MedicationInput(
        participant_id=pid, regimen_id="tx_estradiol_valerate",
        first_day=TREATMENT_START + dt.timedelta(days=2), last_day=last, doses_taken=2,
    )  # fmt: skip
    with refused("medication.period_too_long"):
        record_medication(trial.study, trial.actor(COORDINATOR), long_course)
    before = audit_rows(trial.engine)
    with refused("medication.period_too_long"):
        correct_record(
            trial.study, trial.actor(INVESTIGATOR),
            _correction("medication", row_id, "last_day", last),
        )  # fmt: skip
    assert audit_rows(trial.engine) == before


def test_a_correction_through_a_membership_removed_a_moment_ago_finds_nothing(
    trial: Trial, site_b: SiteB
) -> None:
    """The actor was signed in while a member of the seed site; her sites are read again at
    each call, so its record is no longer hers to correct (nor to read or rehearse)."""
    pi = trial.actor(INVESTIGATOR)
    member = TeamMember(
        username=ROAMER, full_name="Roamer", role=Role.INVESTIGATOR, password=PASSWORD,
        site_ids=[site_b.site_id, trial.site_id],
    )  # fmt: skip
    add_user(trial.study, pi, member)
    roamer = sign_in(trial.study, ROAMER, PASSWORD)
    pid = allocated(trial, "c1", "hbmsc")
    row_id = _deviation(trial, pid)
    change = _correction("deviation", row_id, "description", "scan three days late")
    assert dry_run(correct_record, trial.study, roamer, change).accepted
    removal = MembershipInput(
        username=ROAMER, site_id=trial.site_id, member=False, reason="left the first hospital"
    )
    set_site_membership(trial.study, pi, removal)
    before = audit_rows(trial.engine)
    with refused("record.not_found", kind=NotFoundError):
        correct_record(trial.study, roamer, change)
    rehearsed = dry_run(correct_record, trial.study, roamer, change)
    assert rehearsed.refusal is not None and rehearsed.refusal.code == "record.not_found"
    with refused("record.not_found", kind=NotFoundError):
        participant_summary(trial.study, roamer, pid)
    assert all(s.participant_id != pid for s in participants(trial.study, roamer))
    assert dashboard(trial.study, roamer).enrolled == 0
    assert audit_rows(trial.engine) == before


# --------------------------------------------------------------------------- dry runs


def test_a_dry_run_of_a_dry_run_writes_nothing(trial: Trial) -> None:
    pid = allocated(trial, "c1", "hbmsc")
    row_id = _medication(trial, pid)
    change = _correction("medication", row_id, "last_day", TREATMENT_START + dt.timedelta(days=4))
    before = audit_rows(trial.engine)
    actor = trial.actor(INVESTIGATOR)
    outer: Any = dry_run(dry_run, trial.study, actor, correct_record, change)  # type: ignore[arg-type]
    assert outer.refusal is not None and outer.refusal.code == "input.wrong_type"
    with Session(trial.engine) as session:
        row = session.get_one(MedicationRecord, row_id)
        assert row.last_day == TREATMENT_START + dt.timedelta(days=3)
    assert audit_rows(trial.engine) == before


def test_a_refused_dry_run_of_another_sites_record_names_only_what_was_asked(
    trial: Trial, site_b: SiteB
) -> None:
    """Another site's record is 'not found' in a dry run as in a save: the refusal carries
    the table and the id asked for, never her study id, her site or a field's value."""
    pid = allocated(trial, "c1", "hbmsc")
    row_id = _deviation(trial, pid)
    change = _correction("deviation", row_id, "description", "scan three days late")
    rehearsed = dry_run(correct_record, trial.study, site_b.investigator, change)
    assert rehearsed.refusal is not None and rehearsed.refusal.code == "record.not_found"
    assert rehearsed.changes == () and rehearsed.result is None
    with Session(trial.engine) as session:
        study_id = participant_summary(trial.study, trial.actor(MONITOR), pid).study_id
        site_code = session.get_one(Site, trial.site_id).code
    shown = f"{rehearsed.refusal.params} {rehearsed.refusal.message}"
    for secret in (study_id, site_code, "scan two days late"):
        assert secret not in shown


def test_a_dry_run_of_a_wrong_password_sign_in_counts_no_attempt(trial: Trial) -> None:
    """A dry run cannot rehearse a sign-in; a failed one must not count towards the lock-out
    either (five rehearsals would otherwise lock her out)."""
    for _ in range(8):
        with pytest.raises(InvalidInput):
            dry_run(sign_in, trial.study, COORDINATOR, "wrong password!")  # type: ignore[arg-type]
    assert sign_in(trial.study, COORDINATOR, PASSWORD).username == COORDINATOR


# --------------------------------------------------------------------------- reads


def test_a_signed_out_or_deactivated_reader_reads_nothing(trial: Trial) -> None:
    pid = allocated(trial, "c1", "hbmsc")
    reader = sign_in(trial.study, MONITOR, PASSWORD)
    assert participant_summary(trial.study, reader, pid).participant_id == pid
    sign_out(trial.study, reader)
    for read in (
        lambda a: participant_summary(trial.study, a, pid),
        lambda a: participant_timeline(trial.study, a, pid),
        lambda a: dashboard(trial.study, a),
    ):
        with pytest.raises(NotSignedIn):
            read(reader)
    other = trial.actor(COORDINATOR)
    set_account_active(
        trial.study, trial.actor(INVESTIGATOR), COORDINATOR, active=False,
        reason="left the research team",
    )  # fmt: skip
    with pytest.raises(NotSignedIn):
        participants(trial.study, other)


def test_a_dashboard_counts_only_the_readers_sites(trial: Trial, site_b: SiteB) -> None:
    allocated(trial, "c1", "hbmsc")
    allocated(trial, "c2", "hbmsc")
    b_board = dashboard(trial.study, site_b.monitor)
    assert b_board.enrolled == 0 and b_board.total("screened") == 0
    assert {s.site_id for s in b_board.sites} <= {site_b.site_id}
    assert dashboard(trial.study, trial.actor(MONITOR)).enrolled == 2


# --------------------------------------------------------------------------- time zones


@pytest.mark.parametrize(
    "zone",
    [
        "UTC+8", "../../etc/passwd", "Asia/Shanghai\n", " Asia/Shanghai", "asia/shanghai", "",
        "/usr/share/zoneinfo/Asia/Shanghai",
        # known to zoneinfo, yet no place's time: the server's own zone (what issue 8 did away
        # with), a placeholder zone, and the copies in posix/ and right/ (right/ counts leap
        # seconds, so its clock is 27 s off)
        "localtime", "Factory", "posixrules", "posix/Asia/Shanghai", "right/Asia/Shanghai",
    ],
)  # fmt: skip
def test_a_site_time_zone_must_be_a_places_iana_name(trial: Trial, zone: str) -> None:
    before = audit_rows(trial.engine)
    with pytest.raises(InvalidInput) as caught:
        add_site(
            trial.study, trial.actor(INVESTIGATOR), SiteInput(code="X1", name="X", time_zone=zone)
        )
    assert caught.value.field == "time_zone"
    assert audit_rows(trial.engine) == before


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "UTC", "Etc/GMT-8", "America/Argentina/Salta"])
def test_a_places_time_zone_is_accepted(trial: Trial, zone: str) -> None:
    site_id = add_site(
        trial.study, trial.actor(INVESTIGATOR), SiteInput(code="X1", name="X", time_zone=zone)
    )
    with Session(trial.engine) as session:
        assert session.get_one(Site, site_id).time_zone == zone


# --------------------------------------------------------------------------- screening import


def _line(ref: str, **changes: Any) -> str:
    items = eligible_items(**changes)
    cells = [ref]
    for value in items.values():
        if value is None:
            cells.append("")
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        elif isinstance(value, dt.date):
            cells.append(value.isoformat())
        else:
            cells.append(str(value))
    return ",".join(cells)


def _header() -> str:
    return ",".join(["candidate_id", *eligible_items()])


def _screenings(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Screening)) or 0)


def _import(trial: Trial, path: Path, *, dry_run: bool = False) -> Any:
    return import_screenings(trial.study, trial.actor(COORDINATOR), path, dry_run=dry_run)


@pytest.mark.parametrize(
    "content",
    [
        b"",  # an empty file
        b"\n\n",
        b"candidate_id\n",  # a header alone, no item
    ],
)
def test_an_empty_screening_file_stores_nothing_and_says_so(
    trial: Trial, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(content)
    before = audit_rows(trial.engine)
    try:
        report = _import(trial, path)
    except EndotrialError as error:
        assert error.code.startswith(("import.", "input.", "eligibility.", "file."))
    else:
        assert report.screenings == ()
    assert audit_rows(trial.engine) == before and _screenings(trial.engine) == 0


def test_a_formula_in_a_candidate_id_is_refused(trial: Trial, tmp_path: Path) -> None:
    """A candidate id such as '=HYPERLINK(...)' would run when the screening log is opened in
    a spreadsheet; it is refused as the screening form refuses it."""
    path = tmp_path / "c.csv"
    lines = [_header(), _line("C-1"), _line('"=HYPERLINK(""http://x"",""y"")"'), _line("+1+1")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for rehearse in (True, False):
        report = _import(trial, path, dry_run=rehearse)
        assert {(p.row, p.field) for p in report.problems} >= {
            (2, "candidate_id"),
            (3, "candidate_id"),
        }
    assert _screenings(trial.engine) == 0


def test_a_file_with_a_byte_order_mark_reads_its_first_column(trial: Trial, tmp_path: Path) -> None:
    """Excel writes UTF-8 with a BOM: the first column must still be 'candidate_id', not
    '\\ufeffcandidate_id' (an unknown column, and every id missing)."""
    path = tmp_path / "c.csv"
    path.write_bytes(("\n".join([_header(), _line("C-1")]) + "\n").encode("utf-8-sig"))
    report = _import(trial, path, dry_run=True)
    assert report.accepted, report.problems


def test_a_latin1_file_is_refused_clearly_and_stores_nothing(trial: Trial, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(("\n".join([_header(), _line("C-é1")]) + "\n").encode("latin-1"))
    before = audit_rows(trial.engine)
    try:
        report = _import(trial, path)
    except EndotrialError as error:
        assert error.code
    else:
        assert not report.accepted and report.screenings == ()
    assert audit_rows(trial.engine) == before and _screenings(trial.engine) == 0


def test_a_ragged_or_doubled_file_lists_every_problem_and_dry_run_stores_nothing(
    trial: Trial, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    lines = [_header(), _line("C-1"), _line("C-2") + ",extra", "C-3,F", _line("C-1")]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = audit_rows(trial.engine)
    for rehearse in (True, False):
        try:
            report = _import(trial, path, dry_run=rehearse)
        except EndotrialError as error:
            assert error.code
        else:
            assert not report.accepted and report.screenings == ()
            assert any(p.row == 4 for p in report.problems)  # the id again
    assert audit_rows(trial.engine) == before and _screenings(trial.engine) == 0


def test_a_clean_file_dry_run_by_another_sites_member_writes_nothing(
    trial: Trial, site_b: SiteB, tmp_path: Path
) -> None:
    """A dry run for a site she does not belong to is refused, and writes nothing either way."""
    path = tmp_path / "c.csv"
    path.write_text("\n".join([_header(), _line("C-1")]) + "\n", encoding="utf-8")
    before = audit_rows(trial.engine)
    report = import_screenings(
        trial.study, site_b.coordinator, path, site_id=trial.site_id, dry_run=True
    )
    assert not report.accepted and report.screenings == ()
    report = import_screenings(
        trial.study, trial.actor(STATISTICIAN), path, site_id=trial.site_id, dry_run=True
    )
    assert not report.accepted
    assert audit_rows(trial.engine) == before and _screenings(trial.engine) == 0


@pytest.mark.parametrize(
    ("event_id", "code"),
    [
        ("baseline_ultrasound", "visit.wrong_kind"),  # a scan visit, not a course of a drug
        ("hbmsc_infusion", "visit.wrong_kind"),
        ("no_such_visit", "visit.not_in_schedule"),
    ],
)
def test_a_corrected_event_must_be_one_of_her_schedule_of_the_records_kind(
    trial: Trial, event_id: str, code: str
) -> None:
    pid = allocated(trial, "c1", "hbmsc")
    row_id = _medication(trial, pid)
    before = audit_rows(trial.engine)
    with refused(code, field="event_id"):
        correct_record(
            trial.study, trial.actor(INVESTIGATOR),
            _correction("medication", row_id, "event_id", event_id),
        )  # fmt: skip
    assert audit_rows(trial.engine) == before
