"""Sites end to end (docs/sites.md): two sites with their own SeaweedFS buckets and credentials, each with its own
worker process (`podium worker --site`), a central worker; a submission runs at both sites, and the pooled result is
the one central scoring gives with every case in one place. Afterwards the central database, storage and worker logs
hold no planted canary of the hidden inputs or ground truth. A site offline during a run completes its part when it
returns, without redoing the other site's part. Real processes, Redis, SQLite, SeaweedFS and the Docker engine."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from sqlalchemy import select, text

from app import create_app
from app.config import Settings
from app.models import Challenge, Phase, SitePartState, Submission, SubmissionSitePart
from app.resources import Resources
from app.storage.factory import open_store
from app.usecases.apply_challenge import apply_challenge
from app.usecases.site_cases import add_site, load_site_cases
from runners.images import save_image
from tests.conftest import migrate
from tests.faults.conftest import WorkerProcess, fault_settings, wait_for
from tests.fixtures.docker_engine import build_image, remove_image
from tests.fixtures.site_storage import (
    CANARY_INPUT,
    CANARY_TRUTH,
    SITE_CHALLENGE_YAML,
    SiteS3,
    write_site_cases,
    write_site_challenge,
)
from tests.integration.helpers import make_user, submit_archive

pytestmark = pytest.mark.docker

# Reads its inputs, prints them (its logs carry the hidden inputs: they must stay at the site), writes a likelihood
# with ties, and an extra file named after a hidden input value (its name must not cross either).
LEAKY_ALGORITHM = """\
import json, os
cases = json.load(open("/input/cases.json"))
print(json.dumps(cases))
for case in cases:
    features = case["inputs"]["features"]
    folder = os.path.join("/output", case["case_id"])
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "likelihood.json"), "w") as handle:
        json.dump((features["radius"] % 7) / 7, handle)
    open(os.path.join(folder, features["note"] + ".txt"), "w").write(features["note"])
"""
SITE_A_CASES = [f"a{i:02d}" for i in range(14)]
SITE_B_CASES = [f"b{i:02d}" for i in range(11)]


@pytest.fixture(scope="module")
def leaky_archive(docker_client: docker.DockerClient, python_base_image: str,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tag = "podium-test/site-leaky:latest"
    build_image(docker_client, f'FROM {python_base_image}\nCOPY algo.py /algo.py\nCMD ["python3", "/algo.py"]\n',
                {"algo.py": LEAKY_ALGORITHM}, tag)
    archive = tmp_path_factory.mktemp("leaky") / "leaky.tar.gz"
    save_image(docker_client, tag, archive)
    yield archive
    remove_image(docker_client, tag)


def _site_env(env: dict[str, str], site_s3: SiteS3, site: str, prefix: str, settings: Settings,
              data_dir: Path) -> dict[str, str]:
    """A site worker's environment: the central database, queue and storage; its own data folder and its own
    storage credentials (and no others)."""
    key, secret = site_s3.credentials[site]
    return {**env, "PODIUM_DATABASE_URL": settings.database_url, "PODIUM_STORAGE_URL": settings.storage_url,
            "PODIUM_DATA_DIR": str(data_dir), "PODIUM_SITE": site,
            "PODIUM_SITE_STORAGE_URL": f"s3://{site}/{prefix}", "PODIUM_SITE_S3_ENDPOINT_URL": site_s3.endpoint,
            "PODIUM_SITE_S3_ACCESS_KEY_ID": key, "PODIUM_SITE_S3_SECRET_ACCESS_KEY": secret,
            "PODIUM_RUNNER_SCOPE": settings.runner_scope}


class _Workers:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[WorkerProcess] = []

    def start(self, env: dict[str, str], *args: str) -> WorkerProcess:
        worker = WorkerProcess(env, self.tmp_path / f"worker-{len(self.started)}.log", args=list(args))
        self.started.append(worker)
        return worker

    def logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.tmp_path.glob("worker-*.log")))


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[_Workers]:
    found = _Workers(tmp_path)
    yield found
    for number, worker in enumerate(found.started):
        worker.stop()
        print(f"--- the end of worker {number}'s log ---\n{worker.log()}")


def _apply(resources: Resources, folder: Path) -> None:
    with resources.session() as session:
        apply_challenge(session, resources.store, folder)


def _load(resources: Resources, site_s3: SiteS3, site: str, prefix: str, folder: Path, challenge: str) -> None:
    key, secret = site_s3.credentials[site]
    store = open_store(f"s3://{site}/{prefix}", s3_endpoint_url=site_s3.endpoint, credentials=(key, secret))
    with resources.session() as session:
        phase = session.scalar(select(Phase).join(Challenge).where(Phase.slug == "test", Challenge.slug == challenge))
        assert phase is not None
        load_site_cases(session, store, site_name=site, phase=phase, folder=folder)


def _parts(resources: Resources, submission_id: int) -> dict[str, SubmissionSitePart]:
    from app.models import Site

    with resources.session() as session:
        rows = session.execute(select(SubmissionSitePart, Site.name).join(Site, Site.id == SubmissionSitePart.site_id)
                               .where(SubmissionSitePart.submission_id == submission_id)).all()
        session.expunge_all()
        return {name: part for part, name in rows}


def _state(resources: Resources, submission_id: int) -> str:
    with resources.session() as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None
        return submission.state


def _analysis(resources: Resources, challenge: str) -> dict[str, object] | None:
    from app.models import PhaseAnalysis

    with resources.session() as session:
        found = session.scalar(select(PhaseAnalysis.document).join(Phase, Phase.id == PhaseAnalysis.phase_id)
                               .join(Challenge).where(Challenge.slug == challenge)
                               .order_by(PhaseAnalysis.id.desc()).limit(1))
    return dict(found) if found else None


def _everything_central(resources: Resources, settings: Settings, workers: _Workers) -> str:
    """Every row of every table, every object in central storage and every worker's log, as one text."""
    chunks = []
    with resources.session() as session:
        tables = [row[0] for row in session.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))]
        for table in tables:
            chunks += [repr(tuple(row)) for row in session.execute(text(f'SELECT * FROM "{table}"'))]
    store = resources.store
    for key in store.list(""):
        chunks.append(key)
        chunks.append(store.get_bytes(key).decode("utf-8", "replace"))
    chunks.append(workers.logs())
    return "\n".join(chunks)


