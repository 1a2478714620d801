"""`podium demo`: the whole path on real parts, end to end.

Applies the example challenges, builds their baseline containers, starts the web site (if it is not
already up), forms a team of two participants, submits each baseline as a different participant (one of
them for the team) through the REST API, runs a worker until they are scored, and prints the leaderboards
and the site's URL.

A phase held at sites (docs/sites.md; breast-multisite's "at-sites") runs as it would across hospitals, on this
machine: its sites are registered, each site's folder of the challenge (data/sites/<site>/, written by its
prepare.py) is loaded into that site's own storage (a folder under the data dir), and one site worker per site
(`podium worker --site NAME`, a process with its own data dir and storage) runs that site's part of each submission
while the central worker hands submissions to the sites and pools what they send back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import requests

from app.challenge_yaml import load_challenge_spec
from app.cli.baselines import BaselineArchive, build_baselines
from app.cli.client import FINAL_STATES, PodiumClient, PodiumClientError
from app.cli.leaderboard_text import format_leaderboard
from app.config import Settings
from app.db_migrations import upgrade
from app.errors import Conflict
from app.queries.phases import get_phase
from app.resources import Resources
from app.storage.factory import open_store
from app.usecases.apply_challenge import PhaseReport, apply_challenge
from app.usecases.site_cases import add_site, list_sites, load_site_cases
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
# Where a challenge folder keeps each site's hidden cases for a phase held at sites (its prepare.py writes them):
# data/sites/<site>/ with cases.csv, inputs/ and ground_truth/, as `podium site load-cases` reads them.
SITE_FOLDERS = Path("data") / "sites"
WORKERS_TIMEOUT_SECONDS = 1800  # every submission final by then, or the demo stops with the workers' logs


@dataclass
class DemoPlan:
    """One applied example: its baselines go to each of its phases; a phase held at sites names its sites."""

    slug: str
    phases: list[PhaseReport]
    built: list[BaselineArchive]


def run_demo(settings: Settings, challenge_path: Path, *, keep_web: bool = True,
             more_examples: Sequence[Path] = MORE_EXAMPLES) -> None:
    """The demo: `challenge_path` first, then `more_examples` (those that are folders), end to end."""
    started = time.monotonic()
    upgrade(settings.database_url)
    resources = Resources(settings)
    runner = DockerRunner.from_env(settings.docker_base_url, scope=settings.runner_scope)
    challenge_paths = [challenge_path] + [p for p in more_examples if p.is_dir() and p != challenge_path]
    _register_sites(resources, challenge_paths)
    plans = []
    for path in challenge_paths:
        with resources.session() as session:
            report = apply_challenge(session, resources.store, path)
        click.echo(report.summary())
        for phase in report.phases:
            if phase.sites:
                _load_site_cases(resources, settings, path, report.slug, phase)
        built = build_baselines(path, settings.data_dir / "baselines" / report.slug, runner)
        plans.append(DemoPlan(report.slug, report.phases, built))
    usernames = sorted({DEMO_PARTICIPANTS.get(b.name, b.name) for plan in plans for b in plan.built})
    tokens = _participant_tokens(resources, [*usernames, DEMO_TEAM[2]])
    resources.close()

    web = _ensure_web(settings)
    for plan in plans:
        _form_team(settings.public_url, tokens, plan.slug)
    submitted = []
    for plan in plans:
        for phase in plan.phases:
            where = plan.slug if len(plan.phases) == 1 else f"{plan.slug}/{phase.slug}"
            for baseline in plan.built:
                client = PodiumClient(settings.public_url,
                                      tokens[DEMO_PARTICIPANTS.get(baseline.name, baseline.name)])
                sent = time.monotonic()
                submission = client.submit(plan.slug, phase.slug, baseline.archive,
                                           comment=f"baseline: {baseline.name}")
                click.echo(f"{where}: submitted {baseline.name} ({baseline.bytes / 1024**2:.1f} MiB) as submission "
                           f"{submission['id']}: {submission['state']}")
                submitted.append((client, submission["id"], sent, f"{where}/{baseline.name}"))

    sites = sorted({site for plan in plans for phase in plan.phases for site in phase.sites})
    site_workers = _start_site_workers(settings, sites)
    try:
        _run_central_worker(settings, [(client, submission_id) for client, submission_id, _, _ in submitted],
                            site_workers)
    finally:
        _stop_site_workers(site_workers)
    for client, submission_id, sent, name in submitted:
        result = client.wait(submission_id, timeout=600)
        message = f" ({result['failure_message']})" if result["failure_message"] else ""
        run = result.get("run") or {}
        click.echo(f"submission {submission_id} ({name}): {result['state']}{message}; container "
                   f"{run.get('container_seconds') or 0:.1f} s; upload to final state "
                   f"{time.monotonic() - sent:.1f} s (includes waiting for the worker to start)")

    for plan in plans:
        for phase in plan.phases:
            slug, client = plan.slug, submitted[0][0]
            click.echo("")
            click.echo(format_leaderboard(client.leaderboard(slug, phase.slug), client.analysis(slug, phase.slug),
                                          sites=phase.sites))
            click.echo(f"leaderboard: {settings.public_url}/challenges/{slug}/{phase.slug}/leaderboard")
            click.echo(f"analysis:    {settings.public_url}/challenges/{slug}/{phase.slug}/analysis")
    click.echo("")
    click.echo(f"demo finished in {time.monotonic() - started:.1f} s")
    if keep_web:
        click.echo(f"the site keeps running at {settings.public_url} (pid {web}); stop it with: kill {web}")
    elif web is not None:
        os.kill(web, 15)


# ---- sites: registered, loaded, and their workers ------------------------------------------------------------

def _register_sites(resources: Resources, challenge_paths: list[Path]) -> None:
    """Register every site the examples' phases name (before applying them: apply refuses an unknown site); a site
    registered by an earlier demo run is fine."""
    named = sorted({site for path in challenge_paths for phase in load_challenge_spec(path)[0].phases
                    for site in phase.sites})
    with resources.session() as session:
        known = {site.name for site in list_sites(session)}
        for name in named:
            if name not in known:
                add_site(session, name, title=f"{name} (a simulated hospital of the demo)")


def _site_dir(settings: Settings, site: str) -> Path:
    """A site's own machine, simulated: its worker's data dir (caches), with its own storage inside it."""
    return settings.data_dir / "sites" / site


def _site_storage_url(settings: Settings, site: str) -> str:
    return f"file://{_site_dir(settings, site) / 'storage'}"


def _load_site_cases(resources: Resources, settings: Settings, path: Path, slug: str, phase: PhaseReport) -> None:
    """Each site loads its folder of the challenge (data/sites/<site>/) into its own storage, as `podium site
    load-cases` does on a site's machine; the central database gets case ids and cases.csv metadata only."""
    reports = []
    for site in phase.sites:
        site_store = open_store(_site_storage_url(settings, site))
        with resources.session() as session:
            held = get_phase(session, slug, phase.slug)
            reports.append(load_site_cases(session, site_store, site_name=site, phase=held,
                                           folder=path / SITE_FOLDERS / site))
    last = reports[-1]
    state = "loaded" if any(r.created for r in reports) else "unchanged since an earlier run"
    counts = ", ".join(f"{site} {r.case_count}" for site, r in zip(phase.sites, reports, strict=True))
    click.echo(f"  phase {phase.slug}: each site loaded its hidden cases into its own storage "
               f"({settings.data_dir / 'sites'}/<site>/storage; {state}): test set v{last.version}, "
               f"{last.total_case_count} cases ({counts})")


