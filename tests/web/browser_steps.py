"""Page steps the real-browser tests share (Debian's headless Chromium, driven by Playwright,
against `endotrial serve`): serve the test database, sign in, screen a candidate on the live
form, record her consent, enrol her and allocate her, each as a person would on the pages."""

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services_helpers import eligible_items
from web_helpers import PASSWORD

#: Answers of an eligible candidate as she picks them (dates are set from the screening date).
SELECTS = {
    name: ("true" if value else "false") if isinstance(value, bool) else str(value)
    for name, value in eligible_items().items()
    if isinstance(value, bool) or name in ("sex", "hiv_ab", "tpa", "hbsag", "hcv_ab")
}
TYPED = {
    name: str(value)
    for name, value in eligible_items().items()
    if isinstance(value, int | float) and not isinstance(value, bool) and name != "age_years"
}


SCREENSHOTS_ENV = "ENDOTRIAL_SCREENSHOTS"
ENDOTRIAL = Path(sys.executable).parent / "endotrial"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_listening(port: int, server: subprocess.Popen[bytes]) -> None:
    """Until the server accepts connections (or has died: then its output says why). Up to
    two minutes: on a loaded machine importing the application alone has taken over 30 s."""
    for _ in range(2400):
        if server.poll() is not None:
            output = server.stdout.read().decode() if server.stdout else ""
            raise AssertionError(f"endotrial serve stopped: {output}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError("endotrial serve did not start listening")


@contextmanager
def served(database_url: str) -> Iterator[str]:
    """`endotrial serve` on a free local port, stopped on leaving; yields its address."""
    port = _free_port()
    command = [str(ENDOTRIAL), "serve", "--db", database_url, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_until_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()


def shots_folder(tmp_path: Path) -> Path:
    """Where screenshots go: the test's folder, or the one ENDOTRIAL_SCREENSHOTS names."""
    target = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(target) if target else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def signed_in(browser: Any, base: str, username: str, errors: list[str]) -> Any:
    """A new wide page in its own context, signed in through the sign-in form; the browser
    console's errors (a CSP violation, a refused form's status) are appended to `errors`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(base + "/sign-in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(base + "/dashboard")
    return page


def screen(page: Any, base: str, candidate: str, screened_on: dt.date, shots: Path) -> int:
    """The form, typed in: I2 turns from unknown to met as her age is typed, a number typed as
    words is refused in place, the decision turns eligible once every item is in; screening
    lands on the screening's page. Returns the screening's id."""
    page.click("nav >> text=Screening")
    page.wait_for_url(base + "/screening")
    page.click("text=Screen a candidate")
    page.wait_for_url(base + "/screening/new")
    page.fill("input[name='items.screening_date']", screened_on.isoformat())
    assert page.get_attribute("#criterion-I2", "data-state") == "unknown"
    page.fill("input[name='items.age_years']", "31")  # before the (required) candidate id
    page.wait_for_selector("#criterion-I2[data-state=pass]")  # live, by htmx
    page.fill("input[name=candidate_ref]", candidate)
    assert "met" in page.inner_text("#criterion-I2 .badge")
    page.fill("input[name='items.afc']", "a few")
    page.wait_for_selector("#error-afc:not([hidden])")
    assert "is not a number" in page.inner_text("#error-afc")
    page.screenshot(path=shots / "screening-form.png", full_page=True)
    for name, value in TYPED.items():
        page.fill(f"input[name='items.{name}']", value)
    for name, value in SELECTS.items():
        page.select_option(f"select[name='items.{name}']", value)
    for name, days_before in (("serology_date", 60), ("normal_cavity_hysteroscopy_date", 30)):
        day = (screened_on - dt.timedelta(days=days_before)).isoformat()
        page.fill(f"input[name='items.{name}']", day)
    page.wait_for_selector("#live-decision.eligible")
    assert page.locator("#error-afc").is_hidden()  # corrected, its message gone
    page.click("text=Screen and record in the log")
    page.wait_for_url(f"{base}/screening/*")
    assert "Eligible" in page.inner_text("#decision")
    return int(page.url.rsplit("/", 1)[1])


def consent_and_enrol(page: Any, study_id: str, on: dt.date, shots: Path) -> None:
    """On the screening's page: her consent (she becomes `study_id`), then her enrolment; the
    allocation step says it is the investigator's decision."""
    page.fill("input[name=form_version]", "v1.0")
    page.fill("input[name=consent_date]", on.isoformat())
    page.click("text=Record the consent")
    page.wait_for_selector(f"text=Consent recorded: she is participant {study_id}.")
    page.fill("input[name=enrolled_on]", on.isoformat())
    page.click("text=Enrol her")
    page.wait_for_selector(r"#enrol >> text=/\(place \d+\)/")
    assert "investigator's decision" in page.inner_text("#allocate")
    page.screenshot(path=shots / "screening-enrol.png", full_page=True)


def allocate(page: Any, base: str, screening_id: int, arm: str, on: dt.date) -> int:
    """The investigator allocates her from the screening's page and lands on her page, which
    shows the arm. Returns her participant id."""
    page.goto(f"{base}/screening/{screening_id}")
    page.select_option("select[name=arm]", arm)
    page.fill("textarea[name=basis]", "Her preference after counselling")
    page.fill("input[name=allocated_on]", on.isoformat())
    page.click("#allocate button[type=submit]")
    page.wait_for_url(f"{base}/participants/*")
    summary = page.inner_text("#summary")
    assert arm in summary and "allocated" in summary, summary
    return int(page.url.split("#", 1)[0].rsplit("/", 1)[1])


def phone_shot(browser: Any, page: Any, url: str, path: Path) -> None:
    """`url` as the signed-in `page` sees it on a 390 px phone: no wider than the screen."""
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True,
        storage_state=page.context.storage_state(),
    )  # fmt: skip
    small = phone.new_page()
    small.goto(url)
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{url} is {width}px wide on a 390px phone"
    small.screenshot(path=path, full_page=True)
    phone.close()
