"""`podium demo`: the whole path on real parts, end to end.

Applies the example challenges, builds their baseline containers, starts the web site (if it is not
already up), forms a team of two participants, submits each baseline as a different participant (one of
them for the team) through the REST API, runs a worker until they are scored, and prints the leaderboards
and the site's URL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click
import requests

from app.cli.baselines import build_baselines
from app.cli.client import PodiumClient, PodiumClientError
from app.cli.leaderboard_text import format_leaderboard
from app.config import Settings
from app.db_migrations import upgrade
from app.errors import Conflict
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from app.usecases.users import create_user, issue_token
from runners.docker_runner import DockerRunner

# Each example's good baseline is submitted by radboud-ai-lab, its weak one by acme-vendor.
DEMO_PARTICIPANTS = {"logistic-regression": "radboud-ai-lab", "single-feature": "acme-vendor",
                     "window-and-largest-component": "radboud-ai-lab", "fixed-threshold": "acme-vendor",
                     "lesion-candidates": "radboud-ai-lab", "psa-density": "acme-vendor"}
# radboud-ai-lab competes as a team with a colleague, who never submits but shares the team's row and limits.
DEMO_TEAM = ("radboud-ai-lab", "Radboud AI", "radboud-colleague")
MULTISITE = Path("challenges/breast-multisite")
# The other examples, applied after the one asked for: three sites of tabular data, then images (a batch-mode
# segmentation challenge and a per-case, grand-challenge-compatible detection challenge).
MORE_EXAMPLES = (MULTISITE, Path("challenges/spleen-ct-segmentation"), Path("challenges/prostate-mri-detection"))


def run_demo(settings: Settings, challenge_path: Path, *, keep_web: bool = True) -> None:
    started = time.monotonic()
    upgrade(settings.database_url)
    resources = Resources(settings)
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    challenge_paths = [challenge_path] + [p for p in MORE_EXAMPLES if p.is_dir() and p != challenge_path]
    plans = []
    for path in challenge_paths:
        with resources.session() as session:
            report = apply_challenge(session, resources.store, path)
        click.echo(report.summary())
        built = build_baselines(path, settings.data_dir / "baselines" / report.slug, runner)
        plans.append((report.slug, report.phases[0].slug, built))
    usernames = sorted({DEMO_PARTICIPANTS.get(b.name, b.name) for _, _, built in plans for b in built})
    tokens = _participant_tokens(resources, [*usernames, DEMO_TEAM[2]])
    resources.close()

    web = _ensure_web(settings)
    for slug, _, _ in plans:
        _form_team(settings.public_url, tokens, slug)
    submitted = []
    for slug, phase, built in plans:
        for baseline in built:
            client = PodiumClient(settings.public_url, tokens[DEMO_PARTICIPANTS.get(baseline.name, baseline.name)])
            sent = time.monotonic()
            submission = client.submit(slug, phase, baseline.archive, comment=f"baseline: {baseline.name}")
            click.echo(f"{slug}: submitted {baseline.name} ({baseline.bytes / 1024**2:.1f} MiB) as submission "
                       f"{submission['id']}: {submission['state']}")
            submitted.append((client, submission["id"], sent, f"{slug}/{baseline.name}"))

    worker_log = settings.data_dir / "worker.log"
    click.echo(f"running a worker until the queue is empty (scoring, then statistics; its log: {worker_log}) ...")
    with worker_log.open("ab") as log:
        finished = subprocess.run([sys.executable, "-m", "app.cli", "worker", "--burst"], env=os.environ.copy(),
                                  stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    if finished.returncode != 0:
        raise click.ClickException(f"the worker failed (exit code {finished.returncode}); see {worker_log}")
    for client, submission_id, sent, name in submitted:
        result = client.wait(submission_id, timeout=600)
        message = f" ({result['failure_message']})" if result["failure_message"] else ""
        run = result.get("run") or {}
        click.echo(f"submission {submission_id} ({name}): {result['state']}{message}; container "
                   f"{run.get('container_seconds') or 0:.1f} s; upload to final state "
                   f"{time.monotonic() - sent:.1f} s (includes waiting for the worker to start)")

    for slug, phase, _ in plans:
        client = submitted[0][0]
        click.echo("")
        click.echo(format_leaderboard(client.leaderboard(slug, phase), client.analysis(slug, phase)))
        click.echo(f"leaderboard: {settings.public_url}/challenges/{slug}/{phase}/leaderboard")
        click.echo(f"analysis:    {settings.public_url}/challenges/{slug}/{phase}/analysis")
    click.echo("")
    click.echo(f"demo finished in {time.monotonic() - started:.1f} s")
    if keep_web:
        click.echo(f"the site keeps running at {settings.public_url} (pid {web}); stop it with: kill {web}")
    elif web is not None:
        os.kill(web, 15)


def _form_team(public_url: str, tokens: dict[str, str], slug: str) -> None:
    """The demo's team, through the REST API: created, a colleague invited, the invitation accepted."""
    founder, name, colleague = DEMO_TEAM
    lead, member = PodiumClient(public_url, tokens[founder]), PodiumClient(public_url, tokens[colleague])
    try:
        team = lead.my_team(slug) or lead.create_team(slug, name)
        if colleague not in team["members"]:
            invitation = lead.invite(team["id"], colleague)
            team = member.accept_invitation(invitation["id"])
    except PodiumClientError as exc:  # e.g. an earlier demo's database, where the founder submitted alone
        click.echo(f"{slug}: no demo team ({exc})")
        return
    click.echo(f"{slug}: team {team['name']!r} with {', '.join(team['members'])}")


def _participant_tokens(resources: Resources, usernames: list[str]) -> dict[str, str]:
    tokens = {}
    for username in usernames:  # one transaction each: a rollback must never drop another's new token
        with resources.session() as session:
            try:
                _, tokens[username] = create_user(session, username)
            except Conflict:  # the user exists from an earlier demo run
                session.rollback()
                tokens[username] = issue_token(session, username)
    return tokens


def _ensure_web(settings: Settings) -> int | None:
    """Start `podium web` in the background unless a site already answers; returns its pid."""
    if _answers(settings.public_url):
        pid_file = settings.data_dir / "web.pid"
        return int(pid_file.read_text()) if pid_file.exists() else None
    log_path = settings.data_dir / "web.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "app.cli", "web"], stdout=log, stderr=log,
                                   stdin=subprocess.DEVNULL, start_new_session=True, env=os.environ.copy())
    (settings.data_dir / "web.pid").write_text(str(process.pid))
    deadline = time.monotonic() + 30
    while not _answers(settings.public_url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise click.ClickException(f"the web site did not start; see {log_path}")
        time.sleep(0.2)
    return process.pid


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/ping", timeout=1).ok
    except requests.RequestException:
        return False
