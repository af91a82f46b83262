"""Issue 10 end to end in a real browser: Debian's headless Chromium, driven by Playwright,
against `endotrial serve` started by the test on a free port. A coordinator signs in, reads
the dashboard and a participant's timeline (htmx re-dates it), switches to Chinese, and signs
out; no page breaks the Content-Security-Policy. Screenshots go to the test's folder, or to
docs/web/ with ENDOTRIAL_SCREENSHOTS=docs/web."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_steps import SCREENSHOTS_ENV, served
from services_helpers import COORDINATOR, INVESTIGATOR, MONITOR, SAFETY_BOARD
from web_helpers import PASSWORD, WebTrial

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

if not CHROMIUM.exists():
    reason = f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
    pytestmark = pytest.mark.skip(reason=reason)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def server(web_trial: WebTrial, database_url: str) -> Iterator[str]:
    """`endotrial serve` on the test's database, on a free port of the loopback."""
    with served(database_url) as address:
        yield address


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(target) if target else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# The browser runs on SQLite only: the HTTP tests cover PostgreSQL.
@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_a_coordinator_reads_her_trial_in_english_and_chinese(
    server: str, web_trial: WebTrial, shots: Path
) -> None:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            _walk_through(browser, server, web_trial, shots)
        finally:
            browser.close()