@dataclass
class SiteWorker:
    site: str
    process: subprocess.Popen[bytes]
    log_path: Path


def _start_site_workers(settings: Settings, sites: list[str]) -> list[SiteWorker]:
    """One `podium worker --site NAME` per site, each with its own data dir and storage, on the central database,
    storage and Redis. Not --burst: a site's part is queued only when the central worker hands a submission over."""
    if not sites:
        return []
    started = []
    for site in sites:
        log_path = settings.data_dir / f"{site}-worker.log"
        env = {**os.environ, "PODIUM_SITE": site, "PODIUM_SITE_STORAGE_URL": _site_storage_url(settings, site),
               "PODIUM_DATA_DIR": str(_site_dir(settings, site)),
               "PODIUM_WORKER_CACHE_DIR": str(_site_dir(settings, site) / "worker-cache"),
               "PODIUM_DATABASE_URL": settings.database_url, "PODIUM_STORAGE_URL": settings.storage_url,
               "PODIUM_REDIS_URL": settings.redis_url, "PODIUM_QUEUE": settings.queue_name}
        with log_path.open("ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--site", site], env=env,
                                       stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        started.append(SiteWorker(site, process, log_path))
    click.echo(f"{len(sites)} site workers run ({', '.join(sites)}), one per simulated hospital; their logs: "
               f"{settings.data_dir}/<site>-worker.log")
    click.echo(f"hidden data stays in each site's own folder ({settings.data_dir / 'sites'}/<site>/storage): the "
               "centre gets scores only")
    return started


def _run_central_worker(settings: Settings, submissions: list[tuple[PodiumClient, int]],
                        site_workers: list[SiteWorker]) -> None:
    """Run the central worker (--burst) again and again until every submission is final: a submission held at sites
    comes back to its queue to be pooled only after the sites' workers finish their parts."""
    worker_log = settings.data_dir / "worker.log"
    click.echo(f"running the central worker until every submission is final (scoring, then statistics; its log: "
               f"{worker_log}) ...")
    deadline = time.monotonic() + WORKERS_TIMEOUT_SECONDS
    while True:
        with worker_log.open("ab") as log:
            finished = subprocess.run([sys.executable, "-m", "app.cli", "worker", "--burst"], env=os.environ.copy(),
                                      stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        if finished.returncode != 0:
            raise click.ClickException(f"the worker failed (exit code {finished.returncode}); see {worker_log}")
        waiting = [submission_id for client, submission_id in submissions
                   if client.submission(submission_id)["state"] not in FINAL_STATES]
        if not waiting:
            return
        for worker in site_workers:
            if worker.process.poll() is not None:
                raise click.ClickException(f"the site worker of {worker.site} stopped (exit code "
                                           f"{worker.process.returncode}); see {worker.log_path}")
        if time.monotonic() > deadline:
            raise click.ClickException(f"submissions {', '.join(map(str, waiting))} are not final after "
                                       f"{WORKERS_TIMEOUT_SECONDS} s; see {worker_log} and the site workers' logs")
        time.sleep(1.0)


def _stop_site_workers(site_workers: list[SiteWorker]) -> None:
    """SIGTERM each site worker's process group (its work horse too); SIGKILL one that has not stopped in 30 s."""
    for worker in site_workers:
        if worker.process.poll() is None:
            os.killpg(worker.process.pid, signal.SIGTERM)
    for worker in site_workers:
        try:
            worker.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.process.pid, signal.SIGKILL)
            worker.process.wait(timeout=10)


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
