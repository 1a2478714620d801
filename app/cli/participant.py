"""The participant's commands: login, logout, submit, status, logs, cancel and the leaderboard through the REST API.

Each talks to a Podium site through app.cli.client with the site and token that app.cli.config finds (--url and
--token, then PODIUM_URL and PODIUM_TOKEN, then the file `podium login` wrote). An API error is shown as the
API's message and exits 1; nothing here shows a traceback for a refusal or an unreachable site.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlparse

import click

from app.cli.config import (
    LOCAL_SITE,
    URL_VARIABLE,
    ConfigError,
    config_path,
    normalise_url,
    read_config,
    remove_config,
    resolve,
    write_config,
)

if TYPE_CHECKING:
    from app.cli.client import PodiumClient

F = TypeVar("F", bound=Callable[..., Any])
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def site_options(command: F) -> F:
    """--url and --token, as every participant's command takes them."""
    command = click.option("--token", default=None,
                           help="A personal API token (default: PODIUM_TOKEN, then the one `podium login` stored; "
                                "that one is sent only to its own site).")(command)
    return click.option("--url", default=None,
                        help="The Podium site (default: PODIUM_URL, then the one `podium login` stored, then "
                             "PODIUM_PUBLIC_URL, then http://127.0.0.1:5000).")(command)


def parse_phase(value: str) -> tuple[str, str]:
    """'challenge/phase' as its two slugs."""
    challenge, _, phase = value.partition("/")
    if not challenge or not phase or "/" in phase:
        raise click.BadParameter(f"{value!r}: name the phase as CHALLENGE/PHASE, e.g. breast-cancer-wisconsin/test")
    return challenge, phase


def client_for(url: str | None, token: str | None, *, need_token: bool = True) -> PodiumClient:
    from app.cli.client import PodiumClient

    try:
        credentials = resolve(url, token, need_token=need_token)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    return PodiumClient(credentials.url, credentials.token)


@contextmanager
def api_errors(not_found: str | None = None) -> Iterator[None]:
    """A refusal or an unreachable site as the API's message (exit code 1), never a traceback; `not_found` is
    added to a 404's message."""
    from app.cli.client import PodiumClientError

    try:
        yield
    except PodiumClientError as exc:
        message = str(exc)
        if exc.submission_id is not None:
            message += f"\n(the upload was kept as failed submission {exc.submission_id}; it takes no place)"
        if exc.status == 404 and not_found:
            message += f"\n{not_found}"
        if exc.status == 401:
            message += "\nRun `podium login` to store a valid token."
        raise click.ClickException(message) from None


# --- login and logout ---------------------------------------------------------------------------------------------

@click.command()
@click.option("--url", default=None, help=f"The site's address (default: {URL_VARIABLE}, the stored one, or asked).")
@click.option("--token", default=None,
              help="A personal API token from the site's Tokens page (default: asked for, without echo).")
def login(url: str | None, token: str | None) -> None:
    """Store the site's address and your API token for the other commands.

    The token is checked with the site first; a refused token is not stored. The file is
    $XDG_CONFIG_HOME/podium/config.toml (or ~/.config/podium/config.toml), readable by you only.
    """
    from app.cli.client import PodiumClient, PodiumClientError

    path = config_path()
    try:
        stored = read_config(path)
    except ConfigError:
        stored = {}  # a broken file is replaced
    given = url or os.environ.get(URL_VARIABLE, "").strip() or stored.get("url") \
        or click.prompt("Podium site", default=LOCAL_SITE)
    try:
        site = normalise_url(given)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    secret = (token or click.prompt("API token (from the site's Tokens page)", hide_input=True)).strip()
    if not secret:
        raise click.ClickException("no token given; nothing was stored")
    try:
        PodiumClient(site, secret).tokens()
    except PodiumClientError as exc:
        refused = f"{site} refused the token: " if exc.status == 401 else ""
        raise click.ClickException(f"{refused}{exc}\nNothing was stored.") from None
    write_config(path, site, secret)
    click.echo(f"logged in to {site}; the token works and is stored in {path} (readable by you only)")
    host = urlparse(site).hostname or ""
    if site.startswith("http://") and host not in LOOPBACK:
        click.echo(f"warning: {site} is plain HTTP: the token travels unencrypted", err=True)


