"""Issue 10: the coordinator's screening and enrolment pages over HTTP. The screening form is
made from the protocol's items and its criteria show met / not met / unknown as she types
(nothing written); screening, consent, enrolment and allocation go through the services, a
refusal names the field and keeps what was typed; the screening log lists every decision and
imports a CSV of candidates only after a check that lists every row's problem."""

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from services_helpers import (
    COORDINATOR,
    INVESTIGATOR,
    MONITOR,
    RADIOLOGIST,
    SCREENED_ON,
    eligible_items,
)
from two_sites import SITE_B_COORDINATOR, screen_at
from web_helpers import WebTrial, client_of, csrf_of, signed_in

from endotrial.protocol.models import ItemType
from endotrial.services import participant_records, participant_summary, screening_log
from endotrial.web import screening
from endotrial.web.forms import typed_value


@pytest.fixture
def client(web_trial: WebTrial) -> TestClient:
    return client_of(web_trial.trial.study)


@pytest.fixture(autouse=True)
def upload_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "uploads"
    monkeypatch.setattr(screening, "UPLOAD_DIR", folder)
    yield folder


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _form(ref: str = "SC-WEB1", **changes: object) -> dict[str, str]:
    """The screening form of an eligible candidate, as a browser posts it."""
    items = {f"items.{k}": _text(v) for k, v in eligible_items(**changes).items()}
    return {"candidate_ref": ref, "site_id": "1", "as_of": SCREENED_ON.isoformat(), **items}


def _log(web_trial: WebTrial) -> list[int]:
    trial = web_trial.trial
    return [e.screening_id for e in screening_log(trial.study, trial.actor(INVESTIGATOR))]


def _state(html: str, criterion: str) -> str:
    found = re.search(rf'id="criterion-{criterion}" class="criterion (\w+)"', html)
    assert found is not None, f"no criterion {criterion} on the page"
    return found.group(1)


def _field_error(html: str, item: str) -> str:
    found = re.search(
        rf'<span class="error field-error"[^>]*id="error-{item}"([^>]*)>([^<]*)<', html
    )
    assert found is not None, f"no error slot for {item}"
    return "" if "hidden" in found.group(1) else found.group(2)