def _setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_s3: SiteS3, site_prefix: str
           ) -> tuple[Settings, dict[str, str], Resources, Callable[[str], dict[str, str]]]:
    settings, env = fault_settings(tmp_path, monkeypatch)
    migrate(settings.database_url)
    resources = Resources(settings)
    with resources.session() as session:
        add_site(session, "site-a", title="Hospital A")
        add_site(session, "site-b", title="Hospital B")
    _apply(resources, write_site_challenge(tmp_path / "challenge"))
    _load(resources, site_s3, "site-a", site_prefix, write_site_cases(tmp_path / "a", SITE_A_CASES, scanner="s1"),
          "sites-demo")
    _load(resources, site_s3, "site-b", site_prefix, write_site_cases(tmp_path / "b", SITE_B_CASES, scanner="s2"),
          "sites-demo")

    def site_env(site: str) -> dict[str, str]:
        return _site_env(env, site_s3, site, site_prefix, settings, tmp_path / f"data-{site}")

    return settings, env, resources, site_env


def _central_twin(tmp_path: Path, resources: Resources) -> None:
    """The same phase with the same cases (both sites' folders merged) in central storage, as challenge
    "sites-central": what pooling must reproduce."""
    folder = tmp_path / "central"
    write_site_challenge(folder, SITE_CHALLENGE_YAML.replace("slug: sites-demo", "slug: sites-central")
                         .replace("sites: [site-a, site-b]", "test_set: data/test"))
    merged = folder / "data" / "test"
    write_site_cases(merged, SITE_A_CASES, scanner="s1")
    b = write_site_cases(tmp_path / "b-copy", SITE_B_CASES, scanner="s2")
    rows = (merged / "cases.csv").read_text().splitlines()
    rows = [row.replace(",s1", ",s1,site-a") if i else "case_id,scanner,site" for i, row in enumerate(rows)]
    rows += [f"{row},site-b" for row in (b / "cases.csv").read_text().splitlines()[1:]]
    (merged / "cases.csv").write_text("\n".join(rows) + "\n")
    for part in ("inputs", "ground_truth"):
        for case in (b / part).iterdir():
            shutil.copytree(case, merged / part / case.name)
    _apply(resources, folder)


