"""The `podium` command."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from app.cli import participant, report, site, versions
from app.config import Settings, SettingsError
from app.logs import configure_logging


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def main() -> None:
    """Podium: machine-learning challenges with hidden test sets and sandboxed algorithm containers.

    \b
    Participants: podium login, then
      podium submit CHALLENGE/PHASE ARCHIVE [--wait]
      podium status [SUBMISSION_ID | CHALLENGE/PHASE]
      podium logs SUBMISSION_ID  /  podium cancel SUBMISSION_ID
      podium leaderboard CHALLENGE/PHASE
    Operators run the other commands on the server.
    """
    configure_logging()


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Bring the database to the newest schema (SQLite or PostgreSQL)."""
    from app.db_migrations import current_revision, upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    click.echo(f"database at revision {current_revision(settings.database_url)}")


@main.group()
def challenge() -> None:
    """Challenges as code."""


@challenge.command("apply")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def challenge_apply(path: Path) -> None:
    """Create or update the challenge in PATH (a folder with challenge.yaml) and upload its test set."""
    from app.challenge_yaml import ChallengeSpecError
    from app.resources import Resources
    from app.usecases.apply_challenge import apply_challenge
    from app.usecases.test_set_folder import TestSetError

    resources = Resources(_settings())
    try:
        with resources.session() as session:
            report = apply_challenge(session, resources.store, path)
    except (ChallengeSpecError, TestSetError) as exc:
        raise click.ClickException(f"{exc}\nNothing was changed.") from None
    finally:
        resources.close()
    click.echo(report.summary())


@challenge.command("import-codabench")
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Write the challenge folder here (a new folder; `podium challenge apply` reads it).")
@click.option("--apply", "apply_it", is_flag=True, help="Create or update the challenge in this server's database.")
@click.option("--slug", default=None, help="The challenge's slug (default: from the competition's title).")
@click.option("--base-image", default="podium/python-base:bookworm", show_default=True,
              help="The local image the scoring program runs on (it needs what the program imports).")
def challenge_import_codabench(bundle: Path, out_dir: Path | None, apply_it: bool, slug: str | None,
                               base_image: str) -> None:
    """Import a Codabench competition bundle (.zip with competition.yaml v2 or v1.5) as a challenge.

    Prints what could not be mapped (docs/codabench.md). The scoring program becomes an evaluation image built on
    BASE_IMAGE; nothing is written or applied if the bundle is malformed or the image does not build.
    """
    from app.challenge_yaml import ChallengeSpecError
    from app.errors import ServiceError
    from app.resources import Resources
    from app.tasks.codabench_import import import_codabench
    from app.usecases.test_set_folder import TestSetError
    from runners.docker_runner import DockerRunner

    if out_dir is None and not apply_it:
        raise click.UsageError("say where it goes: --out DIR (a challenge folder), --apply (this server), or both")
    settings = _settings()
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    resources = Resources(settings) if apply_it else None
    try:
        if resources is not None:
            with resources.session() as session:
                result = import_codabench(session, resources.store, runner, bundle, out_dir=out_dir, slug=slug,
                                          base_image=base_image, work_dir=settings.data_dir)
        else:
            result = import_codabench(None, None, runner, bundle, out_dir=out_dir, slug=slug,
                                      base_image=base_image, work_dir=settings.data_dir)
    except (ServiceError, ChallengeSpecError, TestSetError) as exc:
        raise click.ClickException(f"{exc}\nNothing was changed.") from None
    finally:
        runner.client.close()
        if resources is not None:
            resources.close()
    click.echo(result.summary())
    if out_dir is not None:
        click.echo(f"challenge folder: {out_dir} (apply it with `podium challenge apply {out_dir}`)")


@main.group()
def user() -> None:
    """Accounts and API tokens."""


