"""Server time of every page of the site and every API GET, on the demo's data, per role.

    .venv/bin/python bench/bench_pages.py [--requests 50] [--warmup 3] [--http-requests 20] [--no-waitress]
                                          [--profile] [--data-dir DIR] [--keep]

Builds the demo in its own scope first: a temporary data folder (SQLite database, local storage), a private
RQ queue and runner scope label (PODIUM_RUNNER_SCOPE=podium-bench-...), so it never touches another
installation's containers, and its own web server (waitress, in this process, on a free loopback port). It then
runs the demo's own function (app.cli.demo.run_demo: the two example challenges, their baseline containers
submitted through the REST API, a team, a worker run until the queue is empty), and adds an organiser of both
challenges and a site admin. `--data-dir DIR --keep` keeps the built demo in DIR; a later run with the same
`--data-dir` measures it again without rebuilding it (a few minutes saved).

Pages: every GET rule of `app.url_map` (the `web` blueprint, the API, static files), its arguments filled in
from the demo (challenge and phase slugs, the participant's submission and team, a figure, a public file, a
password-reset link): rules added later are measured too; the rules it could not fill are printed. Each
challenge-scoped page is measured for both challenges. Roles: anonymous, participant (radboud-ai-lab, in the
demo's team), organiser (of both challenges) and admin; web pages with a signed-in session, the API with a
Bearer token (anonymous API calls are 401s, anonymous private pages 302s: the status is printed).

Server time is the time inside the app's WSGI call, the response body included (a middleware around
`app.wsgi_app`), through Flask's test client in process. Requests go round-robin over every page, so each page
sees the same machine load; the baseline is `/ping` measured the same way in the same rounds, and the ratio
p50(page) / p50(ping) is what the page's own work costs. With waitress (default), the same pages are also
requested over loopback HTTP (`--http-requests`, default 20) and the round-trip p50/p95 printed beside
them. Every page whose server-time p95 is over 100 ms is marked `SLOW`, and the last line says "N of M pages
over 100 ms p95"; the exit status is 0 even then (a measurement, not a test). `--profile` prints the top
functions (cProfile, cumulative) of each slow page, as the role it was slowest for.

Time on a shared 2-core machine (2026-12, 67 pages): the demo 1.5-2.5 min (four baseline containers built,
submitted, scored), the in-process pass 2.5-4.5 min (67 pages x 4 roles x 53 requests), the waitress pass
1-2.5 min. Seen there: /ping p50 0.3-0.7 ms; the site's pages 1-20 ms p50, under 55 ms p95; over 100 ms p95
only the organisers' downloads: the per-case long table (cases.csv, the phase's export.zip: 40-120 ms p50,
every case outcome of the phase as ORM rows with two JSON columns each) and the challenge bundle
(/challenges/<slug>/export.zip, /api/v1/challenges/<slug>/bundle.zip: 180-330 ms p50, one storage read and
zip entry per test-set file, about 690 for the multisite challenge).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
from _web import Timed  # noqa: E402 - bench/_web.py, beside this script
from flask import url_for  # noqa: E402
from sqlalchemy import select  # noqa: E402
from waitress.server import create_server  # noqa: E402

from app import create_app  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db_migrations import upgrade  # noqa: E402
from app.errors import Conflict  # noqa: E402
from app.models import Challenge, Submission, TeamMember, User  # noqa: E402
from app.queries.analyses import latest_analysis  # noqa: E402
from app.resources import Resources  # noqa: E402
from app.usecases.accounts import reset_token  # noqa: E402
from app.usecases.membership import add_organiser, list_organisers  # noqa: E402
from app.usecases.users import create_user, issue_token  # noqa: E402

CHALLENGE = Path("challenges/breast-cancer-wisconsin")
PARTICIPANT = "radboud-ai-lab"  # the demo's team founder (app/cli/demo.py DEMO_TEAM)
ROLES = ("anonymous", "participant", "organiser", "admin")
LIMIT_MS = 100.0
STATIC_FILES = {"web.static": "podium.css"}


@dataclass
class Page:
    endpoint: str
    url: str
    is_api: bool
    server: dict[str, list[float]] = field(default_factory=dict)  # role -> seconds (test client)
    loopback: dict[str, list[float]] = field(default_factory=dict)  # role -> seconds (waitress round trip)
    status: dict[str, set[int]] = field(default_factory=dict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50, help="measured requests per page and role")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured requests per page and role first")
    parser.add_argument("--http-requests", type=int, default=20,
                        help="measured requests per page and role through waitress (loopback HTTP)")
    parser.add_argument("--no-waitress", action="store_true", help="skip the loopback HTTP measurement")
    parser.add_argument("--profile", action="store_true", help="cProfile each page over 100 ms p95")
    parser.add_argument("--data-dir", type=Path, help="build the demo here (or reuse the one built here)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder when done")
    args = parser.parse_args()

    os.chdir(REPO)  # the demo names the multisite challenge by a relative path
    work = (args.data_dir or Path(tempfile.mkdtemp(prefix="podium-bench-pages-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    os.environ.update({
        "PODIUM_DATA_DIR": str(work),
        "PODIUM_QUEUE": f"bench-pages-{uuid.uuid4().hex[:8]}",
        "PODIUM_RUNNER_SCOPE": f"podium-bench-{uuid.uuid4().hex[:12]}",
        "PODIUM_SECRET_KEY": "bench-pages-secret",
        "PODIUM_WEB_HOST": "127.0.0.1",
        "PODIUM_WEB_PORT": str(port),
    })
    settings = Settings.from_env()
    built_before = (work / "bench-demo-done").exists()
    upgrade(settings.database_url)
    app = create_app(settings)
    timer = Timed(app.wsgi_app)
    app.wsgi_app = timer  # type: ignore[method-assign]
    server = create_server(app, host="127.0.0.1", port=port, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    try:
        if built_before:
            print(f"reusing the demo built in {work}")
        else:
            started = time.monotonic()
            from app.cli.demo import run_demo

            run_demo(settings, CHALLENGE, keep_web=False)  # finds our server answering on public_url
            (work / "bench-demo-done").write_text("")
            print(f"demo built in {time.monotonic() - started:.0f} s ({work})\n")
        tokens, contexts, globals_ = _roles_and_values(settings)
        pages, unfilled = _pages(app, contexts, globals_)
        _measure(app, timer, pages, tokens, settings.public_url, args)
        _report(pages, unfilled, args)
        if args.profile:
            _profile_slow(app, timer, pages, tokens)
    finally:
        server.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _roles_and_values(settings: Settings) -> tuple[dict[str, str | None], list[dict[str, str]], dict[str, str]]:
    """Tokens per role, and the values that fill URL arguments: one context per challenge, plus global ones."""
    resources = Resources(settings)
    tokens: dict[str, str | None] = dict.fromkeys(ROLES)
    try:
        for role, username, admin in (("organiser", "bench-organiser", False), ("admin", "bench-admin", True),
                                      ("participant", PARTICIPANT, False)):
            with resources.session() as session:
                try:
                    _, tokens[role] = create_user(session, username, is_admin=admin)
                except Conflict:
                    session.rollback()
                    tokens[role] = issue_token(session, username)
        contexts = []
        with resources.session() as session:
            participant = session.scalars(select(User).where(User.username == PARTICIPANT)).one()
            for challenge in session.scalars(select(Challenge).order_by(Challenge.id)).all():
                if "bench-organiser" not in list_organisers(session, challenge):
                    add_organiser(session, challenge, "bench-organiser")
                values = {"slug": challenge.slug}
                phase = min(challenge.phases, key=lambda p: p.position) if challenge.phases else None
                if phase is not None:
                    values["phase_slug"] = phase.slug
                    submission = session.scalars(
                        select(Submission).where(Submission.phase_id == phase.id)
                        .order_by((Submission.user_id == participant.id).desc(), Submission.id.desc())).first()
                    if submission is not None:
                        values["submission_id"] = str(submission.id)
                    analysis = latest_analysis(session, phase)
                    if analysis is not None and analysis.figures:
                        values["figure"] = sorted(analysis.figures)[0]
                if challenge.public_files:
                    values["public_file"] = challenge.public_files[0]["name"]
                team_id = session.scalar(select(TeamMember.team_id).where(
                    TeamMember.challenge_id == challenge.id, TeamMember.user_id == participant.id))
                if team_id is not None:
                    values["team_id"] = str(team_id)
                values["stream_name"] = "stdout"
                contexts.append(values)
            globals_ = {"token": reset_token(settings.secret_key, participant)}
    finally:
        resources.close()
    return tokens, contexts, globals_


def _pages(app: Any, contexts: list[dict[str, str]], globals_: dict[str, str]) -> tuple[list[Page], list[str]]:
    """Every GET rule, filled from each challenge's values; those that could not be filled, with why."""
    pages: dict[str, Page] = {}
    unfilled = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or ()):
            continue
        missing: set[str] = set()
        for context in contexts or [{}]:
            values = {**globals_, **context}
            if rule.endpoint in STATIC_FILES:
                values["filename"] = STATIC_FILES[rule.endpoint]
            elif rule.endpoint == "static" and app.has_static_folder:
                first = next((p for p in sorted(Path(app.static_folder).rglob("*")) if p.is_file()), None)
                if first is not None:
                    values["filename"] = first.relative_to(app.static_folder).as_posix()
            if "name" in rule.arguments:  # the figure route and the public file route both call it `name`
                chosen = values.get("figure" if "figures" in rule.rule else "public_file")
                if chosen is not None:
                    values["name"] = chosen
            lacking = set(rule.arguments) - set(values)
            if lacking:
                missing |= lacking
                continue
            with app.test_request_context():
                arguments: dict[str, Any] = {name: values[name] for name in rule.arguments}
                url = url_for(rule.endpoint, **arguments)
            pages.setdefault(url, Page(rule.endpoint, url, rule.rule.startswith("/api/")))
        if missing and not any(p.endpoint == rule.endpoint for p in pages.values()):
            unfilled.append(f"{rule.endpoint} {rule.rule} (no value for: {', '.join(sorted(missing))})")
    ordered = sorted(pages.values(), key=lambda p: (p.endpoint != "web.ping", p.is_api, p.url))
    return ordered, unfilled


