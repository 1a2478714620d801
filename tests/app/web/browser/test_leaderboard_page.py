"""The web UI in a real browser (Debian's Chromium driven by Playwright): sign in, upload a container
through the form, watch it reach its result without reloading, and read the leaderboard."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser

from app.config import Settings
from app.resources import Resources
from tests.app.web.browser.conftest import screenshot
from tests.integration.helpers import CHALLENGE, PHASE, apply_example, drain_queue, make_user


def test_upload_by_form_and_read_the_leaderboard(site: str, browser: Browser, resources: Resources,
                                                 settings: Settings, baseline_archives) -> None:  # type: ignore[no-untyped-def]
    apply_example(resources)
    token = make_user(resources, "form-user")
    page = browser.new_page()
    page.goto(f"{site}/challenges/{CHALLENGE}")
    assert "Breast cancer diagnosis" in page.text_content("h1")
    page.get_by_role("link", name="Submit an algorithm").click()
    page.wait_for_url(f"{site}/login**")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/challenges/{CHALLENGE}/{PHASE}/submit")

    archive: Path = baseline_archives["logistic-regression"].archive
    page.set_input_files("input[name=image]", str(archive))
    page.fill("input[name=comment]", "from the browser")
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/submissions/*", timeout=120_000)
    assert page.text_content("#state") == "queued"
    assert page.is_visible("#live-note")
    screenshot(page, "submission-queued")

    drain_queue(settings)  # the page, untouched, polls its live part and shows the result
    page.wait_for_selector("#submission-live[data-state=succeeded]", timeout=30_000)
    assert page.text_content("#state") == "succeeded"
    assert page.locator("#submission-live table td").first.text_content() == "auroc"  # the scores came in too
    assert not page.is_visible("#live-note") and page.get_attribute("#submission-live", "hx-get") is None

    page.goto(f"{site}/challenges/{CHALLENGE}/{PHASE}/leaderboard")
    rows = page.locator("table.leaderboard tbody tr")
    assert rows.count() == 1
    assert "form-user" in rows.first.text_content()
    auroc_cell = rows.first.locator("td[data-metric=auroc]").text_content()
    assert "[" in auroc_cell  # the confidence interval is shown next to the score
    page.close()


def test_a_wrong_token_is_refused_in_the_form(site: str, browser: Browser, resources: Resources) -> None:
    page = browser.new_page()
    page.goto(f"{site}/login")
    page.fill("input[name=token]", "pod_wrong")
    page.click("button[type=submit]")
    page.wait_for_selector(".flash")
    assert "not valid" in page.text_content(".flash")
    page.close()