def _walk_through(browser: object, base: str, web_trial: WebTrial, shots: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")  # type: ignore[attr-defined]
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)

    page.goto(base + "/dashboard")
    assert page.url.startswith(base + "/sign-in")
    page.fill("input[name=username]", COORDINATOR)
    page.fill("input[name=password]", PASSWORD)
    page.screenshot(path=shots / "sign-in.png")
    page.click("button.primary")
    page.wait_for_url(base + "/dashboard")
    assert page.locator("#enrolment").inner_text().count("1 of 60 enrolled") == 1
    page.screenshot(path=shots / "dashboard.png", full_page=True)

    page.click("nav >> text=Participants")
    page.click("text=GZ6-001")
    page.wait_for_url(f"{base}/participants/{web_trial.home_participant}")
    timeline = page.locator("#timeline")
    assert "Treatment cycle day 1" in timeline.inner_text()
    assert page.locator("#timeline .event.done").count() >= 1
    page.fill("input[name=on]", "2025-10-07")  # htmx swaps the timeline as of that day
    page.wait_for_selector("text=As of Oct 7, 2025")
    assert page.locator("#timeline .badge.not_yet_due").count() >= 1
    page.screenshot(path=shots / "participant.png", full_page=True)

    page.click("button[value=zh_Hans]")
    page.wait_for_selector("text=时间线")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert "已完成" in page.locator("#timeline").inner_text()
    page.screenshot(path=shots / "participant-zh.png", full_page=True)

    phone = browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 390, "height": 844}, device_scale_factor=1, is_mobile=True,
        storage_state=context.storage_state(),
    )  # fmt: skip
    small = phone.new_page()
    small.goto(base + "/dashboard")
    assert "总览" in small.inner_text("h1")
    width = small.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the dashboard is {width}px wide on a 390px phone"
    small.screenshot(path=shots / "dashboard-phone-zh.png", full_page=True)
    small.goto(f"{base}/participants/{web_trial.home_participant}")
    small.screenshot(path=shots / "participant-phone-zh.png", full_page=True)
    phone.close()

    page.click("text=退出登录")
    page.wait_for_url(base + "/sign-in")
    assert "用户名" in page.inner_text("form.stack")
    page.goto(base + "/dashboard")
    assert page.url.startswith(base + "/sign-in")  # signed out for good
    assert not refused, f"the browser reported errors (a CSP violation?): {refused}"
    context.close()


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_the_safety_board_reads_the_interim_safety_monitoring(
    server: str, web_trial: WebTrial, shots: Path
) -> None:
    """Issue 11: the safety board follows the nav's link to /safety and reads the counts."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-GB")
            refused: list[str] = []
            page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
            page.goto(server + "/sign-in")
            page.fill("input[name=username]", SAFETY_BOARD)
            page.fill("input[name=password]", PASSWORD)
            page.click("button.primary")
            page.wait_for_url(server + "/dashboard")
            page.click("nav >> text=Safety monitoring")
            page.wait_for_url(server + "/safety")
            cells = page.locator("#arm-control td").all_inner_texts()
            assert cells == ["Control group", "1", "1", "1"]  # her serious hematoma
            assert "Data cut-off" in page.locator("#cut-off").inner_text()
            page.screenshot(path=shots / "safety.png", full_page=True)
            assert not refused, f"the browser reported errors (a CSP violation?): {refused}"
        finally:
            browser.close()


@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
def test_a_query_is_raised_answered_closed_and_her_data_signed_off(
    server: str, web_trial: WebTrial, shots: Path
) -> None:
    """The monitor raises a query on a field of her records, the coordinator finds it in her
    inbox and answers, the monitor closes it, and the investigator signs her data off with
    her password (an electronic signature, shown on her page)."""
    home = web_trial.home_participant
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            monitor = _signed_in_page(browser, server, MONITOR)
            monitor.goto(f"{server}/participants/{home}")
            monitor.select_option("select[name=target]", f"participants:{home}:arm")
            monitor.fill("#raise-query textarea[name=text]", "Arm as on the allocation form?")
            monitor.click("text=Raise the query")
            monitor.wait_for_url(f"{server}/participants/{home}#query-*")
            raised = int(monitor.url.rsplit("#query-", 1)[1])

            site = _signed_in_page(browser, server, COORDINATOR)
            site.click("nav >> text=Queries")
            site.wait_for_url(server + "/queries")
            assert site.locator("#query-rows tbody tr").count() == 2
            site.click(f"a[href='/participants/{home}#query-{raised}']")
            pending = _pending_queries(site)
            assert raised in pending and len(pending) == 2
            for query in pending:
                site.fill(f"#query-{query} textarea[name=answer]", "Checked against the source")
                site.click(f"#query-{query} >> text=Answer the query")
                site.wait_for_selector(f"#query-{query} .badge.answered")
            for query in pending:
                monitor.goto(f"{server}/participants/{home}")
                monitor.fill(f"#query-{query} input[name=note]", "Verified at the visit")
                monitor.click(f"#query-{query} >> text=Close the query")
                monitor.wait_for_selector(f"#query-{query} .badge.closed")

            pi = _signed_in_page(browser, server, INVESTIGATOR)
            pi.goto(f"{server}/participants/{home}")
            pi.select_option("#sign-off select[name=meaning]", "approval")
            pi.fill("#sign-off input[name=password]", PASSWORD)
            pi.click("text=Sign off and lock")
            pi.wait_for_selector("text=Electronically signed by PI1 (pi1)")
            assert "I approve these data" in pi.locator("#sign-off").inner_text()
            pi.locator("#sign-off").screenshot(path=shots / "sign-off.png")
        finally:
            browser.close()


def _signed_in_page(browser: object, base: str, username: str) -> object:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="en-GB")  # type: ignore[attr-defined]
    page.goto(base + "/sign-in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(base + "/dashboard")
    return page


def _pending_queries(page: object) -> list[int]:
    """The queries on her page still to answer (open ones)."""
    ids = page.locator("#queries li:has(.badge.open)").evaluate_all(  # type: ignore[attr-defined]
        "items => items.map(li => li.id)"
    )
    return [int(i.removeprefix("query-")) for i in ids]


def test_chromium_is_debians_and_fonts_for_chinese_are_installed() -> None:
    """Chinese text renders as glyphs, not boxes, only with a CJK font (fonts-noto-cjk)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        pytest.skip("fontconfig's fc-list is missing")
    fonts = subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True, check=True)
    assert fonts.stdout.strip(), "no font covers Chinese: apt-get install -y fonts-noto-cjk"