@click.command()
def logout() -> None:
    """Forget the stored site and token (the token keeps working until it expires or you revoke it on the site)."""
    path = config_path()
    if remove_config(path):
        click.echo(f"logged out: removed {path}. The token itself works until it expires; revoke it on the site's "
                   "Tokens page if it may have leaked.")
    else:
        click.echo(f"not logged in (there is no {path})")


# --- submit -------------------------------------------------------------------------------------------------------

@click.command()
@click.argument("arguments", nargs=-1, required=True, metavar="CHALLENGE/PHASE ARCHIVE")
@click.option("--challenge", "challenge_slug", default=None, help="The older form: --challenge C --phase P ARCHIVE.")
@click.option("--phase", "phase_slug", default=None, help="With --challenge.")
@site_options
@click.option("--comment", default="", help="A note kept with the submission (up to 500 characters).")
@click.option("--wait/--no-wait", default=False,
              help="Follow it to its scores or failure message (exit code 0: succeeded; 1: failed or cancelled).")
@click.pass_context
def submit(ctx: click.Context, arguments: tuple[str, ...], challenge_slug: str | None, phase_slug: str | None,
           url: str | None, token: str | None, comment: str, wait: bool) -> None:
    """Upload an algorithm image archive (docker save IMAGE | gzip > ARCHIVE) to a phase.

    \b
    podium submit breast-cancer-wisconsin/test algorithm.tar.gz --wait
    podium submit --challenge breast-cancer-wisconsin --phase test algorithm.tar.gz

    The archive is streamed from disk with a progress bar (on a terminal); the site checks it before it
    queues it. `podium check-image ARCHIVE` runs the same checks locally first.
    """
    if challenge_slug or phase_slug:
        if not (challenge_slug and phase_slug) or len(arguments) != 1:
            raise click.UsageError("the older form is: podium submit --challenge C --phase P ARCHIVE")
        challenge, phase, archive_arg = challenge_slug, phase_slug, arguments[0]
    else:
        if len(arguments) != 2:
            raise click.UsageError("name the phase and the archive: podium submit CHALLENGE/PHASE ARCHIVE")
        (challenge, phase), archive_arg = parse_phase(arguments[0]), arguments[1]
    archive: Path = click.Path(exists=True, dir_okay=False, path_type=Path).convert(archive_arg, None, ctx)
    client = client_for(url, token)
    with api_errors():
        submission = _upload(client, challenge, phase, archive, comment)
        click.echo(f"submission {submission['id']}: {submission['state']}")
        if not wait:
            click.echo(f"(`podium status {submission['id']}` shows how it goes; --wait follows it)")
            return
        state = _follow(client, submission["id"], already=submission["state"])
    ctx.exit(0 if state == "succeeded" else 1)


def _upload(client: PodiumClient, challenge: str, phase: str, archive: Path, comment: str) -> dict[str, Any]:
    from tqdm import tqdm

    with tqdm(total=archive.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr,
              desc=f"uploading {archive.name}", disable=None, dynamic_ncols=True) as bar:  # disable=None: no tty
        return client.submit(challenge, phase, archive, comment=comment, progress=bar.update)


def _follow(client: PodiumClient, submission_id: int, already: str | None = None) -> str:
    """Print each state change until a final state, then the scores or the failure message; the final state."""
    from app.cli.submission_text import failure_lines, scores_lines

    submission: dict[str, Any] = {}
    try:
        for submission in client.follow(submission_id):
            if submission["state"] != already:
                click.echo(f"submission {submission_id}: {submission['state']}")
    except KeyboardInterrupt:
        click.echo(f"\nstopped following; submission {submission_id} goes on (`podium status {submission_id}`)",
                   err=True)
        raise click.exceptions.Exit(130) from None
    for line in scores_lines(submission):
        click.echo(line)
    for line in failure_lines(submission):
        click.echo(line, err=True)
    state: str = submission["state"]
    return state


