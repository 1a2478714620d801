"""`podium report render CHALLENGE PHASE`: the phase's decision report (every entry) as PDF or HTML, at the server's
shell (docs/report.md)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def report() -> None:
    """The decision report of a phase (docs/report.md)."""


@report.command("render")
@click.argument("challenge_slug", metavar="CHALLENGE")
@click.argument("phase_slug", metavar="PHASE")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write it (default: CHALLENGE-PHASE-report.pdf, or .html with --html).")
@click.option("--html", "as_html", is_flag=True, help="Write the HTML page instead of printing it to PDF.")
def render(challenge_slug: str, phase_slug: str, out: Path | None, as_html: bool) -> None:
    """Write the phase's decision report with every entry (the organisers' copy), from this server's database
    and stored analysis (PODIUM_* settings); printed to PDF by Chromium."""
    from app import create_app
    from app.config import Settings, SettingsError
    from app.errors import ServiceError
    from app.extensions import db_session, podium
    from app.queries.costs import Prices
    from app.queries.decision_report import NO_ANALYSIS, operator_report
    from app.queries.phases import get_phase
    from app.report_pdf import render_pdf
    from app.web.report import report_page

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    out = out or Path(f"{challenge_slug}-{phase_slug}-report.{'html' if as_html else 'pdf'}")
    app = create_app(settings)
    try:
        with app.test_request_context("/"), db_session() as db:
            found = operator_report(db, podium().resources.store, get_phase(db, challenge_slug, phase_slug),
                                    Prices.from_settings(settings))
            if found.analysis is None:
                raise click.ClickException(NO_ANALYSIS + " Run `podium analyse CHALLENGE PHASE` once a submission "
                                           "is scored.")
            html = report_page(found, for_print=True)
        data = html.encode("utf-8") if as_html else render_pdf(html)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    out.write_bytes(data)
    click.echo(f"{out}: {len(found.rows)} entries, {len(data) / 1024:.0f} KiB")