@user.command("create")
@click.argument("username")
@click.option("--admin", is_flag=True, help="Site administrator.")
@click.option("--email", default=None, help="The user's email address (for password resets).")
def user_create(username: str, admin: bool, email: str | None) -> None:
    """Create a user and print an API token for it (shown only once; it expires in 90 days).

    The user signs in on the site with the token, and can set a password there (or, with an email address,
    through "Forgot your password?").
    """
    from app.errors import ServiceError
    from app.resources import Resources
    from app.usecases.users import create_user

    resources = Resources(_settings())
    try:
        with resources.session() as session:
            _, token = create_user(session, username, is_admin=admin, email=email)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        resources.close()
    click.echo(token)


@user.command("token")
@click.argument("username")
@click.option("--name", default="podium user token", show_default=True, help="What the token is for.")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 365),
              help="It expires after this many days.")
def user_token(username: str, name: str, days: int) -> None:
    """Issue an additional API token for USERNAME and print it (its other tokens keep working)."""
    from app.errors import ServiceError
    from app.resources import Resources
    from app.usecases.users import issue_token

    resources = Resources(_settings())
    try:
        with resources.session() as session:
            token = issue_token(session, username, name=name, days=days)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        resources.close()
    click.echo(token)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--gpu", is_flag=True, help="Run only submissions to phases that ask for GPUs (limits.gpus); the "
              "Docker engine needs the NVIDIA container toolkit.")
@click.option("--site", metavar="NAME", help="Run only this site's parts of runs on test sets held at sites, with this "
              "machine's site storage (docs/sites.md); PODIUM_SITE, if set, must name the same site.")
def worker(burst: bool, gpu: bool, site: str | None) -> None:
    """Run an evaluation worker (RQ) that runs submissions in the sandbox and scores them."""
    from app.tasks.worker import run_worker

    settings = _settings()
    if site is not None:
        if gpu:
            raise click.UsageError("--site and --gpu cannot be combined yet")
        if settings.site_name not in (None, site):
            raise click.UsageError(f"--site {site} but PODIUM_SITE={settings.site_name}: a site worker runs one site")
        if settings.site_storage_url is None:
            raise click.UsageError("a site worker needs its site's storage: set PODIUM_SITE_STORAGE_URL "
                                   "(docs/sites.md)")
        settings = dataclasses.replace(settings, site_name=site)
    run_worker(settings, burst=burst, gpu=gpu, site=site)


@main.command()
@click.argument("challenge_slug")
@click.argument("phase_slug")
def analyse(challenge_slug: str, phase_slug: str) -> None:
    """Recompute a phase's statistics now (CIs, rank uncertainty, per-site results, operating points)."""
    from app.pipeline.analysis import analyse_phase
    from app.queries.phases import get_phase
    from app.resources import Resources

    resources = Resources(_settings())
    try:
        with resources.session() as session:
            phase_id = get_phase(session, challenge_slug, phase_slug).id
        analysis = analyse_phase(resources, phase_id)
    finally:
        resources.close()
    click.echo("nothing new to analyse" if analysis is None else f"analysis {analysis.id} stored")


@main.command()
def reconcile() -> None:
    """Repair once what crashes leave behind: expired leases, lost queue entries, orphaned containers."""
    from app.tasks.reconciler import reconcile_once

    report = reconcile_once(_settings())
    click.echo(f"expired leases: {report.expired}; enqueued: {report.enqueued}; "
               f"orphaned containers removed for: {report.orphans_removed}")


@main.command()
@click.option("--host", default=None, help="Default: PODIUM_WEB_HOST or 127.0.0.1.")
@click.option("--port", default=None, type=int, help="Default: PODIUM_WEB_PORT or 5000.")
@click.option("--threads", default=8, show_default=True)
def web(host: str | None, port: int | None, threads: int) -> None:
    """Serve the web site and the REST API (waitress)."""
    from waitress import serve

    from app import create_app

    settings = _settings()
    serve(create_app(settings), host=host or settings.web_host, port=port or settings.web_port,
          threads=threads, max_request_body_size=settings.max_upload_bytes + 1024 * 1024)


@main.command()
@click.argument("where", metavar="CHALLENGE/PHASE | CHALLENGE PHASE")
@click.argument("phase_slug", required=False, metavar="")
@click.option("--sort", default=None, help="Metric to sort by (default: the phase's ranking metric).")
@click.option("--version", "version", default=None, type=click.IntRange(min=1),
              help="A version of the phase's test set (default: the one it ranks on).")
