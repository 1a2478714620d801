"""The submission page of a phase held at sites, in Chromium, while one site's part waits for its worker (the site
offline): the page says which site is awaited and keeps polling; the organisers' test set page lists the sites.
Screenshots: site-parts-participant, site-parts-organiser, site-phase-test-set."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page

from app.resources import Resources
from tests.app.web.browser.conftest import screenshot
from tests.fixtures.site_parts import mixed_parts, site_phase, submission_with_parts


def _signed_in(browser: Browser, site: str, token: str) -> Page:
    page = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
    page.goto(f"{site}/login")
    page.fill("#token-form input[name=token]", token)
    page.click("#token-form button")
    page.wait_for_selector("#current-user")
    return page


def test_the_submission_page_says_which_site_is_awaited(site: str, browser: Browser, resources: Resources,
                                                        tmp_path: Path) -> None:
    with resources.session() as session:
        world = site_phase(session, resources.store, tmp_path)
        submission_id = submission_with_parts(session, world, mixed_parts()).id
        tokens = dict(world.tokens)

    lab = _signed_in(browser, site, tokens["lab"])
    lab.goto(f"{site}/submissions/{submission_id}")
    row = lab.locator("#site-part-site-b")
    assert "waiting for site-b's worker" in row.inner_text()
    assert "(the site may be offline; its part runs when it returns)" in row.inner_text()
    assert lab.locator("#submission-live").get_attribute("hx-get")  # still polling: the part may run any minute
    assert "0.812" not in lab.inner_text("main")
    screenshot(lab, "site-parts-participant")

    lead = _signed_in(browser, site, tokens["lead"])
    lead.goto(f"{site}/submissions/{submission_id}")
    assert "auroc 0.812" in lead.locator("#site-part-site-a").inner_text()
    screenshot(lead, "site-parts-organiser")
    lead.goto(f"{site}/challenges/sites-demo/test/test-set")
    assert lead.locator("#phase-site-site-b td.pending").inner_text() == "1"
    screenshot(lead, "site-phase-test-set")
