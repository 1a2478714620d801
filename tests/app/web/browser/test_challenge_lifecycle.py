"""A challenge's whole life in a real browser (Debian's Chromium driven by Playwright), as its organiser and as two
participants in two teams, each in their own browser context (their own cookies):

the organiser creates the challenge, uploads its test set (in parts, with the progress bar), sets the public/private
split and per-case results, and opens the phase; a participant signs up, joins, forms a team, uploads a real
container archive and watches it reach `succeeded` without reloading, reads their per-case results (public cases
only) and the leaderboard row with its interval; the second team submits too and is refused the first team's
pages; the organiser reads every submission, closes the phase, and the private leaderboard appears, also at phone
width. Screenshots of every key page are kept (tests/app/web/browser/conftest.py says where).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page

from app.config import Settings
from app.resources import Resources
from app.usecases.accounts import hash_password
from app.usecases.users import create_user
from tests.app.web.browser.conftest import screenshot
from tests.conftest import EXAMPLE_CHALLENGE
from tests.integration.helpers import drain_queue

SLUG, PHASE = "vendor-comparison", "test"
PASSWORD = "a long enough passphrase 42"
LIVE_TIMEOUT_MS = 60_000


def _test_set_zip(target: Path) -> tuple[Path, int, int]:
    """The example's hidden test set, as an organiser would zip it, with a public/private split column and a site
    column added to cases.csv; returns the zip, how many cases it has and how many of them are public."""
    source = EXAMPLE_CHALLENGE / "data" / "test"
    with (source / "cases.csv").open(newline="") as handle:
        case_ids = [row["case_id"] for row in csv.DictReader(handle)]
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["case_id", "split", "site"])
    for index, case_id in enumerate(case_ids):
        writer.writerow([case_id, "public" if index % 2 == 0 else "private", "north" if index % 3 else "south"])
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("vendor-test-set/cases.csv", table.getvalue())
        for path in sorted(source.rglob("*")):
            if path.is_file() and path.name != "cases.csv":
                archive.write(path, f"vendor-test-set/{path.relative_to(source).as_posix()}")
    return target, len(case_ids), (len(case_ids) + 1) // 2


def _sign_in(page: Page, site: str, login: str) -> None:
    page.goto(f"{site}/login")
    page.fill("#password-form input[name=login]", login)
    page.fill("#password-form input[name=password]", PASSWORD)
    page.click("#password-form button")
    page.wait_for_selector("#current-user")


def _sign_up(context: BrowserContext, site: str, username: str) -> Page:
    page = context.new_page()
    page.goto(f"{site}/signup")
    page.fill("input[name=username]", username)
    page.fill("input[name=email]", f"{username}@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("main form button.primary")
    page.wait_for_selector("#current-user")
    assert page.text_content("#current-user") == username
    return page


def _join_and_form_a_team(page: Page, site: str, team: str, shot: str | None = None) -> None:
    page.goto(f"{site}/challenges/{SLUG}")
    page.get_by_role("button", name="Join").click()
    page.wait_for_load_state()
    if shot:
        screenshot(page, shot)
    page.goto(f"{site}/challenges/{SLUG}/team")
    page.fill("input[name=name]", team)
    page.get_by_role("button", name="Create the team").click()
    page.wait_for_load_state()
    assert team in page.text_content("main")


def _submit(page: Page, site: str, archive: Path, comment: str) -> int:
    page.goto(f"{site}/challenges/{SLUG}/{PHASE}/submit")
    page.set_input_files("#submit-form input[name=image]", str(archive))
    page.fill("#submit-form input[name=comment]", comment)
    page.click("#submit-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/submissions/\d+$"), timeout=120_000)  # sent in parts, then checked
    return int(page.url.rsplit("/", 1)[1])


def test_a_challenge_from_creation_to_its_private_leaderboard(  # type: ignore[no-untyped-def]
        site: str, browser: Browser, resources: Resources, settings: Settings, baseline_archives,
        tmp_path: Path) -> None:
    with resources.session() as db:
        organiser, _ = create_user(db, "olga", is_admin=True, email="olga@example.org")
        organiser.password_hash = hash_password(PASSWORD)

    # --- the organiser creates the challenge, uploads its test set, sets the split, opens the phase --------------
    olga = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    _sign_in(olga, site, "olga")
    olga.goto(site)
    screenshot(olga, "00-organiser-index")
    olga.get_by_role("link", name="Create a challenge").click()
    olga.fill("#slug", SLUG)
    olga.fill("#title", "Vendor comparison: breast cancer")
    olga.fill("#description", "Three vendors, **one** hidden test set.")
    screenshot(olga, "01-organiser-new-challenge")
    olga.click("#create")
    olga.wait_for_url(f"{site}/challenges/{SLUG}/manage")
    assert "none yet" in olga.text_content(f"#phase-{PHASE}")
    screenshot(olga, "02-organiser-manage")

    test_set, cases, public_cases = _test_set_zip(tmp_path / "vendor-test-set.zip")
    olga.click(f"#test-set-link-{PHASE}")
    olga.set_input_files("#test-set-form input[name=archive]", str(test_set))
    olga.click("#test-set-form button[type=submit]")
    olga.wait_for_selector(".flash", timeout=60_000)
    assert "Test set version 1" in olga.text_content(".flash")
    assert olga.text_content("#case-count") == str(cases)
    screenshot(olga, "03-organiser-test-set")

    olga.goto(f"{site}/challenges/{SLUG}/{PHASE}/edit")
    olga.select_option("#split_column", "split")
    olga.check("#case_results_visible")
    olga.click("#save")
    olga.wait_for_selector(".flash")
    olga.click("#open-now")
    olga.wait_for_selector(".flash")
    assert "open now" in olga.text_content(".flash")
    screenshot(olga, "04-organiser-edit-phase")

    # --- a participant signs up, joins, forms a team, submits and watches it run ---------------------------------
    ines = _sign_up(browser.new_context(viewport={"width": 1280, "height": 900}), site, "ines")
    _join_and_form_a_team(ines, site, "Alpha Imaging", shot="05a-participant-challenge-joined")
    screenshot(ines, "05-participant-team")
    ines.goto(f"{site}/challenges/{SLUG}/{PHASE}/submit")
    screenshot(ines, "05b-participant-submit-page")
    alpha = _submit(ines, site, baseline_archives["logistic-regression"].archive, "logistic regression")
    assert ines.text_content("#state") == "queued"
    screenshot(ines, "06-participant-submission-queued")
    drain_queue(settings)  # the page, untouched, follows its live part to the result
    ines.wait_for_selector("#submission-live[data-state=succeeded]", timeout=LIVE_TIMEOUT_MS)
    screenshot(ines, "07-participant-submission-succeeded")

    ines.reload()  # the link to the per-case results is part of the finished submission's page
    ines.click("#case-results-link")
    rows = ines.locator("table.case-results tbody tr")
    assert rows.count() == public_cases  # the private part's cases stay hidden while the phase runs
    screenshot(ines, "08-participant-case-results")

    ines.goto(f"{site}/challenges/{SLUG}/{PHASE}/leaderboard")
    row = ines.locator("table.leaderboard tbody tr")
    assert row.count() == 1 and "Alpha Imaging" in row.first.text_content()
    assert "[" in row.first.locator("td[data-metric=auroc]").text_content()  # the interval next to the score
    screenshot(ines, "09-participant-leaderboard-public")

    # --- a second team submits; it is refused the first team's pages ---------------------------------------------
    jonas = _sign_up(browser.new_context(viewport={"width": 1280, "height": 900}), site, "jonas")
    _join_and_form_a_team(jonas, site, "Beta Diagnostics")
    _submit(jonas, site, baseline_archives["single-feature"].archive, "one feature")
    for path in (f"/submissions/{alpha}", f"/submissions/{alpha}/live", f"/submissions/{alpha}/cases"):
        answer = jonas.goto(f"{site}{path}")
        assert answer is not None and answer.status == 404, path
    assert "Not found" in jonas.text_content("h1")
    screenshot(jonas, "10-other-team-refused")
    drain_queue(settings)

    # --- the organiser reads every submission, closes the phase: the private leaderboard appears -----------------
    olga.goto(f"{site}/challenges/{SLUG}/{PHASE}/submissions")
    assert olga.locator("table tbody tr").count() == 2
    with olga.expect_download() as download:
        olga.click("#cases-csv")
    table = Path(download.value.path()).read_text()
    assert table.startswith("submission_id,") and table.count("\n") > cases  # every case of both submissions
    screenshot(olga, "11-organiser-phase-submissions")
    olga.goto(f"{site}/challenges/{SLUG}/{PHASE}/edit")
    olga.click("#close-now")
    olga.wait_for_selector(".flash")
    drain_queue(settings)  # closing queued the analysis of the private part
    for page in (olga, ines):
        page.goto(f"{site}/challenges/{SLUG}/{PHASE}/leaderboard")
        text = page.text_content("main")
        assert "Final scores on the private part" in text and "being computed" not in text
        names = page.locator("table.leaderboard tbody tr").all_text_contents()
        assert len(names) == 2 and any("Alpha Imaging" in n for n in names) and any("Beta" in n for n in names)
        assert all("[" in cell for cell in page.locator("td[data-metric=auroc]").all_text_contents())
    screenshot(ines, "12-leaderboard-private")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    phone.goto(f"{site}/challenges/{SLUG}/{PHASE}/leaderboard")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # nothing wider than the screen
    screenshot(phone, "13-leaderboard-phone")
    phone.goto(f"{site}/challenges/{SLUG}/{PHASE}/analysis")
    screenshot(phone, "14-analysis-phone")
    olga.goto(f"{site}/challenges/{SLUG}/{PHASE}/analysis")
    screenshot(olga, "15-analysis")
