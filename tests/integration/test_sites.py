"""Sites end to end (docs/sites.md): two sites with their own SeaweedFS buckets and credentials, each with its own
worker process (`podium worker --site`), a central worker; a submission runs at both sites, and the pooled result is
the one central scoring gives with every case in one place. Afterwards the central database, storage and worker logs
hold no planted canary of the hidden inputs or ground truth. A site offline during a run completes its part when it
returns, without redoing the other site's part. Real processes, Redis, SQLite, SeaweedFS and the Docker engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from app import create_app
from app.models import Challenge, EvaluationRun, Phase, SitePartState, Submission, TestSet
from app.models.reevaluation import ReevaluationRun
from app.resources import Resources
from app.tasks.queues import make_reevaluation_enqueuer
from app.usecases.reevaluation import start_reevaluation
from tests.faults.conftest import wait_for
from tests.fixtures.site_storage import CANARY_INPUT, CANARY_TRUTH, SiteS3, write_site_cases
from tests.fixtures.sites_run import (
    SITE_A_CASES,
    SITE_B_CASES,
    SiteWorkers,
    central_twin,
    everything_central,
    latest_analysis,
    load_cases,
    site_parts,
    state_of,
    two_sites,
)
from tests.integration.helpers import make_user, submit_archive

pytestmark = pytest.mark.docker


def test_a_run_at_two_sites_pools_to_the_central_result_and_leaves_nothing_hidden_at_the_centre(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_s3: SiteS3, site_prefix: str, leaky_archive: Path,
        site_workers: SiteWorkers) -> None:
    settings, env, resources, site_env = two_sites(tmp_path, monkeypatch, site_s3, site_prefix)
    central_twin(tmp_path, resources)
    client = create_app(settings).test_client()
    token = make_user(resources, "vendor")
    status, at_sites = submit_archive(client, token, leaky_archive, challenge="sites-demo", phase="test")
    assert status == 201, at_sites
    status, central = submit_archive(client, token, leaky_archive, challenge="sites-central", phase="test")
    assert status == 201, central

    # The centre's worker: runs the central twin, hands the other to the sites, pools their parts.
    central_worker = site_workers.start(env)
    site_workers.start(site_env("site-a"), "--site", "site-a")
    site_workers.start(site_env("site-b"), "--site", "site-b")
    wait_for(lambda: state_of(resources, at_sites["id"]) in ("succeeded", "failed")
             and state_of(resources, central["id"]) in ("succeeded", "failed"), 180, "both submissions to finish")
    assert state_of(resources, central["id"]) == "succeeded"
    assert state_of(resources, at_sites["id"]) == "succeeded", client.get(
        f"/api/v1/submissions/{at_sites['id']}", headers={"Authorization": f"Bearer {token}"}).get_json()

    parts = site_parts(resources, at_sites["id"])
    assert {name: (p.state, p.attempts) for name, p in parts.items()} == {"site-a": ("done", 1), "site-b": ("done", 1)}
    headers = {"Authorization": f"Bearer {token}"}
    pooled = client.get(f"/api/v1/submissions/{at_sites['id']}", headers=headers).get_json()
    whole = client.get(f"/api/v1/submissions/{central['id']}", headers=headers).get_json()
    pooled_scores, whole_scores = pooled["scores"], whole["scores"]
    # The values are exactly the central ones; the Brier score's CI too (a case-level metric bootstraps the same
    # per-case values in the same order); AUROC's CI is the same bootstrap on the cases in (score, label) order.
    for metric in ("auroc", "brier_score"):
        assert pooled_scores[metric]["value"] == pytest.approx(whole_scores[metric]["value"], abs=1e-12), metric
    assert (pooled_scores["brier_score"]["ci_low"], pooled_scores["brier_score"]["ci_high"]) == pytest.approx(
        (whole_scores["brier_score"]["ci_low"], whole_scores["brier_score"]["ci_high"]), abs=1e-12)

    # The phase's statistics, from what the sites sent: the same values per site as the central twin's (AUROC by
    # site from the score counts, the Brier score by site and by scanner from the per-case values), ranked.
    wait_for(lambda: latest_analysis(resources, "sites-demo") is not None
             and latest_analysis(resources, "sites-central") is not None, 120, "both phases' analyses")
    at, twin = latest_analysis(resources, "sites-demo"), latest_analysis(resources, "sites-central")
    assert at is not None and twin is not None
    assert set(at["rankings"]) == {"auroc", "brier_score"}
    for metric, column in (("auroc", "site"), ("brier_score", "site"), ("brier_score", "scanner")):
        mine = {g["group"]: g["value"] for g in at["metric_breakdowns"][metric][column]["vendor"]}
        theirs = {g["group"]: g["value"] for g in twin["metric_breakdowns"][metric][column]["vendor"]}
        assert mine == pytest.approx(theirs, abs=1e-12), (metric, column)
    assert "scanner" not in at["metric_breakdowns"]["auroc"]  # no case ids cross: a set-level metric by site only
    positives = {g["group"]: g["n_positives"] for g in at["metric_breakdowns"]["auroc"]["site"]["vendor"]}
    assert positives == {g["group"]: g["n_positives"] for g in twin["metric_breakdowns"]["auroc"]["site"]["vendor"]}
    assert {g["n_positives"] for g in at["metric_breakdowns"]["brier_score"]["site"]["vendor"]} == {None}
    page = client.get("/challenges/sites-demo/test/leaderboard").get_data(as_text=True)
    assert "held at 2 sites (site-a, site-b)" in page and "without case ids" in page
    assert at["curves"]["vendor"] == twin["curves"]["vendor"]

    # Nothing hidden at the centre: the canaries are at the sites (inputs, ground truth, the container's log and its
    # output file named after an input) and nowhere in the central database, storage or any worker's log. The
    # central twin's copies are the twin's own (its test set is central by design): leave that challenge out.
    with resources.session() as session:
        session.execute(text("DELETE FROM challenges WHERE slug = 'sites-central'"))
    for key in resources.store.list(""):
        if "sites-central" in key or key.startswith(f"submissions/{central['id']}/"):
            resources.store.delete(key)
    central_text = everything_central(resources, [central_worker.log_path])
    assert "pooled 2 site(s)" in central_text  # the central worker's log is searched too
    assert CANARY_INPUT not in central_text and CANARY_TRUTH not in central_text
    site_a_text = "".join(site_s3.client("central").get_object(Bucket="site-a", Key=key)["Body"].read().decode()
                          for key in site_s3.keys("site-a", site_prefix))
    assert CANARY_INPUT in site_a_text and CANARY_TRUTH in site_a_text
    site_logs = [k for k in site_s3.keys("site-a", site_prefix) if k.endswith(f"/{at_sites['id']}/logs/stdout.txt")]
    assert site_logs, "the container's log stays at the site"


def test_a_site_offline_during_a_run_completes_its_part_when_it_returns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_s3: SiteS3, site_prefix: str, leaky_archive: Path,
        site_workers: SiteWorkers) -> None:
    settings, env, resources, site_env = two_sites(tmp_path, monkeypatch, site_s3, site_prefix)
    client = create_app(settings).test_client()
    status, submission = submit_archive(client, make_user(resources, "vendor"), leaky_archive,
                                        challenge="sites-demo", phase="test")
    assert status == 201, submission
    site_workers.start(env)
    site_workers.start(site_env("site-a"), "--site", "site-a")  # site-b is offline
    wait_for(lambda: site_parts(resources, submission["id"]).get("site-a") is not None
             and site_parts(resources, submission["id"])["site-a"].state == SitePartState.DONE, 120, "site-a's part")
    assert site_parts(resources, submission["id"])["site-b"].state == SitePartState.PENDING
    assert state_of(resources, submission["id"]) == "running"  # however long site-b stays away: no lease expires

    site_workers.start(site_env("site-b"), "--site", "site-b")  # site-b comes back
    wait_for(lambda: state_of(resources, submission["id"]) == "succeeded", 120, "the submission to be pooled")
    parts = site_parts(resources, submission["id"])
    assert (parts["site-a"].attempts, parts["site-b"].attempts) == (1, 1)  # site-a's part was not run again
    with resources.session() as session:
        run_cases = session.execute(text("SELECT COUNT(*) FROM case_outcomes")).scalar_one()
    assert run_cases == len(SITE_A_CASES) + len(SITE_B_CASES)


def test_a_submission_is_re_evaluated_on_new_cases_loaded_at_a_site(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_s3: SiteS3, site_prefix: str, leaky_archive: Path,
        site_workers: SiteWorkers) -> None:
    """A hospital adds cases: a new version, kept beside the one the phase ranks on; the organiser re-evaluates the
    submission on it, at the sites, as a new run beside the old one; the submission itself is untouched."""
    settings, env, resources, site_env = two_sites(tmp_path, monkeypatch, site_s3, site_prefix)
    client = create_app(settings).test_client()
    status, submission = submit_archive(client, make_user(resources, "vendor"), leaky_archive,
                                        challenge="sites-demo", phase="test")
    assert status == 201, submission
    sid = submission["id"]
    site_workers.start(env)
    site_workers.start(site_env("site-a"), "--site", "site-a")
    site_workers.start(site_env("site-b"), "--site", "site-b")
    wait_for(lambda: state_of(resources, sid) == "succeeded", 120, "the submission to succeed on v1")

    more = [*SITE_A_CASES, "a14", "a15", "a16", "a17", "a18"]
    load_cases(resources, site_s3, "site-a", site_prefix, write_site_cases(tmp_path / "a-v2", more, scanner="s1"),
               "sites-demo")
    with resources.session() as session:
        phase = session.scalar(select(Phase).join(Challenge).where(Challenge.slug == "sites-demo"))
        assert phase is not None and phase.current_test_set is not None
        # v1 held site-a's cases, v2 both sites' (the submission ran on it), v3 site-a's new cases too: kept beside
        # v2, which the phase still ranks on since a submission is scored there.
        assert phase.current_test_set.version == 2
        started = start_reevaluation(session, make_reevaluation_enqueuer(settings, lambda _: False), phase, None,
                                     version=3, budget=1, selection="selected", submission_ids=[sid])
    with resources.session() as session:
        row_id = session.scalar(select(ReevaluationRun.id).where(
            ReevaluationRun.reevaluation_id == started.reevaluation_id))
    wait_for(lambda: _row_state(resources, row_id) in ("done", "failed"), 120, "the re-evaluation run to end")
    assert _row_state(resources, row_id) == "done"

    parts = site_parts(resources, sid, row_id)
    assert {name: (p.state, p.attempts) for name, p in parts.items()} == {"site-a": ("done", 1), "site-b": ("done", 1)}
    with resources.session() as session:
        runs = {ts.version: run for run, ts in session.execute(
            select(EvaluationRun, TestSet).join(TestSet, TestSet.id == EvaluationRun.test_set_id)
            .where(EvaluationRun.submission_id == sid)).all()}
        assert sorted(runs) == [2, 3]
        assert (runs[2].cases_valid, runs[3].cases_valid) == (25, 30)  # the old run as it was; the new on 30 cases
        assert session.scalar(select(Submission.state).where(Submission.id == sid)) == "succeeded"
        assert {s.metric for s in runs[3].scores} == {"auroc", "brier_score"}


def _row_state(resources: Resources, row_id: int | None) -> str | None:
    with resources.session() as session:
        return session.scalar(select(ReevaluationRun.state).where(ReevaluationRun.id == row_id))
