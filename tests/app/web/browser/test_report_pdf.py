"""The decision report in Debian's Chromium: the page as organisers and a participant see it (screenshots, on
screen and as printed), the PDF the site serves and the one `podium report render` writes (pypdf reads them)."""

from __future__ import annotations

import io
from pathlib import Path

from click.testing import CliRunner
from playwright.sync_api import Browser, Page
from pypdf import PdfReader

from app.cli import main
from app.models import Phase
from app.resources import Resources
from tests.app.web.browser.conftest import screenshot
from tests.fixtures.analysed import PHASE, SLUG, analysed_multisite

REPORT = f"/challenges/{SLUG}/{PHASE}/report"
SECTIONS = 7  # each section of the report starts a page when printed (what was compared ... figures)


def _sign_in(browser: Browser, site: str, token: str) -> Page:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(f"{site}/login")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/**")
    return page


def _pdf_text(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() or "" for page in reader.pages)


def test_the_report_is_printed_to_pdf(site: str, browser: Browser, resources: Resources, tmp_path: Path) -> None:
    analysed = analysed_multisite(resources)
    organiser = _sign_in(browser, site, analysed.tokens["organiser"])
    organiser.goto(site + REPORT)
    assert "Decision report" in organiser.text_content("h1")
    assert organiser.locator("table.metrics tbody tr").count() == 3
    assert organiser.locator("figure.figure img").count() >= 5
    assert organiser.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    screenshot(organiser, "report-organiser")
    organiser.emulate_media(media="print")
    assert not organiser.is_visible("#report-nav")  # no navigation when printed
    screenshot(organiser, "report-organiser-print")

    response = organiser.request.get(site + REPORT + ".pdf")
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    pages, text = _pdf_text(response.body())
    assert pages >= SECTIONS, pages
    for name in ("vendor-a", "Team B", "vendor-c", "What was compared", "Caveats", "reader-1"):
        assert name in text, name

    # The operator's command writes the same report (every entry) without the web process.
    out = tmp_path / "report.pdf"
    result = CliRunner().invoke(main, ["report", "render", SLUG, PHASE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    pages, text = _pdf_text(out.read_bytes())
    assert pages >= SECTIONS and all(name in text for name in ("vendor-a", "Team B", "vendor-c"))
    missing = CliRunner().invoke(main, ["report", "render", SLUG, "no-such-phase", "--out", str(out)])
    assert missing.exit_code != 0 and "no-such-phase" in missing.output

    # Published: a participant's report and PDF hold their own entry only.
    with resources.session() as session:
        phase = session.get(Phase, analysed.phase_id)
        assert phase is not None
        phase.report_published = True
    participant = _sign_in(browser, site, analysed.tokens["vendor-a"])
    participant.goto(site + REPORT)
    assert participant.locator("table.metrics tbody tr").count() == 1
    screenshot(participant, "report-participant")
    response = participant.request.get(site + REPORT + ".pdf")
    assert response.status == 200
    pages, text = _pdf_text(response.body())
    assert pages >= SECTIONS - 1  # no figures section
    assert "vendor-a" in text and "vendor-c" not in text and "Team B" not in text
    organiser.close()
    participant.close()