def _sign_in_test_client(client: Any, token: str) -> None:
    csrf = _csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"token": token, "csrf": csrf})
    if response.status_code != 302:
        raise SystemExit(f"could not sign in on the site with a token: {response.status_code}")


def _sign_in_http(session: requests.Session, base: str, token: str) -> None:
    csrf = _csrf(session.get(f"{base}/login").text)
    response = session.post(f"{base}/login", data={"token": token, "csrf": csrf}, allow_redirects=False)
    if response.status_code != 302:
        raise SystemExit(f"could not sign in over HTTP with a token: {response.status_code}")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    if found is None:
        raise SystemExit("the sign-in page has no form token")
    return found.group(1)


def _headers(page: Page, token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if page.is_api and token else {}


def _measure(app: Any, timer: Timed, pages: list[Page], tokens: dict[str, str | None], base: str,
             args: argparse.Namespace) -> None:
    app.logger.disabled = True  # a page that fails shows as status 500 in the table, not as tracebacks
    clients = {}
    for role, token in tokens.items():
        clients[role] = app.test_client()
        if token:
            _sign_in_test_client(clients[role], token)
    total = len(pages) * len(tokens) * (args.warmup + args.requests)
    print(f"measuring {len(pages)} pages x {len(tokens)} roles: {args.warmup} warm-up + {args.requests} "
          f"requests each, round-robin (test client, in process: {total} requests)", flush=True)
    started = time.monotonic()
    for round_ in range(args.warmup + args.requests):
        for role, token in tokens.items():
            for page in pages:
                response = clients[role].get(page.url, headers=_headers(page, token))
                response.close()
                if round_ >= args.warmup:
                    page.server.setdefault(role, []).append(timer.last)
                    page.status.setdefault(role, set()).add(response.status_code)
    print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
    if args.no_waitress:
        return
    sessions = {}
    for role, token in tokens.items():
        sessions[role] = requests.Session()
        if token:
            _sign_in_http(sessions[role], base, token)
    total = len(pages) * len(tokens) * (args.warmup + args.http_requests)
    print(f"the same through waitress on loopback ({base}): {args.warmup} warm-up + {args.http_requests} requests "
          f"each ({total} requests)", flush=True)
    started = time.monotonic()
    for round_ in range(args.warmup + args.http_requests):
        for role, token in tokens.items():
            for page in pages:
                sent = time.perf_counter()
                reply = sessions[role].get(base + page.url, headers=_headers(page, token), allow_redirects=False)
                elapsed = time.perf_counter() - sent
                if round_ >= args.warmup:
                    page.loopback.setdefault(role, []).append(elapsed)
                    if reply.status_code not in page.status[role]:
                        page.status[role].add(reply.status_code)
    print(f"  done in {time.monotonic() - started:.0f} s\n", flush=True)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1000


def _rows(pages: list[Page]) -> Iterator[tuple[Page, str]]:
    for page in pages:
        for role in page.server:
            yield page, role


def _report(pages: list[Page], unfilled: list[str], args: argparse.Namespace) -> None:
    ping = next(p for p in pages if p.endpoint == "web.ping")
    width = max(len(p.url) for p in pages)
    header = (f"{'page':<{width}} {'role':<11} {'status':>7} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7} "
              f"{'x ping':>7}" + ("" if args.no_waitress else f" {'http p50':>8} {'http p95':>8}"))
    print(f"server time inside the WSGI call, {args.requests} requests per page and role "
          "(x ping = p50 / p50 of /ping for the same role, in the same rounds)"
          + ("" if args.no_waitress else f"; http = round trip through waitress on loopback, "
             f"{args.http_requests} requests"))
    print(header)
    print("-" * len(header))
    slow = []
    for page, role in _rows(pages):
        times = page.server[role]
        p50, p95 = _p(times, 0.5), _p(times, 0.95)
        base = statistics.median(ping.server[role]) * 1000
        status = "/".join(str(s) for s in sorted(page.status[role]))
        line = (f"{page.url:<{width}} {role:<11} {status:>7} {p50:>7.1f} {p95:>7.1f} {max(times) * 1000:>7.1f} "
                f"{p50 / base:>7.1f}")
        if not args.no_waitress:
            line += f" {_p(page.loopback[role], 0.5):>8.1f} {_p(page.loopback[role], 0.95):>8.1f}"
        if p95 > LIMIT_MS:
            line += "  SLOW"
            slow.append((page, role))
        print(line)
    print()
    print(f"rules not measured (GET, but their arguments could not be filled from the demo): "
          f"{'; '.join(unfilled) if unfilled else 'none'}")
    worst = max(_rows(pages), key=lambda row: _p(row[0].server[row[1]], 0.95))
    print(f"slowest: {worst[0].url} as {worst[1]}, p95 {_p(worst[0].server[worst[1]], 0.95):.1f} ms; /ping p50 "
          + ", ".join(f"{role} {statistics.median(ping.server[role]) * 1000:.2f} ms" for role in ping.server))
    failed = [f"{page.url} as {role}" for page, role in _rows(pages) if any(s >= 500 for s in page.status[role])]
    print(f"pages that answered 5xx (an error in the page, not a measurement): {'; '.join(failed) or 'none'}")
    slow_pages = {page.url for page, _ in slow}
    print(f"{len(slow)} of {sum(1 for _ in _rows(pages))} page-role pairs over {LIMIT_MS:.0f} ms p95")
    print(f"{len(slow_pages)} of {len(pages)} pages over {LIMIT_MS:.0f} ms p95")


def _profile_slow(app: Any, timer: Timed, pages: list[Page], tokens: dict[str, str | None]) -> None:
    for page in pages:  # one profile per slow page, as the role it was slowest for
        role = max(page.server, key=lambda r: _p(page.server[r], 0.95))
        if _p(page.server[role], 0.95) <= LIMIT_MS:
            continue
        client = app.test_client()
        if tokens[role]:
            _sign_in_test_client(client, str(tokens[role]))
        timer.profiler = cProfile.Profile()
        for _ in range(5):
            client.get(page.url, headers=_headers(page, tokens[role])).close()
        out = io.StringIO()
        pstats.Stats(timer.profiler, stream=out).sort_stats("cumulative").print_stats(25)
        timer.profiler = None
        print(f"\nprofile of {page.url} as {role} (5 requests, cumulative):")
        print(out.getvalue())


if __name__ == "__main__":
    main()
