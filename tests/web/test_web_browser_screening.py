"""Issue 10's screening pages in a real browser (Debian's headless Chromium, driven by
Playwright, against `endotrial serve`), for what the one continuous journey of
test_web_browser_records.py (screened on the live form, consented, enrolled, allocated and
followed to a clinical pregnancy) does not cover: the form and the log fit a 390 px phone, the
criteria staying in sight at the foot of the screen while she types; the screening log checks
an uploaded CSV and lists all its problems at once, storing nothing. No page breaks the
Content-Security-Policy. Screenshots, wide and phone-sized, go to the test's folder, or to
docs/web/ with ENDOTRIAL_SCREENSHOTS=docs/web."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_steps import served, shots_folder, signed_in
from services_helpers import COORDINATOR
from test_web_browser import CHROMIUM, CHROMIUM_ARGS, sync_api
from web_helpers import WebTrial

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
    pytestmark = pytest.mark.skip(reason=reason)


@pytest.fixture
def server(web_trial: WebTrial, database_url: str) -> Iterator[str]:
    with served(database_url) as base:
        yield base


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return shots_folder(tmp_path)


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_the_screening_pages_fit_a_phone_and_a_bad_upload_is_listed(
    server: str, shots: Path, tmp_path: Path
) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            errors: list[str] = []
            coordinator = signed_in(browser, server, COORDINATOR, errors)
            _phone_shots(browser, coordinator, server, shots)
            _upload(coordinator, server, tmp_path, shots, errors)
            assert not errors, f"the browser reported errors (a CSP violation?): {errors}"
        finally:
            browser.close()


def _upload(page: Any, base: str, folder: Path, shots: Path, errors: list[str]) -> None:
    """A CSV with bad values in rows 2 and 3 and an unknown column: all listed at once, nothing
    stored (the page answers 422, which the browser's console reports: expected here)."""
    names = ["candidate_id", "age_years", "afc", "sex", "favourite_colour"]
    rows = ["SC-CSV1,31,10,F,blue", "SC-CSV2,thirty,10,F,red", "SC-CSV3,29,9,X,green"]
    file = folder / "candidates.csv"
    file.write_text("\n".join([",".join(names), *rows]) + "\n")
    page.goto(base + "/screening")
    page.set_input_files("input[name=file]", str(file))
    page.click("text=Check the file")
    page.wait_for_selector("#upload-problems")
    errors.remove(
        "Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    )
    problems = page.inner_text("#upload-problems")
    assert "favourite_colour" in problems and "age_years" in problems and "sex" in problems
    page.screenshot(path=shots / "screening-log.png", full_page=True)


def _phone_shots(browser: Any, page: Any, base: str, shots: Path) -> None:
    """Both pages fit a 390 px phone; on the form the criteria stay in sight at the foot of
    the screen while she types (the screenshot is of the screen, not the whole page)."""
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True,
        storage_state=page.context.storage_state(),
    )  # fmt: skip
    small = phone.new_page()
    for path in ("/screening/new", "/screening"):
        small.goto(base + path)
        width = small.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide on a 390px phone"
        if path == "/screening":
            small.screenshot(path=shots / "screening-log-phone.png", full_page=True)
            continue
        assert small.get_attribute("#criterion-I2", "data-state") == "unknown"
        small.fill("input[name='items.age_years']", "31")
        small.wait_for_selector("#criterion-I2[data-state=pass]")
        assert small.locator("#criterion-I2").is_visible()  # pinned at the foot of the screen
        small.screenshot(path=shots / "screening-form-phone.png")
    phone.close()