def _screened(client: TestClient, **changes: object) -> int:
    token = csrf_of(client.get("/screening/new").text)
    data = {**_form("SC-WEB1", **changes), "csrf_token": token}
    answer = client.post("/screening/new", data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return int(answer.headers["location"].rsplit("/", 1)[1])


def _post(client: TestClient, path: str, data: dict[str, str]) -> Response:
    token = csrf_of(client.get("/screening").text)
    return client.post(path, data={**data, "csrf_token": token}, follow_redirects=False)


# --- the form and its live criteria --------------------------------------------------------


def test_the_form_is_made_from_the_protocols_items_with_units_and_ranges(
    client: TestClient,
) -> None:
    signed_in(client, COORDINATOR)
    html = client.get("/screening/new").text
    for name in ("age_years", "weight_kg", "sex", "serology_date", "iodine_allergy"):
        assert f'name="items.{name}"' in html
    assert "from 25 to 250 kg" in html  # weight_kg's range, with its unit
    assert '<span class="unit">kg</span>' in html
    assert '<option value="negative"' in html  # a category's allowed values
    assert "identifying: sealed with her key" in html  # birth_date
    assert "computed from screening_date, birth_date when left blank" in html
    assert _state(html, "I7") == "unknown" and _state(html, "I1") == "later"


def test_the_criteria_show_met_not_met_and_unknown_as_she_types_and_nothing_is_written(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    token = csrf_of(client.get("/screening/new").text)
    before = _log(web_trial)
    typed = {
        "as_of": SCREENED_ON.isoformat(), "items.screening_date": SCREENED_ON.isoformat(),
        "items.good_blastocysts": "3", "items.age_years": "45", "items.afc": "lots",
        "items.iodine_allergy": "true",
    }  # fmt: skip
    live = client.post("/screening/evaluate", data=typed, headers={"X-CSRF-Token": token})
    assert live.status_code == 200
    assert _state(live.text, "I7") == "pass"  # 3 good blastocysts: met
    assert _state(live.text, "I2") == "fail"  # 45 years: not met
    assert _state(live.text, "E2") == "unknown"  # nothing typed for it
    assert _state(live.text, "IODINE") == "fail"  # closes the stem-cell arm only
    assert "present: closes hbmsc" in live.text
    assert "Not eligible" in live.text
    assert "&#39;lots&#39; is not a number" in _field_error(live.text, "afc")  # out of band
    assert 'hx-swap-oob="true"' in live.text
    assert _log(web_trial) == before
    without_token = client.post("/screening/evaluate", data=typed)
    assert without_token.status_code == 403 and "web.csrf" in without_token.text


# --- screening, consent, enrolment, allocation ---------------------------------------------


def test_a_candidate_is_screened_consented_enrolled_and_allocated_through_the_pages(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    screening_id = _screened(client)
    page = client.get(f"/screening/{screening_id}").text
    assert "Eligible" in page and f'action="/screening/{screening_id}/consent"' in page
    consent = {"form_version": "v1.0", "consent_date": SCREENED_ON.isoformat(),
               "taken_by": COORDINATOR}  # fmt: skip
    consented = _post(client, f"/screening/{screening_id}/consent", consent)
    assert consented.status_code == 303
    enrolled = _post(client, f"/screening/{screening_id}/enrol",
                     {"enrolled_on": SCREENED_ON.isoformat()})  # fmt: skip
    assert enrolled.status_code == 303
    page = client.get(f"/screening/{screening_id}").text
    assert "choosing the arm is an investigator" in page  # not the coordinator's to allocate
    assert f'action="/screening/{screening_id}/allocate"' not in page

    investigator = signed_in(client_of(web_trial.trial.study), INVESTIGATOR)
    allocation = {"arm": "control", "basis": "her preference",
                  "allocated_on": SCREENED_ON.isoformat()}  # fmt: skip
    allocated = _post(investigator, f"/screening/{screening_id}/allocate", allocation)
    assert allocated.status_code == 303
    location = allocated.headers["location"]
    participant_id = int(re.fullmatch(r"/participants/(\d+)#summary", location).group(1))  # type: ignore[union-attr]
    her_page = investigator.get(location).text
    assert "GZ6-002" in her_page and "control" in her_page
    trial = web_trial.trial
    summary = participant_summary(trial.study, trial.actor(INVESTIGATOR), participant_id)
    assert (summary.status, summary.arm, summary.enrolment_number) == (
        "allocated",
        "control",
        3,
    )  # after SC-HOME and SZ2's


def test_a_refused_screening_names_the_field_and_keeps_everything_typed(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    token = csrf_of(client.get("/screening/new").text)
    before = _log(web_trial)
    script = "<script>alert(1)</script>"
    typed = {**_form("SC-KEEP"), "items.good_blastocysts": "three", "items.afc": script}
    refused = client.post("/screening/new", data={**typed, "csrf_token": token})
    assert refused.status_code == 422
    html = refused.text
    assert "Not screened:" in html and "candidate SC-KEEP" in html
    assert "good_blastocysts" in _field_error(html, "good_blastocysts")  # named in place
    assert 'value="three"' in html and 'value="SC-KEEP"' in html  # kept as typed
    assert 'value="58.0"' in html  # an item she typed right is kept too
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and script not in html
    assert _log(web_trial) == before  # nothing stored
    bad_id = client.post("/screening/new", data={**_form("SC 1 <b>"), "csrf_token": token})
    assert bad_id.status_code == 422
    assert re.search(r'class="item refused">\s*<span>Candidate id', bad_id.text)
    assert 'value="SC 1 &lt;b&gt;"' in bad_id.text


def test_a_refusal_is_said_in_the_readers_language(client: TestClient) -> None:
    signed_in(client, COORDINATOR)
    token = csrf_of(client.get("/screening/new").text)
    client.post("/language", data={"language": "zh_Hans", "csrf_token": token})
    typed = {**_form("SC-ZH"), "items.good_blastocysts": "three", "csrf_token": token}
    refused = client.post("/screening/new", data=typed)
    assert refused.status_code == 422
    assert "候选人 SC-ZH" in refused.text and "请更正这些项目后重新筛选" in refused.text
    assert "good_blastocysts：&#39;three&#39; 不是数字" in refused.text  # the engine's words too
    assert "is not a number" not in refused.text
    assert 'value="three"' in refused.text


def test_the_live_criteria_say_a_bad_value_in_the_readers_language(client: TestClient) -> None:
    signed_in(client, COORDINATOR)
    token = csrf_of(client.get("/screening/new").text)
    client.post("/language", data={"language": "zh_Hans", "csrf_token": token})
    typed = {
        "as_of": SCREENED_ON.isoformat(), "items.screening_date": SCREENED_ON.isoformat(),
        "items.afc": "lots", "items.weight_kg": "20", "items.hiv_ab": "<b>neg</b>",
    }  # fmt: skip
    live = client.post("/screening/evaluate", data=typed, headers={"X-CSRF-Token": token})
    assert live.status_code == 200
    assert _field_error(live.text, "afc") == "afc：&#39;lots&#39; 不是数字：请更正；如不知道请留空"
    assert "低于最小值 25 kg" in _field_error(live.text, "weight_kg")
    assert "&#39;&lt;b&gt;neg&lt;/b&gt;&#39; 不是 negative, positive 之一" in _field_error(
        live.text, "hiv_ab"
    )  # what was typed, shown as text


def test_consent_and_enrolment_refusals_name_the_field_and_keep_what_was_typed(
    client: TestClient,
) -> None:
    signed_in(client, COORDINATOR)
    screening_id = _screened(client)
    path = f"/screening/{screening_id}/"
    consent = {"form_version": "v2.<i>0</i>", "consent_date": SCREENED_ON.isoformat(),
               "taken_by": "nobody"}  # fmt: skip
    refused = _post(client, path + "consent", consent)
    assert refused.status_code == 409
    html = refused.text
    assert "nobody" in html and re.search(r'<label class="refused">Taken by', html)
    assert 'value="v2.&lt;i&gt;0&lt;/i&gt;"' in html  # kept, shown as text
    yesterday = {**consent, "taken_by": COORDINATOR}
    assert _post(client, path + "consent", yesterday).status_code == 303
    early = SCREENED_ON - dt.timedelta(days=1)
    refused = _post(client, path + "enrol", {"enrolled_on": early.isoformat()})
    assert refused.status_code == 409
    html = refused.text
    assert re.search(r'<label class="refused">Enrolled on', html)
    assert f'value="{early.isoformat()}"' in html
    not_a_date = _post(client, path + "enrol", {"enrolled_on": "yesterday"})
    assert not_a_date.status_code == 422
    assert 'value="yesterday"' in not_a_date.text


def test_injection_typed_into_the_forms_is_stored_verbatim_and_shown_as_text(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    screening_id = _screened(client)
    version = "<b>1</b>'--"
    consent = {"form_version": version, "consent_date": SCREENED_ON.isoformat(),
               "taken_by": COORDINATOR}  # fmt: skip
    _post(client, f"/screening/{screening_id}/consent", consent)
    _post(client, f"/screening/{screening_id}/enrol", {"enrolled_on": SCREENED_ON.isoformat()})
    investigator = signed_in(client_of(web_trial.trial.study), INVESTIGATOR)
    basis = "'); DROP TABLE participants; -- <img src=x onerror=alert(1)>"
    allocation = {"arm": "control", "basis": basis, "allocated_on": SCREENED_ON.isoformat()}
    done = _post(investigator, f"/screening/{screening_id}/allocate", allocation)
    location = done.headers["location"]
    participant_id = int(location.split("/")[2].split("#")[0])
    trial = web_trial.trial
    records = participant_records(trial.study, trial.actor(INVESTIGATOR), participant_id)
    stored = {f.name: f.value for r in records for f in r.fields}
    assert stored["form_version"] == version and stored["allocation_basis"] == basis
    html = investigator.get(location).text
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "&lt;b&gt;1&lt;/b&gt;" in html and "<b>1</b>" not in html


# --- who may ---------------------------------------------------------------------------------


def test_the_nav_links_the_screening_log_for_those_who_may_read_it(
    web_trial: WebTrial,
) -> None:
    study = web_trial.trial.study
    for username, sees in ((COORDINATOR, True), (MONITOR, True), (RADIOLOGIST, False)):
        nav = signed_in(client_of(study), username).get("/dashboard").text.split("</nav>")[0]
        assert ('href="/screening"' in nav) is sees, username


def test_anonymous_readers_are_sent_to_sign_in(client: TestClient, web_trial: WebTrial) -> None:
    for path in ("/screening", "/screening/new", "/screening/1"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in")
    token = csrf_of(client.get("/sign-in").text)
    before = _log(web_trial)
    for path in ("/screening/new", "/screening/evaluate", "/screening/1/consent"):
        answer = client.post(path, data={**_form(), "csrf_token": token}, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/sign-in"), path
    assert _log(web_trial) == before


def test_a_monitor_reads_the_log_but_may_not_screen_or_enrol(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, MONITOR)
    log = client.get("/screening")
    assert log.status_code == 200 and 'id="upload"' not in log.text
    assert client.get("/screening/new").status_code == 403
    token = csrf_of(log.text)
    before = _log(web_trial)
    for path in ("/screening/new", "/screening/evaluate"):
        answer = client.post(path, data={**_form(), "csrf_token": token})
        assert answer.status_code == 403 and "auth.role" in answer.text, path
    assert _log(web_trial) == before
    trial = web_trial.trial
    eligible = screening_log(trial.study, trial.actor(MONITOR))[0].screening_id  # GZ6's
    page = client.get(f"/screening/{eligible}")
    assert page.status_code == 200 and "/consent" not in page.text
    consent = {"form_version": "v1", "consent_date": SCREENED_ON.isoformat(), "taken_by": MONITOR}
    answer = client.post(f"/screening/{eligible}/consent", data={**consent, "csrf_token": token})
    assert answer.status_code == 403
    csv = _csv([("SC-M1", {})])
    upload = client.post("/screening/import", data={"csrf_token": token},
                         files={"file": ("c.csv", csv, "text/csv")})  # fmt: skip
    assert upload.status_code == 403


def test_another_sites_screening_is_neither_shown_nor_reachable(
    client: TestClient, web_trial: WebTrial
) -> None:
    trial = web_trial.trial
    other = screen_at(trial, trial.actor(SITE_B_COORDINATOR), 2, "SC-B2")
    signed_in(client, COORDINATOR)
    log = client.get("/screening").text
    assert f'id="screening-{other}"' not in log and "SZ2" not in log
    page = client.get(f"/screening/{other}")
    assert page.status_code == 404 and "record.not_found" in page.text
    consent = {"form_version": "v1", "consent_date": SCREENED_ON.isoformat(),
               "taken_by": COORDINATOR}  # fmt: skip
    for step, data in (("consent", consent), ("enrol", {"enrolled_on": "2025-10-01"})):
        answer = _post(client, f"/screening/{other}/{step}", data)
        assert answer.status_code == 404, step
        assert "SZ2" not in answer.text
    b_log = screening_log(trial.study, trial.actor(SITE_B_COORDINATOR))
    assert [e.study_id for e in b_log if e.screening_id == other] == [None]  # not consented


# --- the screening log and the upload of candidates ----------------------------------------


def _csv(rows: list[tuple[str, dict[str, object]]]) -> bytes:
    names = list(eligible_items())
    lines = [",".join(["candidate_id", *names])]
    for ref, changes in rows:
        items = eligible_items(**changes)
        lines.append(",".join([ref, *(_text(items[n]) for n in names)]))
    return ("\n".join(lines) + "\n").encode()


def _upload(client: TestClient, content: bytes, name: str = "candidates.csv") -> Response:
    token = csrf_of(client.get("/screening").text)
    return client.post(
        "/screening/import", data={"csrf_token": token, "site_id": "1"},
        files={"file": (name, content, "text/csv")},
    )  # fmt: skip


def test_the_log_lists_every_decision_with_its_reasons(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    _screened(client, age_years=45)
    html = client.get("/screening").text
    assert "Not eligible" in html and "I2" in html and "not met" in html
    only = client.get("/screening?decision=ineligible").text
    assert only.count('class="badge ineligible"') == 1
    assert 'class="badge eligible"' not in only


def test_an_upload_lists_every_rows_problem_at_once_and_stores_nothing(
    client: TestClient, web_trial: WebTrial
) -> None:
    signed_in(client, COORDINATOR)
    before = _log(web_trial)
    content = _csv([("SC-U1", {"afc": "many"}), ("SC-U2", {}), ("SC-U3", {"sex": "X"})])
    checked = _upload(client, content)
    assert checked.status_code == 422
    problems = checked.text.split('id="upload-problems"')[1]
    rows = re.findall(r'<td class="num">(\d+)</td><td><code>(\w+)</code></td>', problems)
    assert rows == [("1", "afc"), ("3", "sex")]
    assert "2 problems; nothing was stored" in problems
    assert _log(web_trial) == before


def test_a_clean_upload_is_imported_only_on_confirm(
    client: TestClient, web_trial: WebTrial, upload_dir: Path
) -> None:
    signed_in(client, COORDINATOR)
    before = _log(web_trial)
    checked = _upload(client, _csv([("SC-U4", {}), ("SC-U5", {"age_years": 45})]))
    assert checked.status_code == 200
    assert "Import 2 candidates" in checked.text
    assert _log(web_trial) == before  # checked, not stored
    assert len(list(upload_dir.glob("*.csv"))) == 1
    confirmed = _post(client, "/screening/import/confirm", {})
    assert confirmed.headers["location"] == "/screening?imported=2"
    assert len(_log(web_trial)) == len(before) + 2
    assert not list(upload_dir.glob("*.csv"))  # the upload is not kept once imported
    assert "2 candidates imported" in client.get("/screening?imported=2").text
    again = _post(client, "/screening/import/confirm", {})
    assert again.status_code == 409
    assert "no longer kept" in again.text
    assert len(_log(web_trial)) == len(before) + 2


def test_a_huge_or_foreign_upload_is_refused_clearly_before_it_is_read(
    client: TestClient, web_trial: WebTrial, upload_dir: Path
) -> None:
    signed_in(client, COORDINATOR)
    huge = b"candidate_id,afc\n" + b"SC-X,7\n" * (screening.MAX_UPLOAD_BYTES // 7 + 1)
    refused = _upload(client, huge)
    assert refused.status_code == 413
    assert "larger than 4 MB: split it" in refused.text
    sheet = _upload(client, b"PK\x03\x04 not a csv", name="candidates.xlsx")
    assert sheet.status_code == 422
    assert "candidates.xlsx is not a .csv file" in sheet.text
    binary = _upload(client, b"\xff\xfe\x00\x01garbage\x00")
    assert binary.status_code == 422
    assert str(upload_dir) not in binary.text
    assert not list(upload_dir.glob("*.csv"))


def test_uploads_never_wait_in_a_folder_others_may_read(
    client: TestClient, upload_dir: Path
) -> None:
    upload_dir.mkdir(mode=0o777)
    upload_dir.chmod(0o777)  # as another account (or a careless one) might have left it
    signed_in(client, COORDINATOR)
    refused = _upload(client, _csv([("SC-U6", {})]))
    assert refused.status_code == 400 and "is not a private folder" in refused.text
    assert not list(upload_dir.iterdir())


def test_an_upload_without_its_csrf_token_is_refused(client: TestClient) -> None:
    signed_in(client, COORDINATOR)
    answer = client.post("/screening/import", files={"file": ("c.csv", b"candidate_id\n")})
    assert answer.status_code == 403 and "web.csrf" in answer.text


# --- the form helper ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (ItemType.integer, " 31 ", 31),
        (ItemType.integer, "31.5", "31.5"),  # not a whole number: for the services to refuse
        (ItemType.number, "58.5", 58.5),
        (ItemType.number, "1e9", "1e9"),
        (ItemType.number, "3,5", "3,5"),
        (ItemType.boolean, "true", True),
        (ItemType.boolean, "No", False),
        (ItemType.boolean, "maybe", "maybe"),
        (ItemType.date, "2025-10-01", dt.date(2025, 10, 1)),
        (ItemType.date, "yesterday", "yesterday"),
        (ItemType.category, "F", "F"),
        (ItemType.number, "  ", None),
    ],
)
def test_typed_text_becomes_a_value_only_where_it_plainly_is_one(
    kind: ItemType, text: str, value: object
) -> None:
    assert typed_value(kind, text) == value


def test_an_uploads_problems_are_said_in_the_readers_language(
    client: TestClient, web_trial: WebTrial
) -> None:
    """A file-wide problem with a code (a column no item has) is said in Chinese to a Chinese
    reader, its column named as in the file."""
    signed_in(client, COORDINATOR)
    token = csrf_of(client.get("/screening").text)
    client.post("/language", data={"language": "zh_Hans", "csrf_token": token})
    lines = _csv([("SC-U1", {})]).decode().splitlines()
    content = "\n".join([lines[0] + ",shoe_size", lines[1] + ",38"]) + "\n"
    checked = _upload(client, content.encode())
    assert checked.status_code == 422
    problems = checked.text.split('id="upload-problems"')[1]
    assert "列 &#39;shoe_size&#39; 不是方案" in problems and "is not a data item" not in problems


def test_an_uploads_row_problems_are_said_in_the_readers_language(client: TestClient) -> None:
    """A row's bad value (worded by the eligibility engine, not by a code) in Chinese too."""
    signed_in(client, COORDINATOR)
    token = csrf_of(client.get("/screening").text)
    client.post("/language", data={"language": "zh_Hans", "csrf_token": token})
    checked = _upload(client, _csv([("SC-U1", {"afc": "many"}), ("SC-U2", {"sex": "X"})]))
    assert checked.status_code == 422
    problems = checked.text.split('id="upload-problems"')[1]
    assert "第 1 行，列 afc：&#39;many&#39; 不是数字" in problems
    assert "第 2 行，列 sex：&#39;X&#39; 不是 F, M 之一" in problems
    assert "is not" not in problems
