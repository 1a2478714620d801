"""The test set versions on the pages: the organisers' panel (switch, re-evaluate, progress), the leaderboard's
version links and ?version=N, and the comparison page. The worker's side: tests/integration/test_reevaluation.py."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.models import EvaluationRun, Phase, ReevaluationRun, Score, TestSet
from app.resources import Resources
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.app.test_authorization_matrix import sign_in
from tests.fixtures.scored import succeeded_run
from tests.integration.helpers import CHALLENGE, PHASE, apply_example

PAGE = f"/challenges/{CHALLENGE}/{PHASE}"


def test_one_version_leaves_the_leaderboard_as_it_was(resources: Resources, client: FlaskClient) -> None:
    apply_example(resources)
    page = client.get(f"{PAGE}/leaderboard").get_data(as_text=True)
    assert 'id="test-set-version"' not in page and "Compare each algorithm" not in page


def test_an_organiser_switches_and_re_evaluates_from_the_test_set_page(resources: Resources,
                                                                       client: FlaskClient) -> None:
    apply_example(resources)
    with resources.session() as session:
        phase = session.scalars(select(Phase)).one()
        _, token = create_user(session, "lead")
        add_organiser(session, phase.challenge, "lead")
        lab, _ = create_user(session, "lab")
        ids = []
        for value in (0.8123, 0.6456):
            submission, run = succeeded_run(session, phase, lab)
            session.add(Score(run_id=run.id, metric="auroc", value=value, ci_low=value - 0.05, ci_high=value + 0.05))
            ids.append(submission.id)
        session.add(TestSet(phase_id=phase.id, version=2, content_hash="e" * 64, storage_prefix="x/v2", case_count=3))
    csrf = sign_in(client, token)

    page = client.get(f"{PAGE}/test-set").get_data(as_text=True)
    assert 'id="test-set-versions"' in page and "Rank on v2" in page and 'id="reevaluate-form"' in page
    assert f'value="{ids[0]}"' in page  # a succeeded submission to tick

    refused = client.post(f"{PAGE}/reevaluations", data={"csrf": csrf, "version": "2", "budget": "0",
                                                         "selection": "selected", "submission": [str(ids[0])]})
    assert refused.status_code == 400 and "budget" in refused.get_data(as_text=True)
    started = client.post(f"{PAGE}/reevaluations", data={"csrf": csrf, "version": "2", "budget": "1",
                                                         "selection": "selected", "submission": [str(i) for i in ids]})
    assert started.status_code == 302 and started.headers["Location"].endswith("/test-set#reevaluations")
    with resources.session() as session:
        assert sorted(row.submission_id for row in session.scalars(select(ReevaluationRun))) == ids
    page = client.get(f"{PAGE}/test-set").get_data(as_text=True)
    assert 'id="reevaluations"' in page and "Re-evaluating 2 submission(s) on version 2" in page

    # The leaderboard of each version, with links between them.
    board = client.get(f"{PAGE}/leaderboard").get_data(as_text=True)
    assert "Scores on test set version 1 (the version this phase ranks on)" in board and "0.812" in board
    assert f"{PAGE}/leaderboard?version=2" in board
    empty = client.get(f"{PAGE}/leaderboard?version=2").get_data(as_text=True)
    assert "Scores on test set version 2." in empty and "0.812" not in empty
    assert client.get(f"{PAGE}/leaderboard?version=9").status_code == 404
    analysis = client.get(f"{PAGE}/analysis?version=2")
    assert analysis.status_code == 200 and "analysis on test set version 2" in analysis.get_data(as_text=True)
    assert client.get(f"{PAGE}/figures/ranks.svg?version=2").status_code == 404  # v2 has no analysis yet
    assert client.get(f"{PAGE}/leaderboard?version=x").status_code == 404

    switched = client.post(f"{PAGE}/test-set/current", data={"csrf": csrf, "version": "2"})
    assert switched.status_code == 302
    with resources.session() as session:
        assert session.scalars(select(Phase)).one().current_test_set.version == 2  # type: ignore[union-attr]
    assert "Rank on v1" in client.get(f"{PAGE}/test-set").get_data(as_text=True)


def test_the_comparison_page_shows_each_algorithm_on_both_versions(resources: Resources, client: FlaskClient) -> None:
    apply_example(resources)
    with resources.session() as session:
        phase = session.scalars(select(Phase)).one()
        lab, _ = create_user(session, "lab")
        submission, run = succeeded_run(session, phase, lab)
        session.add(Score(run_id=run.id, metric="auroc", value=0.9, ci_low=0.85, ci_high=0.95))
        v2 = TestSet(phase_id=phase.id, version=2, content_hash="e" * 64, storage_prefix="x/v2", case_count=3)
        session.add(v2)
        session.flush()
        on_v2 = EvaluationRun(submission_id=submission.id, test_set_id=v2.id)
        session.add(on_v2)
        session.flush()
        session.add(Score(run_id=on_v2.id, metric="auroc", value=0.75, ci_low=0.7, ci_high=0.8))
    page = client.get(f"{PAGE}/compare").get_data(as_text=True)  # the ranked version and the newest other
    assert "test set v1 and v2" in page and "-0.1500" in page and "worse" in page
    assert "0.85" in page and "0.95" in page  # each version's CI
    answer = client.get(f"/api/v1{PAGE.replace(f'/{PHASE}', f'/phases/{PHASE}')}/compare?a=1&b=2").get_json()
    assert answer["rows"][0]["metrics"]["auroc"]["difference"] == pytest.approx(-0.15)