@click.option("--json", "as_json", is_flag=True)
@participant.site_options
def leaderboard(where: str, phase_slug: str | None, sort: str | None, version: int | None, as_json: bool,
                url: str | None, token: str | None) -> None:
    """Print a phase's leaderboard.

    \b
    podium leaderboard CHALLENGE/PHASE
        through the REST API of your site (`podium login`, --url or PODIUM_URL)
    podium leaderboard CHALLENGE PHASE
        from this server's own database (operators, on the server, with its
        PODIUM_* settings; --url and --token do not apply)
    """
    if phase_slug is None:
        if "/" not in where:
            raise click.UsageError("name the phase: CHALLENGE/PHASE (through the API) or CHALLENGE PHASE (the "
                                   "server's database)")
        participant.print_leaderboard(*participant.parse_phase(where), url, token, sort, as_json, version=version)
        return
    if url or token:
        raise click.UsageError("--url and --token go with CHALLENGE/PHASE (through the API); CHALLENGE PHASE reads "
                               "this server's database")
    _database_leaderboard(where, phase_slug, sort, as_json, version)


def _database_leaderboard(challenge_slug: str, phase_slug: str, sort: str | None, as_json: bool,
                          version: int | None = None) -> None:
    from app.cli.leaderboard_text import format_leaderboard
    from app.errors import ServiceError
    from app.queries.costs import Prices
    from app.queries.leaderboard import build_leaderboard
    from app.queries.phases import get_phase
    from app.queries.test_set_versions import version_test_set
    from app.resources import Resources

    resources = Resources(_settings())
    try:
        with resources.session() as session:
            phase = get_phase(session, challenge_slug, phase_slug)
            test_set_id = version_test_set(session, phase, version).id if version is not None else None
            board = build_leaderboard(session, phase, sort, prices=Prices.from_settings(resources.settings),
                                      test_set_id=test_set_id).as_dict()
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        resources.close()
    click.echo(json.dumps(board, indent=2) if as_json else format_leaderboard(board))


@main.command()
@click.argument("challenge_path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Where to write the archives (default: PODIUM_DATA_DIR/baselines).")
def baselines(challenge_path: Path, out_dir: Path | None) -> None:
    """Train, build and save a challenge's baseline algorithm containers as upload-ready archives."""
    from app.cli.baselines import build_baselines
    from runners.docker_runner import DockerRunner

    settings = _settings()
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    for built in build_baselines(challenge_path, out_dir or settings.data_dir / "baselines", runner):
        click.echo(f"{built.name}: {built.archive} ({built.bytes / 1024**2:.1f} MiB)")


@main.command("check-image")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def check_image(archive: Path) -> None:
    """Check an image archive locally the way the platform will before you upload it."""
    from runners.image_archive import InvalidImageArchive, validate_image_archive

    try:
        info = validate_image_archive(archive)
    except InvalidImageArchive as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"ok: {', '.join(info.repo_tags) or 'untagged'} {info.os}/{info.architecture}, "
               f"{info.layer_count} layer(s), {info.uncompressed_bytes / 1024**2:.1f} MiB uncompressed")


@main.command()
@click.option("--challenge-path", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=Path("challenges/breast-cancer-wisconsin"), show_default=True)
@click.option("--keep-web/--stop-web", default=True, show_default=True,
              help="Leave the web site running when the demo ends.")
def demo(challenge_path: Path, keep_web: bool) -> None:
    """Apply the example challenge, submit its baselines through the API, score them, print the leaderboard."""
    from app.cli.demo import run_demo

    run_demo(_settings(), challenge_path, keep_web=keep_web)


for _command in participant.COMMANDS:
    main.add_command(_command)
main.add_command(report.report)  # podium report render (app/cli/report.py)
main.add_command(site.site)  # podium site add|list|load-cases (app/cli/site.py)
for _command in versions.COMMANDS:  # podium challenge versions|use-version|reevaluate|compare (app/cli/versions.py)
    challenge.add_command(_command)