# --- status, logs, cancel -----------------------------------------------------------------------------------------

@click.command()
@click.argument("target", required=False, metavar="[SUBMISSION_ID | CHALLENGE/PHASE]")
@site_options
@click.option("--json", "as_json", is_flag=True, help="The API's answers as JSON.")
def status(target: str | None, url: str | None, token: str | None, as_json: bool) -> None:
    """A submission's state, scores and failure message; or your (your team's) submissions in a phase and the
    limits you have left there; without an argument, the site and token in use and whether the site accepts it."""
    from app.cli.submission_text import limits_text, submission_text, submissions_table

    if target is None:
        _login_status(url, token)
        return
    client = client_for(url, token)
    if target.isdigit():
        with api_errors():
            submission = client.submission(int(target))
        click.echo(json.dumps(submission, indent=2) if as_json else submission_text(submission))
        return
    if "/" not in target:
        raise click.BadParameter(f"{target!r}: give a submission id or CHALLENGE/PHASE", param_hint="TARGET")
    challenge, phase = parse_phase(target)
    with api_errors():
        submissions = client.submissions(challenge, phase)
        limits = client.limits(challenge, phase)
        if as_json:
            click.echo(json.dumps({"submissions": submissions, "limits": limits}, indent=2))
            return
        phases = {p["slug"]: p for p in client.challenge(challenge)["phases"]}
    ranking = phases.get(phase, {}).get("ranking", {}).get("metric")
    click.echo(submissions_table(challenge, phase, submissions, ranking))
    click.echo(limits_text(limits))
    if submissions:
        click.echo("(`podium status ID` shows one submission's scores and failure message)")


def _login_status(url: str | None, token: str | None) -> None:
    from app.cli.client import PodiumClient

    try:
        credentials = resolve(url, token)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"site:  {credentials.url} (from {credentials.url_from})")
    click.echo(f"token: from {credentials.token_from}")
    with api_errors():
        tokens = PodiumClient(credentials.url, credentials.token).tokens()
    click.echo(f"the site accepts the token ({len(tokens)} active token(s) of yours)")


@click.command()
@click.argument("submission_id", type=click.IntRange(min=1))
@click.option("--stream", type=click.Choice(["stdout", "stderr"]), default="stdout", show_default=True,
              help="Which of the container's logs.")
@site_options
def logs(submission_id: int, stream: str, url: str | None, token: str | None) -> None:
    """Print a submission's container log, where the phase shows participants their logs (most phases show
    only the failure message: a container could print the hidden inputs)."""
    client = client_for(url, token)
    with api_errors(not_found=f"(`podium status {submission_id}` shows its state and failure message)"):
        text = client.log(submission_id, stream)
    if not text:
        click.echo(f"(the container wrote nothing to {stream})", err=True)
        return
    click.echo(text, nl=not text.endswith("\n"))


@click.command()
@click.argument("submission_id", type=click.IntRange(min=1))
@site_options
def cancel(submission_id: int, url: str | None, token: str | None) -> None:
    """Cancel an unfinished submission (yours, or, for organisers, any of the challenge's)."""
    client = client_for(url, token)
    with api_errors():
        submission = client.cancel(submission_id)
    click.echo(f"submission {submission['id']}: {submission['state']}")


# --- leaderboard --------------------------------------------------------------------------------------------------

def print_leaderboard(challenge: str, phase: str, url: str | None, token: str | None, sort: str | None,
                      as_json: bool, *, version: int | None = None) -> None:
    """A phase's leaderboard through the REST API (no token needed; a stored one is sent to its own site); version:
    of the phase's test set (None: the one it ranks on)."""
    from app.cli.leaderboard_text import format_leaderboard

    client = client_for(url, token, need_token=False)
    with api_errors():
        board = client.leaderboard(challenge, phase, sort, version=version)
    click.echo(json.dumps(board, indent=2) if as_json else format_leaderboard(board))


COMMANDS = (login, logout, submit, status, logs, cancel)
