"""`podium demo` (app/cli/demo.py) on the multisite example alone: its central phase "test" and its phase "at-sites",
whose cases stay at three sites, each run by its own site worker process (`podium worker --site NAME`) beside the
central worker. Both phases hold the same cases, so each baseline's pooled result at the sites equals its central
one. Real processes (web, workers), Redis, SQLite, local storage folders and the Docker engine."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from app.cli.demo import run_demo
from app.config import Settings
from app.models import Challenge, Phase, Site, SitePartState, Submission, SubmissionSitePart
from app.resources import Resources
from tests.conftest import MULTISITE_CHALLENGE
from tests.faults.conftest import free_port
from tests.fixtures.example_sites import EXAMPLE_SITES

pytestmark = pytest.mark.docker

SLUG = "breast-multisite"


def _board(settings: Settings, phase: str) -> dict[str, dict[str, float]]:
    """The public leaderboard of a phase: each participant's metric values."""
    response = create_app(settings).test_client().get(f"/api/v1/challenges/{SLUG}/phases/{phase}/leaderboard")
    assert response.status_code == 200, response.get_json()
    return {row["participant"]: {name: score["value"] for name, score in row["scores"].items()}
            for row in response.get_json()["rows"]}


def test_the_demo_runs_the_multisite_challenge_centrally_and_as_three_site_workers(
        settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PODIUM_WEB_PORT", str(free_port()))
    settings = Settings.from_env()  # the fixture's data dir and queue, with a free port for the demo's web site
    run_demo(settings, MULTISITE_CHALLENGE, keep_web=False, more_examples=())
    out = capsys.readouterr().out

    assert f"3 site workers run ({', '.join(EXAMPLE_SITES)})" in out
    assert f"pooled from 3 sites ({', '.join(EXAMPLE_SITES)})" in out  # under the at-sites leaderboard only
    assert out.count("pooled from 3 sites") == 1
    # Both phases' statistics are printed, per site too: the at-sites one from what the sites sent.
    assert out.count("auroc by site:") == 2 and out.count("brier_score by scanner:") == 2
    assert "unpaired for a set-level metric at sites" in out
    resources = Resources(settings)
    try:
        with resources.session() as session:
            states = dict(session.execute(
                select(Submission.id, Submission.state).join(Phase, Phase.id == Submission.phase_id).join(Challenge)
                .where(Challenge.slug == SLUG, Phase.slug == "at-sites")).all())
            parts = session.execute(select(Site.name, SubmissionSitePart.state)
                                    .join(Site, Site.id == SubmissionSitePart.site_id)
                                    .where(SubmissionSitePart.submission_id.in_(states))).all()
        # Central storage holds the central phase's hidden files only; each site's are in its own folder.
        central_keys = resources.store.list("")
    finally:
        resources.close()
    assert len(states) == 2 and set(states.values()) == {"succeeded"}, states
    assert sorted(site for site, state in parts if state == SitePartState.DONE) == sorted(
        site for site in EXAMPLE_SITES for _ in states), parts  # each submission: one part per site, done
    hidden = [key for key in central_keys if key.endswith(("malignant.json", "nuclei-features.json"))]
    assert hidden and all(key.startswith(f"challenges/{SLUG}/test/test-sets/") for key in hidden)  # central ones only
    for site in EXAMPLE_SITES:
        stored = settings.data_dir / "sites" / site / "storage"
        assert list(stored.rglob("malignant.json")), f"{site}'s ground truth is in its own storage"
        assert (settings.data_dir / f"{site}-worker.log").is_file()

    # The same cases in both phases: each baseline's AUROC and Brier score, pooled from the sites, are the central
    # phase's.
    central, at_sites = _board(settings, "test"), _board(settings, "at-sites")
    assert set(central) == set(at_sites) and len(central) == 2, (central, at_sites)
    for participant, scores in central.items():
        for metric in ("auroc", "brier_score"):
            assert at_sites[participant][metric] == pytest.approx(scores[metric], abs=1e-12), (participant, metric)
    # Ranked across AUROC (weight 2) and the Brier score in both phases: the same mean ranks and "#".
    assert _ranks(settings, "at-sites") == _ranks(settings, "test")


def _ranks(settings: Settings, phase: str) -> dict[str, tuple[object, object]]:
    client = create_app(settings).test_client()
    response = client.get(f"/api/v1/challenges/{SLUG}/phases/{phase}/leaderboard")
    assert response.status_code == 200
    return {row["participant"]: (row["rank"], row["rank_score"]) for row in response.get_json()["rows"]}
