"""Test-set versions as pages: the organisers' versions panel on the test set page (which version the phase ranks
on, switch, re-evaluate final or selected submissions within a budget, each re-evaluation's progress), the
leaderboard's version links, and the comparison of each algorithm between two versions (docs/challenges.md,
"Test-set versions and re-evaluation"). The rules are the use cases' and the queries'."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import InvalidFields, NotFound
from app.extensions import db_session, podium
from app.models import Phase, Submission, SubmissionState, TestSet, User
from app.queries.leaderboard import NOT_PUBLISHED, results_visible
from app.queries.phases import get_phase
from app.queries.test_set_versions import (
    VersionLine,
    compare_versions,
    phase_versions,
    reevaluations,
    version_test_set,
)
from app.usecases.reevaluation import MAX_BUDGET, start_reevaluation, switch_version
from app.web import _logged_in_user, web
from app.web.organisers import organised_challenge
from app.web.sessions import signed_in


def versions_panel(db: Session, phase: Phase) -> dict[str, Any]:
    """What the test set page's versions panel shows (organisers only: the page checks)."""
    shown = db.execute(select(Submission.id, Submission.comment, User.username)
                       .join(User, User.id == Submission.user_id)
                       .where(Submission.phase_id == phase.id, Submission.state == SubmissionState.SUCCEEDED,
                              Submission.hidden_at.is_(None)).order_by(Submission.id.desc()).limit(500)).all()
    return {"version_lines": phase_versions(db, phase), "reevaluations": reevaluations(db, phase),
            "reevaluable": shown, "max_budget": MAX_BUDGET}


def version_links(db: Session, phase: Phase) -> list[VersionLine]:
    """The leaderboard's links to the other versions: none while the phase has one version (the page as it was)."""
    lines = phase_versions(db, phase)
    return lines if len(lines) > 1 else []


def requested_test_set(db: Session, phase: Phase) -> TestSet | None:
    """The version a page's `?version=N` asks for (None: the one the phase ranks on); 404 for a version it lacks."""
    raw = request.args.get("version")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 9:
        abort(404)
    return version_test_set(db, phase, int(raw))


@web.post("/challenges/<slug>/<phase_slug>/test-set/current")
@signed_in
def use_test_set_version(slug: str, phase_slug: str) -> ResponseReturnValue:
    """Organisers: rank the phase on another version of its test set; back to the test set page."""
    with db_session() as db:
        _, user = organised_challenge(db, slug, "choose the version a phase ranks on")
        phase = get_phase(db, slug, phase_slug)
        version = _number(request.form.get("version"), "version", "Choose a version.")
        test_set = switch_version(db, phase, version, user)
        podium().queue_analysis(phase.id)  # the ranked version's statistics (nothing new when it has them)
        flash(f"{phase.title} ranks on test set version {test_set.version} now; new submissions run on it. The "
              "runs on every other version are kept.")
    return redirect(url_for("web.test_set_page", slug=slug, phase_slug=phase_slug) + "#test-set-versions")


@web.post("/challenges/<slug>/<phase_slug>/reevaluations")
@signed_in
def start_phase_reevaluation(slug: str, phase_slug: str) -> ResponseReturnValue:
    """Organisers: run the final (or the ticked) submissions on a version of the test set; back to the test set
    page, where its progress shows."""
    context = podium()
    with db_session() as db:
        _, user = organised_challenge(db, slug, "re-evaluate its submissions")
        phase = get_phase(db, slug, phase_slug)
        version = _number(request.form.get("version"), "version", "Choose a version.")
        budget = _number(request.form.get("budget"), "budget", f"The budget is a whole number from 1 to {MAX_BUDGET}.")
        selection = request.form.get("selection", "final")
        ids = [int(value) for value in request.form.getlist("submission") if value.isdigit() and len(value) < 10]
        started = start_reevaluation(db, context.enqueue_reevaluation, phase, user, version=version, budget=budget,
                                     selection=selection, submission_ids=ids)
    skipped = f" ({started.skipped} already scored on it were left out)" if started.skipped else ""
    flash(f"Re-evaluating {started.submissions} submission(s) on version {started.version}, at most {budget} at "
          f"once{skipped}.")
    return redirect(url_for("web.test_set_page", slug=slug, phase_slug=phase_slug) + "#reevaluations")


@web.get("/challenges/<slug>/<phase_slug>/compare")
def compare_page(slug: str, phase_slug: str) -> ResponseReturnValue:
    """Each algorithm on two versions of the test set (?a=1&b=2; default: the ranked one and the newest other):
    every metric with its CI on each, and the difference. Wherever the phase's results may be read."""
    with db_session() as db:
        phase = get_phase(db, slug, phase_slug)
        viewer = _logged_in_user(db)
        if not results_visible(phase, viewer):
            raise NotFound(NOT_PUBLISHED)
        lines = phase_versions(db, phase)
        current = next((line.version for line in lines if line.current), None)
        others = [line.version for line in lines if not line.current]
        a = _arg("a", current)
        b = _arg("b", others[-1] if others else current)
        if a is None or b is None:
            raise NotFound(f"phase {phase.slug} has no test set yet")
        comparison = compare_versions(db, phase, version_test_set(db, phase, a), version_test_set(db, phase, b))
        return render_template("compare_versions.html", phase=phase, comparison=comparison, versions=lines)


def _arg(name: str, default: int | None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 9:
        abort(404)
    return int(raw)


def _number(raw: str | None, field: str, problem: str) -> int:
    if raw is None or not raw.strip().isdigit() or len(raw.strip()) > 9:
        raise InvalidFields({field: problem})
    return int(raw.strip())
