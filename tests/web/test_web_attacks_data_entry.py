"""Hostile tests of issue 10's data-entry and screening pages, through HTTP as a careless or
hostile hospital user would use them: double submissions, replayed and raced upload
confirmations, another site's ids, absurd ids, numbers and dates, hostile CSV files, and a
procedure checked for one weight and recorded for another.

An attack the application resists is a plain test. The holes found (a double-clicked form
recording twice, two confirmations at once importing an upload twice) were fixed and are
plain tests too."""

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from services_helpers import (
    COORDINATOR,
    RADIOLOGIST,
    RELEASED,
    SCREENED_ON,
    TREATMENT_START,
    allocated,
    audit_rows,
    eligible_items,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from web_helpers import WebTrial, client_of, csrf_of, signed_in

from endotrial.services import (
    Operation,
    adverse_events,
    my_account,
    participant_records,
    screening_log,
)
from endotrial.services.permissions import PERMISSIONS
from endotrial.store import Procedure
from endotrial.web import data_entry as web_data_entry
from endotrial.web import forms as web_forms
from endotrial.web import screening

DAY_10 = TREATMENT_START + dt.timedelta(days=9)
BIG_ID = 10**25


@pytest.fixture(autouse=True)
def upload_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "uploads"
    monkeypatch.setattr(screening, "UPLOAD_DIR", folder)
    yield folder


@pytest.fixture
def coordinator(web_trial: WebTrial) -> TestClient:
    return signed_in(client_of(web_trial.trial.study), COORDINATOR)


def _post(client: TestClient, path: str, data: dict[str, str]) -> Response:
    token = csrf_of(client.get("/dashboard").text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


def _count(web_trial: WebTrial, participant_id: int, entity: str) -> int:
    trial = web_trial.trial
    rows = participant_records(trial.study, trial.actor(COORDINATOR), participant_id)
    return sum(1 for r in rows if r.entity == entity)


def _log(web_trial: WebTrial) -> int:
    trial = web_trial.trial
    return len(screening_log(trial.study, trial.actor(COORDINATOR)))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _screening_form(ref: str) -> dict[str, str]:
    items = {f"items.{k}": _text(v) for k, v in eligible_items().items()}
    return {"candidate_ref": ref, "site_id": "1", "as_of": SCREENED_ON.isoformat(), **items}


# --- double submission -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "form", "entity"),
    [
        ("record/baseline_ultrasound",
         {"scan_date": "2025-10-14", "thickness_mm": "6.5", "trilaminar": "yes"}, "ultrasounds"),
        ("deviation",
         {"occurred_on": "2025-10-16", "category": "visit window", "description": "late scan"},
         "protocol_deviations"),
    ],
)  # fmt: skip
def test_a_double_clicked_form_records_once(
    coordinator: TestClient, web_trial: WebTrial, event: str, form: dict[str, str], entity: str
) -> None:
    home = web_trial.home_participant
    path = f"/participants/{home}/{event}"
    first, second = _post(coordinator, path, form), _post(coordinator, path, form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert _count(web_trial, home, entity) == 1
    changed = _post(coordinator, path, {**form, next(iter(form)): form[next(iter(form))]})
    assert changed.status_code == 303 and _count(web_trial, home, entity) == 1


def test_a_copy_sent_while_the_first_is_still_saving_is_told_so_and_keeps_what_was_typed(
    coordinator: TestClient, web_trial: WebTrial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second copy waits for the first (here not at all); still being saved, it is told
    so (409, in place on the form, nothing typed lost) and saves nothing itself."""
    monkeypatch.setattr(web_forms, "WAIT_FOR_FIRST", dt.timedelta(0))
    saving, release = threading.Event(), threading.Event()
    real = web_data_entry.record_deviation

    def slow(*args: Any, **kwargs: Any) -> Any:
        saving.set()
        release.wait(timeout=60)
        return real(*args, **kwargs)

    monkeypatch.setattr(web_data_entry, "record_deviation", slow)
    home = web_trial.home_participant
    path = f"/participants/{home}/deviation"
    form = {"occurred_on": "2025-10-16", "category": "visit window", "description": "slow"}
    first: list[Response] = []
    thread = threading.Thread(target=lambda: first.append(_post(coordinator, path, form)))
    thread.start()
    assert saving.wait(timeout=60)
    second = _post(coordinator, path, form)
    release.set()
    thread.join(timeout=60)
    assert second.status_code == 409 and "still being saved" in second.text
    assert ">slow</textarea>" in second.text
    assert first[0].status_code == 303
    assert _count(web_trial, home, "protocol_deviations") == 1


def test_a_second_different_record_is_still_recorded(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    path = f"/participants/{home}/deviation"
    form = {"occurred_on": "2025-10-16", "category": "visit window", "description": "late"}
    assert _post(coordinator, path, form).status_code == 303
    other = {**form, "description": "late again, another visit"}
    assert _post(coordinator, path, other).status_code == 303
    assert _count(web_trial, home, "protocol_deviations") == 2


def test_a_double_clicked_screening_is_logged_once(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    before = _log(web_trial)
    form = _screening_form("SC-TWICE")
    first = _post(coordinator, "/screening/new", form)
    second = _post(coordinator, "/screening/new", form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert _log(web_trial) == before + 1


def test_another_user_posting_the_same_form_is_not_taken_for_a_double_click(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    path = f"/participants/{home}/deviation"
    form = {"occurred_on": "2025-10-16", "category": "visit window", "description": "late"}
    assert _post(coordinator, path, form).status_code == 303
    other = signed_in(client_of(web_trial.trial.study), COORDINATOR)  # her second session
    assert _post(other, path, form).status_code == 303
    assert _count(web_trial, home, "protocol_deviations") == 2


# --- the upload's confirmation -----------------------------------------------------------------


def _upload(client: TestClient, content: bytes, name: str = "candidates.csv") -> Response:
    token = csrf_of(client.get("/screening").text)
    return client.post(
        "/screening/import", data={"csrf_token": token, "site_id": "1"},
        files={"file": (name, content, "text/csv")}, follow_redirects=False,
    )  # fmt: skip


CLEAN = b"candidate_id,afc\nSC-RACE1,7\nSC-RACE2,8\n"


def test_two_confirmations_at_once_import_the_file_once(
    coordinator: TestClient, web_trial: WebTrial, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first confirmation is held after its import, before it forgets the file, while the
    second arrives."""
    before = _log(web_trial)
    assert _upload(coordinator, CLEAN).status_code == 200
    token = csrf_of(coordinator.get("/screening").text)
    inside, second_done = threading.Event(), threading.Event()
    real_import = screening.import_screenings

    def held(*args: Any, **kwargs: Any) -> Any:
        imported = real_import(*args, **kwargs)
        if not kwargs.get("dry_run") and not inside.is_set():  # imported, file not yet gone
            inside.set()
            second_done.wait(timeout=30)
        return imported

    monkeypatch.setattr(screening, "import_screenings", held)
    answers: list[Response] = []

    def confirm() -> None:
        answers.append(
            coordinator.post(
                "/screening/import/confirm", data={"csrf_token": token}, follow_redirects=False
            )
        )

    first = threading.Thread(target=confirm)
    first.start()
    assert inside.wait(timeout=30)
    confirm()  # the second, while the first is importing
    second_done.set()
    first.join(timeout=60)
    assert sorted(a.status_code for a in answers) == [303, 409]
    assert _log(web_trial) == before + 2


def test_a_replayed_confirmation_imports_nothing_more(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    before = _log(web_trial)
    assert _upload(coordinator, CLEAN).status_code == 200
    kept_cookies = dict(coordinator.cookies)  # the session that still names the checked file
    token = csrf_of(coordinator.get("/screening").text)
    done = coordinator.post("/screening/import/confirm", data={"csrf_token": token},
                            follow_redirects=False)  # fmt: skip
    assert done.status_code == 303 and _log(web_trial) == before + 2
    coordinator.cookies.clear()
    coordinator.cookies.update(kept_cookies)
    again = coordinator.post("/screening/import/confirm", data={"csrf_token": token},
                             follow_redirects=False)  # fmt: skip
    assert again.status_code == 409 and _log(web_trial) == before + 2


def test_a_confirmation_imports_what_was_checked_not_a_file_sent_with_it(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    before = _log(web_trial)
    assert _upload(coordinator, CLEAN).status_code == 200
    token = csrf_of(coordinator.get("/screening").text)
    swapped = b"candidate_id,afc\nSC-EVIL1,7\nSC-EVIL2,7\nSC-EVIL3,7\n"
    done = coordinator.post(
        "/screening/import/confirm", data={"csrf_token": token, "site_id": "2"},
        files={"file": ("candidates.csv", swapped, "text/csv")}, follow_redirects=False,
    )  # fmt: skip
    assert done.headers["location"] == "/screening?imported=2"
    assert _log(web_trial) == before + 2


@pytest.mark.parametrize(
    "content",
    [
        b"candidate_id,afc,afc\nSC-D1,7,8\n",  # a duplicated column
        "candidate_id,afc\nSC-é,7\n".encode("latin-1"),  # not UTF-8
        b"candidate_id,afc\n" + b"".join(b"SC-%d,7\n" % i for i in range(100_000)),
        b"",
        b'candidate_id,afc\n"=HYPERLINK(""http://evil"",""x"")",7\n',
        b"candidate_id,afc\n<script>alert(1)</script>,7\n",
        b"candidate_id,afc\nSC\x00X,7\n",
    ],
    ids=["duplicate-header", "latin-1", "100k-rows", "empty", "formula", "script", "nul"],
)
def test_a_hostile_csv_is_refused_whole_and_shown_as_text(
    coordinator: TestClient, web_trial: WebTrial, content: bytes, upload_dir: Path
) -> None:
    before = _log(web_trial)
    answer = _upload(coordinator, content)
    assert answer.status_code == 422, answer.text[:500]
    assert "Traceback" not in answer.text and str(upload_dir) not in answer.text
    assert "<script>alert(1)" not in answer.text
    assert _log(web_trial) == before and not list(upload_dir.glob("*.csv"))


def test_a_bom_and_crlf_csv_is_read_as_any_other(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    before = _log(web_trial)
    checked = _upload(coordinator, "\ufeffcandidate_id,afc\r\nSC-BOM1,7\r\n".encode())
    assert checked.status_code == 200
    token = csrf_of(coordinator.get("/screening").text)
    done = coordinator.post("/screening/import/confirm", data={"csrf_token": token},
                            follow_redirects=False)  # fmt: skip
    assert done.headers["location"] == "/screening?imported=1"
    assert _log(web_trial) == before + 1


# --- ids, numbers and dates ----------------------------------------------------------------


def test_absurd_ids_are_not_found_or_refused_never_a_server_error(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant
    reads = [
        f"/participants/{BIG_ID}/record/baseline_ultrasound", f"/screening/{BIG_ID}",
        f"/participants/{BIG_ID}/procedure/hbmsc_infusion", "/participants/-1/deviation",
        f"/participants/{home}/record/" + "a" * 10_000,
        f"/participants/{home}/record/..%2F..%2Fdashboard",
        f"/participants/{home}/record/%00%0a%E2%80%AE", f"/participants/{home}/measure/x/y",
    ]  # fmt: skip
    for path in reads:
        answer = coordinator.get(path, follow_redirects=False)
        assert answer.status_code in (404, 422), path[:80]
        assert "Traceback" not in answer.text
    writes = [
        f"/participants/{BIG_ID}/deviation", f"/screening/{BIG_ID}/consent",
        f"/screening/{BIG_ID}/enrol", f"/screening/{BIG_ID}/allocate",
        f"/participants/{home}/record/treatment_cycle_start%2F..%2F..",
    ]  # fmt: skip
    before = audit_rows(web_trial.trial.engine)
    for path in writes:
        answer = _post(coordinator, path, {"occurred_on": "2025-10-16", "category": "x"})
        assert answer.status_code in (404, 422), path[:80]
    assert audit_rows(web_trial.trial.engine) == before


def test_another_arms_event_is_not_found_on_her_page(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    home = web_trial.home_participant  # control arm: no infusion, no post-procedure visit
    for event in ("hbmsc_infusion", "post_procedure_visit", "iodine_allergy_test"):
        answer = coordinator.get(f"/participants/{home}/record/{event}", follow_redirects=False)
        assert answer.status_code == 404, event
    before = audit_rows(web_trial.trial.engine)
    posted = _post(coordinator, f"/participants/{home}/record/post_procedure_visit",
                   {"visit_date": "2025-10-22", "attended": "on"})  # fmt: skip
    assert posted.status_code == 404 and audit_rows(web_trial.trial.engine) == before


@pytest.mark.parametrize(
    "thickness", ["1e309", "NaN", "inf", "-0", "９", "1" * 400, "-1", "6,5", "0x10"]
)
def test_absurd_numbers_are_refused_naming_the_field(
    coordinator: TestClient, web_trial: WebTrial, thickness: str
) -> None:
    home = web_trial.home_participant
    path = f"/participants/{home}/record/baseline_ultrasound"
    answer = _post(coordinator, path, {"scan_date": "2025-10-14", "thickness_mm": thickness})
    scans = _count(web_trial, home, "ultrasounds")
    if answer.status_code == 303:  # a plain number after all: stored as the number it is
        rows = participant_records(web_trial.trial.study, web_trial.trial.actor(COORDINATOR), home)
        (scan,) = [{f.name: f.value for f in r.fields} for r in rows if r.entity == "ultrasounds"]
        assert float(str(scan["thickness_mm"])) == float(thickness)
        return
    assert answer.status_code == 422 and scans == 0
    assert 'id="field-thickness_mm"' in answer.text and "Traceback" not in answer.text


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "2026-02-30", "2025-10-14T00:00"])
def test_absurd_dates_are_refused_naming_the_field(
    coordinator: TestClient, web_trial: WebTrial, day: str
) -> None:
    home = web_trial.home_participant
    before = audit_rows(web_trial.trial.engine)
    for path, form in [
        (f"/participants/{home}/record/baseline_ultrasound",
         {"scan_date": day, "thickness_mm": "6.5"}),
        (f"/participants/{home}/deviation",
         {"occurred_on": day, "category": "x", "description": "y"}),
        (f"/participants/{home}/withdrawal",
         {"withdrawn_on": day, "initiated_by": "participant", "reason": "moved"}),
    ]:  # fmt: skip
        answer = _post(coordinator, path, form)
        assert answer.status_code in (409, 422), (path, answer.status_code)
        assert "Traceback" not in answer.text
    assert audit_rows(web_trial.trial.engine) == before
    shown = coordinator.get(f"/participants/{home}?on={day}")
    assert shown.status_code in (200, 422) and "Traceback" not in shown.text


# --- the procedure's check ----------------------------------------------------------------


def _infusion_form(**changes: str) -> dict[str, str]:
    form = {
        "procedure_date": DAY_10.isoformat(), "weight_kg": "58", "viability_pct": "92",
        "dose_given_cells": "58000000", "cell_lot": "LOT-7",
        "pre_checks.iodine_allergy_test": "negative", "pre_checks.groin_preparation": "done",
        "pre_checks.cell_product_release": "checked", "checklist.step_1": "on",
        **{f"release_results.{k}": str(v) for k, v in RELEASED.items()},
    }  # fmt: skip
    form.update(changes)
    return form


def _procedures(web_trial: WebTrial) -> int:
    with Session(web_trial.trial.engine) as session:
        return int(session.scalar(select(func.count()).select_from(Procedure)) or 0)


def test_a_dose_checked_for_one_weight_is_not_recorded_for_another(
    web_trial: WebTrial,
) -> None:
    cells = allocated(web_trial.trial, "SC-CELLS", "hbmsc")
    radiologist = signed_in(client_of(web_trial.trial.study), RADIOLOGIST)
    path = f"/participants/{cells}/procedure/hbmsc_infusion"
    before = audit_rows(web_trial.trial.engine)
    checked = _post(radiologist, path, {**_infusion_form(), "action": "check"})
    assert checked.status_code == 200 and "It would be accepted as entered." in checked.text
    assert audit_rows(web_trial.trial.engine) == before and _procedures(web_trial) == 0
    heavier = _post(radiologist, path, {**_infusion_form(weight_kg="80"), "action": "record"})
    assert heavier.status_code == 409 and _procedures(web_trial) == 0
    assert 'value="80"' in heavier.text  # what was typed is kept, the dose named
    odd = _post(radiologist, path, {**_infusion_form(), "action": "delete"})  # read as check
    assert odd.status_code == 200 and _procedures(web_trial) == 0


# --- the live criteria ---------------------------------------------------------------------


def test_the_live_criteria_write_nothing_and_name_no_candidate(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    before = (audit_rows(web_trial.trial.engine), _log(web_trial))
    taken = _screening_form("SC-B1")  # site B's candidate's reference
    answer = _post(coordinator, "/screening/evaluate", {**taken, "site_id": "2"})
    assert answer.status_code == 200 and "SC-B1" not in answer.text
    hostile = {"items.afc": "1; DROP TABLE screenings;--", "items.sex": "<script>x</script>"}
    answer = _post(coordinator, "/screening/evaluate", {**taken, **hostile})
    assert answer.status_code == 200 and "<script>x" not in answer.text
    assert (audit_rows(web_trial.trial.engine), _log(web_trial)) == before
    monitor = signed_in(client_of(web_trial.trial.study), "monitor1")
    assert _post(monitor, "/screening/evaluate", taken).status_code == 403


# --- roles, CSRF, redirects ----------------------------------------------------------------


def _every_form(web_trial: WebTrial, cells: int) -> list[tuple[str, dict[str, str]]]:
    """Every data-entry and screening form, as a hostile user would fill it in."""
    home = web_trial.home_participant
    return [
        (f"/participants/{home}/record/baseline_ultrasound",
         {"scan_date": "2025-10-14", "thickness_mm": "6.5"}),
        (f"/participants/{home}/record/transfer_cycle_start", {"start_date": "2025-11-10"}),
        (f"/participants/{home}/deviation",
         {"occurred_on": "2025-10-16", "category": "x", "description": "y"}),
        (f"/participants/{home}/withdrawal",
         {"withdrawn_on": "2025-10-20", "initiated_by": "participant", "reason": "moved"}),
        (f"/participants/{home}/outcome",
         {"beta_hcg_miu_ml": "350", "beta_hcg_date": "2025-10-20"}),
        (f"/participants/{cells}/procedure/hbmsc_infusion",
         {**_infusion_form(), "action": "record"}),
        ("/screening/new", _screening_form("SC-ROLE")),
        ("/screening/1/consent",
         {"form_version": "v1.0", "consent_date": "2025-10-01", "taken_by": "x"}),
        ("/screening/1/enrol", {"enrolled_on": "2025-10-01"}),
        ("/screening/1/allocate",
         {"arm": "control", "basis": "preference", "allocated_on": "2025-10-01"}),
    ]  # fmt: skip


#: The operation each form of `_every_form` does, in its order.
FORM_OPERATIONS = (
    Operation.RECORD_ULTRASOUND, Operation.START_CYCLE, Operation.RECORD_DEVIATION,
    Operation.WITHDRAW, Operation.RECORD_OUTCOME, Operation.RECORD_PROCEDURE, Operation.SCREEN,
    Operation.RECORD_CONSENT, Operation.ENROL, Operation.ALLOCATE,
)  # fmt: skip


@pytest.mark.parametrize("role", ["monitor1", "stat1", "dsmb1", "embryo1"])
def test_roles_that_enter_no_such_data_are_refused_every_form(
    web_trial: WebTrial, role: str
) -> None:
    cells = allocated(web_trial.trial, "SC-CELLS", "hbmsc")
    client = signed_in(client_of(web_trial.trial.study), role)
    trial = web_trial.trial
    her_role = my_account(trial.study, trial.actor(role)).role
    before = (audit_rows(web_trial.trial.engine), _log(web_trial))
    forms = _every_form(web_trial, cells)
    for (path, form), operation in zip(forms, FORM_OPERATIONS, strict=True):
        if her_role in PERMISSIONS[operation]:  # hers to do (a monitor's deviation)
            continue
        answer = _post(client, path, form)
        # The outcome form names her latest transfer: none yet, refused before her role is.
        allowed = (403, 422) if path.endswith("/outcome") else (403,)
        assert answer.status_code in allowed, (path, answer.status_code)
        assert "Traceback" not in answer.text
    assert (audit_rows(web_trial.trial.engine), _log(web_trial)) == before


def test_every_form_without_its_csrf_token_is_refused_and_writes_nothing(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    cells = allocated(web_trial.trial, "SC-CELLS", "hbmsc")
    before = (audit_rows(web_trial.trial.engine), _log(web_trial))
    forms = [
        *_every_form(web_trial, cells), ("/screening/evaluate", _screening_form("SC-E")),
        ("/screening/import/confirm", {}), ("/screening/import/cancel", {}),
        (f"/participants/{cells}/procedure/hbmsc_infusion", {**_infusion_form()}),
    ]  # fmt: skip
    for path, form in forms:
        for token in (None, "forged-" + "x" * 40):
            data = form if token is None else {**form, "csrf_token": token}
            answer = coordinator.post(path, data=data, follow_redirects=False)
            assert answer.status_code == 403 and "web.csrf" in answer.text, path
    assert (audit_rows(web_trial.trial.engine), _log(web_trial)) == before


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "/\\evil.example", "https://evil.example", "/%2F/evil.example",
     "/\t/evil.example", "/\n/evil.example", "javascript:alert(1)"],
)  # fmt: skip
def test_no_redirect_leaves_the_site(web_trial: WebTrial, target: str) -> None:
    client = client_of(web_trial.trial.study)
    token = csrf_of(client.get("/sign-in").text)
    answer = client.post(
        "/sign-in", data={"username": COORDINATOR, "password": "correct horse battery",
                          "csrf_token": token, "next": target},
        follow_redirects=False,
    )  # fmt: skip
    location = answer.headers["location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "\\" not in location and "\t" not in location and "\n" not in location
    token = csrf_of(client.get("/dashboard").text)
    switched = client.post(
        "/language", data={"language": "en", "next": target, "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    moved = switched.headers["location"]
    assert moved.startswith("/") and not moved.startswith("//") and "\t" not in moved


INJECTION = "<script>alert('x')</script>\"'; DROP TABLE participants;-- 秘 \u202e"


def _fields(web_trial: WebTrial, participant_id: int, entity: str) -> list[dict[str, Any]]:
    trial = web_trial.trial
    rows = participant_records(trial.study, trial.actor(COORDINATOR), participant_id)
    return [{f.name: f.value for f in r.fields} for r in rows if r.entity == entity]


def test_script_and_sql_in_every_text_field_are_stored_verbatim_and_shown_as_text(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    cells = allocated(web_trial.trial, "SC-CELLS", "hbmsc")
    radiologist = signed_in(client_of(web_trial.trial.study), RADIOLOGIST)
    infused = _post(
        radiologist, f"/participants/{cells}/procedure/hbmsc_infusion",
        {**_infusion_form(cell_lot=INJECTION), "action": "record"},
    )  # fmt: skip
    assert infused.status_code == 303, infused.text[:300]
    visited = _post(
        coordinator, f"/participants/{cells}/record/post_procedure_visit",
        {"visit_date": "2025-10-22", "attended": "on", "notes": INJECTION},
    )  # fmt: skip
    assert visited.status_code == 303, visited.text[:300]
    left = _post(
        coordinator, f"/participants/{cells}/withdrawal",
        {"withdrawn_on": "2025-10-23", "initiated_by": "participant", "reason": INJECTION},
    )  # fmt: skip
    assert left.status_code == 303, left.text[:300]
    stored = [
        _fields(web_trial, cells, "procedures")[0]["cell_lot"],
        _fields(web_trial, cells, "visits")[0]["notes"],
        _fields(web_trial, cells, "withdrawals")[0]["reason"],
    ]
    assert stored == [INJECTION.strip()] * 3
    page = coordinator.get(f"/participants/{cells}").text
    assert "<script>alert('x')" not in page and "&lt;script&gt;alert(" in page
    refused = _post(
        coordinator, f"/participants/{cells}/deviation",
        {"occurred_on": "9999-12-31", "category": INJECTION, "description": INJECTION},
    )  # fmt: skip
    assert refused.status_code in (409, 422)
    assert "<script>alert('x')" not in refused.text and "&lt;script&gt;" in refused.text


def test_a_double_clicked_adverse_event_is_reported_once(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    """A second report would count twice in the safety board's serious-AE numbers."""
    home = web_trial.home_participant
    trial = web_trial.trial
    before = len(adverse_events(trial.study, trial.actor(COORDINATOR)))
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    form = {
        "term": "Fever", "ctcae_grade": "3", "serious": "on", "onset_date": today,
        "related_procedure": "possible", "related_cells": "unlikely", "related_hrt": "not_related",
    }  # fmt: skip
    path = f"/participants/{home}/adverse-events"
    first, second = _post(coordinator, path, form), _post(coordinator, path, form)
    assert first.status_code == second.status_code == 303, first.text[:300]
    assert len(adverse_events(trial.study, trial.actor(COORDINATOR))) == before + 1


def test_an_upload_checked_before_sign_out_is_not_imported_by_the_next_user(
    coordinator: TestClient, web_trial: WebTrial
) -> None:
    before = _log(web_trial)
    assert _upload(coordinator, CLEAN).status_code == 200
    token = csrf_of(coordinator.get("/dashboard").text)
    coordinator.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    signed_in(coordinator, "pi1")  # the same browser, another user
    confirmed = _post(coordinator, "/screening/import/confirm", {})
    assert confirmed.status_code == 409 and _log(web_trial) == before
