"""`podium site ...`: register sites (admins, on the central database) and load a site's cases from the site's own
machine (docs/sites.md)."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.participant import parse_phase
from app.config import Settings, SettingsError


@click.group()
def site() -> None:
    """Sites: hospitals that keep a phase's hidden cases on their own storage (docs/sites.md)."""


@site.command("add")
@click.argument("name")
@click.option("--title", default="", help="What people call it, e.g. 'Radboud UMC, radiology'.")
def site_add(name: str, title: str) -> None:
    """Register site NAME on the central database (PODIUM_DATABASE_URL); a phase's challenge.yaml names it in
    `sites:`, and the site's machine loads its cases with `podium site load-cases`."""
    from app.errors import ServiceError
    from app.resources import Resources
    from app.usecases.site_cases import add_site

    resources = Resources(_settings())
    try:
        with resources.session() as session:
            added = add_site(session, name, title=title)
            text = f"site {added.name} registered" + (f" ({added.title})" if added.title else "")
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        resources.close()
    click.echo(f"{text}; load its cases on its own machine with `podium site load-cases CHALLENGE/PHASE FOLDER "
               f"--site {name}`")


@site.command("list")
def site_list() -> None:
    """The registered sites."""
    from app.resources import Resources
    from app.usecases.site_cases import list_sites

    resources = Resources(_settings())
    try:
        with resources.session() as session:
            lines = [f"{s.name}\t{s.title}".rstrip() for s in list_sites(session)]
    finally:
        resources.close()
    click.echo("\n".join(lines) if lines else "no sites registered (podium site add NAME)")


@site.command("load-cases")
@click.argument("where", metavar="CHALLENGE/PHASE")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--site", "site_name", default=None, help="This site's name (default: PODIUM_SITE).")
def site_load_cases(where: str, folder: Path, site_name: str | None) -> None:
    """Load FOLDER (cases.csv, inputs/, ground_truth/, as a central test set) as this site's cases of a phase.

    Run it on the site's own machine: the files go to the site's storage only (PODIUM_SITE_STORAGE_URL and its
    PODIUM_SITE_S3_* settings); the central database (PODIUM_DATABASE_URL) receives the case ids and the cases.csv
    metadata, never an input or a ground-truth value.
    """
    from app.errors import ServiceError
    from app.queries.phases import get_phase
    from app.resources import Resources
    from app.storage import StorageError
    from app.usecases.site_cases import load_site_cases

    challenge_slug, phase_slug = parse_phase(where)
    settings = _settings()
    name = site_name or settings.site_name
    if not name:
        raise click.UsageError("name this site: --site NAME or PODIUM_SITE")
    resources = Resources(settings)
    try:
        with resources.session() as session:
            phase = get_phase(session, challenge_slug, phase_slug)
            report = load_site_cases(session, resources.site_store, site_name=name, phase=phase, folder=folder)
    except (ServiceError, StorageError) as exc:
        raise click.ClickException(f"{exc}\nNothing was registered.") from None
    finally:
        resources.close()
    click.echo(report.message)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