def test_a_run_at_two_sites_pools_to_the_central_result_and_leaves_nothing_hidden_at_the_centre(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_s3: SiteS3, site_prefix: str, leaky_archive: Path,
        workers: _Workers) -> None:
    settings, env, resources, site_env = _setup(tmp_path, monkeypatch, site_s3, site_prefix)
    _central_twin(tmp_path, resources)
    client = create_app(settings).test_client()
    token = make_user(resources, "vendor")
    status, at_sites = submit_archive(client, token, leaky_archive, challenge="sites-demo", phase="test")
    assert status == 201, at_sites
    status, central = submit_archive(client, token, leaky_archive, challenge="sites-central", phase="test")
    assert status == 201, central

    workers.start(env)  # the centre's worker: runs the central twin, hands the other to the sites, pools their parts
    workers.start(site_env("site-a"), "--site", "site-a")
    workers.start(site_env("site-b"), "--site", "site-b")
    wait_for(lambda: _state(resources, at_sites["id"]) in ("succeeded", "failed")
             and _state(resources, central["id"]) in ("succeeded", "failed"), 180, "both submissions to finish")
    assert _state(resources, central["id"]) == "succeeded"
    assert _state(resources, at_sites["id"]) == "succeeded", client.get(
        f"/api/v1/submissions/{at_sites['id']}", headers={"Authorization": f"Bearer {token}"}).get_json()

    parts = _parts(resources, at_sites["id"])
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
    wait_for(lambda: _analysis(resources, "sites-demo") is not None and _analysis(resources, "sites-central")
             is not None, 120, "both phases' analyses")
    at, twin = _analysis(resources, "sites-demo"), _analysis(resources, "sites-central")
    assert at is not None and twin is not None
    assert set(at["rankings"]) == {"auroc", "brier_score"}
    for metric, column in (("auroc", "site"), ("brier_score", "site"), ("brier_score", "scanner")):
        mine = {g["group"]: g["value"] for g in at["metric_breakdowns"][metric][column]["vendor"]}
        theirs = {g["group"]: g["value"] for g in twin["metric_breakdowns"][metric][column]["vendor"]}
        assert mine == pytest.approx(theirs, abs=1e-12), (metric, column)
    assert "scanner" not in at["metric_breakdowns"]["auroc"]  # no case ids cross: a set-level metric by site only
    assert at["curves"]["vendor"] == twin["curves"]["vendor"]

    # Nothing hidden at the centre: the canaries are at the sites (inputs, ground truth, the container's log and its
    # output file named after an input) and nowhere in the central database, storage or any worker's log. The
    # central twin's copies are the twin's own (its test set is central by design): leave that challenge out.
    with resources.session() as session:
        session.execute(text("DELETE FROM challenges WHERE slug = 'sites-central'"))
    for key in resources.store.list(""):
        if "sites-central" in key or key.startswith(f"submissions/{central['id']}/"):
            resources.store.delete(key)
    central_text = _everything_central(resources, settings, _Workers(tmp_path / "no-logs"))
    assert CANARY_INPUT not in central_text and CANARY_TRUTH not in central_text
    site_a_text = "".join(site_s3.client("central").get_object(Bucket="site-a", Key=key)["Body"].read().decode()
                          for key in site_s3.keys("site-a", site_prefix))
    assert CANARY_INPUT in site_a_text and CANARY_TRUTH in site_a_text
    site_logs = [k for k in site_s3.keys("site-a", site_prefix) if k.endswith(f"/{at_sites['id']}/logs/stdout.txt")]
    assert site_logs, "the container's log stays at the site"


def test_a_site_offline_during_a_run_completes_its_part_when_it_returns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_s3: SiteS3, site_prefix: str, leaky_archive: Path,
        workers: _Workers) -> None:
    settings, env, resources, site_env = _setup(tmp_path, monkeypatch, site_s3, site_prefix)
    client = create_app(settings).test_client()
    status, submission = submit_archive(client, make_user(resources, "vendor"), leaky_archive,
                                        challenge="sites-demo", phase="test")
    assert status == 201, submission
    workers.start(env)
    workers.start(site_env("site-a"), "--site", "site-a")  # site-b is offline
    wait_for(lambda: _parts(resources, submission["id"]).get("site-a") is not None
             and _parts(resources, submission["id"])["site-a"].state == SitePartState.DONE, 120, "site-a's part")
    assert _parts(resources, submission["id"])["site-b"].state == SitePartState.PENDING
    assert _state(resources, submission["id"]) == "running"  # however long site-b stays away: no lease expires

    workers.start(site_env("site-b"), "--site", "site-b")  # site-b comes back
    wait_for(lambda: _state(resources, submission["id"]) == "succeeded", 120, "the submission to be pooled")
    parts = _parts(resources, submission["id"])
    assert (parts["site-a"].attempts, parts["site-b"].attempts) == (1, 1)  # site-a's part was not run again
    with resources.session() as session:
        run_cases = session.execute(text("SELECT COUNT(*) FROM case_outcomes")).scalar_one()
    assert run_cases == len(SITE_A_CASES) + len(SITE_B_CASES)
