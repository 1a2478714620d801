"""The decision report of a phase (docs/report.md): an HTML page made to be printed, and the same page as a PDF
printed by Chromium (app/report_pdf.py). Who reads which rows: app/queries/decision_report.py."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.extensions import db_session, podium
from app.queries.costs import Prices
from app.queries.decision_report import NO_ANALYSIS, DecisionReport, decision_report
from app.queries.phases import get_phase
from app.report_pdf import render_pdf
from app.web import _logged_in_user, web
from app.web.sessions import signed_in


def report_page(report: DecisionReport, *, for_print: bool) -> str:
    """The report's HTML: one self-contained document (styles and figures inline). `for_print`: without the
    site's links (the PDF, `podium report render`)."""
    phase = report.phase
    pdf_url = None if for_print else url_for("web.report_pdf", slug=phase.challenge.slug, phase_slug=phase.slug)
    return render_template("report.html", report=report, phase=phase, for_print=for_print, pdf_url=pdf_url)


@web.get("/challenges/<slug>/<phase_slug>/report")
@signed_in
def report(slug: str, phase_slug: str) -> ResponseReturnValue:
    with db_session() as db:
        return report_page(_viewers_report(db, slug, phase_slug), for_print=False)


def _viewers_report(db: Session, slug: str, phase_slug: str) -> DecisionReport:
    """The phase's report as the signed-in viewer may read it (the use case refuses who may not)."""
    viewer = _logged_in_user(db)
    assert viewer is not None  # @signed_in
    return decision_report(db, podium().resources.store, get_phase(db, slug, phase_slug), viewer,
                           Prices.from_settings(podium().resources.settings))


@web.get("/challenges/<slug>/<phase_slug>/report.pdf")
@signed_in
def report_pdf(slug: str, phase_slug: str) -> ResponseReturnValue:
    with db_session() as db:
        found = _viewers_report(db, slug, phase_slug)
        if found.analysis is None:
            raise NotFound(NO_ANALYSIS)
        html = report_page(found, for_print=True)
    pdf = render_pdf(html)  # a bounded child process (app/report_pdf.py), after the database session is closed
    disposition = "inline" if request.args.get("inline") == "1" else "attachment"
    return pdf, 200, {"Content-Type": "application/pdf", "Cache-Control": "no-store",
                      "Content-Disposition": f'{disposition}; filename="{slug}-{phase_slug}-report.pdf"'}
