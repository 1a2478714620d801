"""Test-set versions through the REST API: list them, choose the one a phase ranks on, re-evaluate submissions on
another, follow a re-evaluation, and compare the algorithms between two versions (docs/challenges.md, "Test-set
versions and re-evaluation")."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request
from spectree import Response

from app.api import CHALLENGES, ORGANISERS, _current_user, api, schemas
from app.api.openapi import InvalidRequest, errors, operation
from app.errors import NotFound
from app.extensions import db_session, podium
from app.permissions import require_organiser
from app.queries.leaderboard import NOT_PUBLISHED, results_visible
from app.queries.phases import get_phase
from app.queries.test_set_versions import compare_versions, phase_versions, reevaluations, version_test_set
from app.usecases.reevaluation import start_reevaluation, switch_version

PHASE = "/challenges/<slug>/phases/<phase_slug>"


@api.get(PHASE + "/test-set/versions")
@operation(Response(HTTP_200=(schemas.TestSetVersions, "the versions and the re-evaluations"),
                    **errors(401, 403, 404)), token=True, tags=ORGANISERS)
def test_set_versions(slug: str, phase_slug: str) -> Any:
    """Organisers: every version of the phase's test set (which one it ranks on), and its re-evaluations."""
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        require_organiser(user, phase, to="see the test set's versions")
        return jsonify({"versions": [line.as_json() for line in phase_versions(session, phase)],
                        "reevaluations": [line.as_json() for line in reevaluations(session, phase)]})


@api.put(PHASE + "/test-set/current")
@operation(Response(HTTP_200=(schemas.TestSetVersions, "the phase ranks on that version now"),
                    **errors(400, 401, 403, 404)), json=schemas.UseVersion, token=True, tags=ORGANISERS)
def use_test_set_version(slug: str, phase_slug: str, json: schemas.UseVersion) -> Any:
    """Organisers: rank the phase on another version of its test set (`{"version": 2}`); new submissions run on it.

    The runs on every version are kept: switching back shows the old leaderboard again.
    """
    if json is None:
        raise InvalidRequest('send {"version": N} as JSON')
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        switch_version(session, phase, json.version, user)
        podium().queue_analysis(phase.id)  # the ranked version's statistics (nothing new when it has them)
        return jsonify({"versions": [line.as_json() for line in phase_versions(session, phase)],
                        "reevaluations": [line.as_json() for line in reevaluations(session, phase)]})


@api.post(PHASE + "/reevaluations")
@operation(Response(HTTP_202=(schemas.Reevaluation, "stored; its first runs are queued"),
                    **errors(400, 401, 403, 404, 409)), json=schemas.StartReevaluation, token=True, tags=ORGANISERS)
def start_phase_reevaluation(slug: str, phase_slug: str, json: schemas.StartReevaluation) -> Any:
    """Organisers: run the phase's final submissions (`selection: final`) or the listed ones (`selected`) on a version
    of its test set, at most `budget` at once, as new runs beside their old ones.

    Only succeeded, shown submissions; one already scored on that version is left out. 409 when nothing is left.
    """
    if json is None:
        raise InvalidRequest('send {"version": N, "budget": B, "selection": "final" | "selected"} as JSON')
    context = podium()
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        started = start_reevaluation(session, context.enqueue_reevaluation, phase, user, version=json.version,
                                     budget=json.budget, selection=json.selection, submission_ids=json.submission_ids)
        line = reevaluations(session, phase, reevaluation_id=started.reevaluation_id)[0]
        return jsonify(line.as_json()), 202


@api.get(PHASE + "/reevaluations/<int:reevaluation_id>")
@operation(Response(HTTP_200=(schemas.Reevaluation, "how far it got"), **errors(401, 403, 404)), token=True,
           tags=ORGANISERS)
def phase_reevaluation(slug: str, phase_slug: str, reevaluation_id: int) -> Any:
    """Organisers: a re-evaluation's progress (pending, running, done and failed runs, and why each failed)."""
    with db_session() as session:
        user = _current_user(session)
        phase = get_phase(session, slug, phase_slug)
        require_organiser(user, phase, to="follow its re-evaluations")
        found = reevaluations(session, phase, reevaluation_id=reevaluation_id)
        if not found:
            raise NotFound(f"no re-evaluation {reevaluation_id} in phase {phase_slug}")
        return jsonify(found[0].as_json())


@api.get(PHASE + "/compare")
@operation(Response(HTTP_200=(schemas.Comparison, "each algorithm on both versions"), **errors(400, 404)),
           query=schemas.CompareQuery, tags=CHALLENGES)
def compare_test_set_versions(slug: str, phase_slug: str, query: schemas.CompareQuery) -> Any:
    """Each algorithm scored on two versions of the phase's test set: every metric with its CI on each version and
    the difference (b - a), say a drop in AUROC on new data.

    No token needed where the phase's results are published; otherwise the challenge's organisers and the admins
    only (404 for anyone else).
    """
    with db_session() as session:
        viewer = _current_user(session) if request.headers.get("Authorization") else None
        phase = get_phase(session, slug, phase_slug)
        if not results_visible(phase, viewer):
            raise NotFound(NOT_PUBLISHED)
        a, b = version_test_set(session, phase, query.a), version_test_set(session, phase, query.b)
        return jsonify(compare_versions(session, phase, a, b).as_dict())
