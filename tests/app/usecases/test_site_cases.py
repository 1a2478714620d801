"""Phases held at sites (docs/sites.md): challenge.yaml's `sites:`, apply, and loading a site's cases from the site's
own machine into the site's own bucket (the sites' SeaweedFS with identities, tests/fixtures/site_storage.py), with
the central database and store on this test's own SQLite and local folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.challenge_yaml import ChallengeSpecError, load_challenge_spec
from app.config import Settings
from app.db import Base
from app.errors import Conflict, InvalidFields, NotFound
from app.models import (
    Case,
    EvaluationRun,
    Phase,
    Score,
    Submission,
    SubmissionState,
    TestSet,
    TestSetPart,
    User,
)
from app.queries.phases import get_phase
from app.resources import Resources
from app.storage import ArtifactStore
from app.storage.factory import open_store
from app.usecases.apply_challenge import apply_challenge
from app.usecases.site_cases import SiteCasesError, add_site, list_sites, load_site_cases
from tests.conftest import migrate, podium_environment
from tests.fixtures.site_storage import (
    CANARY_INPUT,
    CANARY_TRUTH,
    SITE_CHALLENGE,
    SITE_CHALLENGE_YAML,
    SITE_PHASE,
    SiteS3,
    write_site_cases,
    write_site_challenge,
)


def site_store(site_s3: SiteS3, site: str, prefix: str) -> ArtifactStore:
    """The site's own store, opened with the site's own key pair (what its machine has)."""
    return open_store(f"s3://{site}/{prefix}", s3_endpoint_url=site_s3.endpoint, credentials=site_s3.credentials[site])


def apply_site_challenge(resources: Resources, tmp_path: Path, sites: tuple[str, ...] = ("site-a", "site-b")) -> None:
    with resources.session() as session:
        for name in sites:
            add_site(session, name, title=f"Hospital {name}")
        apply_challenge(session, resources.store, write_site_challenge(tmp_path / "challenge"))


def load(resources: Resources, store: ArtifactStore, site: str, folder: Path):  # type: ignore[no-untyped-def]
    with resources.session() as session:
        return load_site_cases(session, store, site_name=site,
                               phase=get_phase(session, SITE_CHALLENGE, SITE_PHASE), folder=folder)


def database_text(session: Session) -> str:
    """Every row of every table, as text."""
    return "\n".join(repr(row) for table in Base.metadata.sorted_tables
                     for row in session.execute(select(table)).all())


# ---- challenge.yaml and apply -----------------------------------------------------------------------------------

def spec_error(tmp_path: Path, yaml_text: str) -> str:
    with pytest.raises(ChallengeSpecError) as refused:
        load_challenge_spec(write_site_challenge(tmp_path / "spec", yaml_text))
    return str(refused.value)


def test_a_phase_gives_test_set_or_sites(tmp_path: Path) -> None:
    both = SITE_CHALLENGE_YAML.replace("    sites: [site-a, site-b]\n", "    sites: [site-a]\n    test_set: data\n")
    assert "not both" in spec_error(tmp_path, both)
    neither = SITE_CHALLENGE_YAML.replace("    sites: [site-a, site-b]\n", "")
    assert "give test_set" in spec_error(tmp_path, neither)
    twice = SITE_CHALLENGE_YAML.replace("[site-a, site-b]", "[site-a, site-a]")
    assert "each site may appear once" in spec_error(tmp_path, twice)
    assert "pattern" in spec_error(tmp_path, SITE_CHALLENGE_YAML.replace("[site-a, site-b]", "[Site_A]"))


def test_a_phase_at_sites_refuses_what_needs_the_ground_truth_in_one_place(tmp_path: Path) -> None:
    shards = SITE_CHALLENGE_YAML.replace("    ranking:", "    limits: {shards: 2}\n    ranking:")
    assert "remove limits.shards" in spec_error(tmp_path, shards)
    readers = SITE_CHALLENGE_YAML.replace("      breakdown_by: [site, scanner]\n",
                                          "      readers: {file: readers.csv}\n")
    assert "cannot compare readers" in spec_error(tmp_path, readers)
    evaluator = SITE_CHALLENGE_YAML.replace(
        "    ranking: {metric: auroc}",
        "    evaluator: {archive: e.tar.gz, aggregates: [{name: acc, higher_is_better: true}]}\n"
        "    ranking: {metric: auroc}")
    assert "cannot have an evaluator" in spec_error(tmp_path, evaluator)
    # AUROC counts scores per class: the target must be binary.
    not_binary = SITE_CHALLENGE_YAML.replace("json_type: integer, minimum: 0, maximum: 1}", "json_type: integer}")
    message = spec_error(tmp_path, not_binary)
    assert "'auroc'" in message and "binary ground truth" in message
    # A boolean ground truth is binary; Brier score is case-level.
    boolean = SITE_CHALLENGE_YAML.replace("json_type: integer, minimum: 0, maximum: 1}", "json_type: boolean}")
    spec, _ = load_challenge_spec(write_site_challenge(tmp_path / "boolean", boolean))
    assert spec.phases[0].sites == ["site-a", "site-b"] and spec.phases[0].test_set is None


def test_apply_refuses_an_unregistered_site_and_creates_no_test_set(resources: Resources, tmp_path: Path) -> None:
    folder = write_site_challenge(tmp_path / "challenge")
    with resources.session() as session:
        add_site(session, "site-a")
    with pytest.raises(ChallengeSpecError, match=r"'site-b' is not a registered site; register it with `podium site "
                                                 r"add site-b`"), resources.session() as session:
        apply_challenge(session, resources.store, folder)
    with resources.session() as session:
        add_site(session, "site-b")
        report = apply_challenge(session, resources.store, folder)
    assert "held at sites site-a, site-b: no cases loaded yet" in report.summary()
    with resources.session() as session:
        phase = get_phase(session, SITE_CHALLENGE, SITE_PHASE)
        assert phase.sites == ["site-a", "site-b"] and phase.current_test_set_id is None
        assert session.scalars(select(TestSet)).all() == []
    assert resources.store.list(f"challenges/{SITE_CHALLENGE}/") == []


def test_sites_are_registered_once_with_a_valid_name(session: Session) -> None:
    add_site(session, "radboud", title="Radboud UMC")
    with pytest.raises(Conflict):
        add_site(session, "radboud")
    with pytest.raises(InvalidFields, match="lower-case"):
        add_site(session, "Radboud UMC")
    assert [s.name for s in list_sites(session)] == ["radboud"]


# ---- loading a site's cases -----------------------------------------------------------------------------------

def test_a_sites_cases_go_to_its_own_bucket_only(resources: Resources, site_s3: SiteS3, site_prefix: str,
                                                 tmp_path: Path) -> None:
    apply_site_challenge(resources, tmp_path)
    central_before = resources.store.list("")
    report = load(resources, site_store(site_s3, "site-a", site_prefix), "site-a",
                  write_site_cases(tmp_path / "a", ["a-1", "a-2", "a-3"]))
    assert (report.version, report.created, report.case_count, report.became_current) == (1, True, 3, True)
    assert "Loaded 3 cases at site site-a" in report.message and "now the phase's current test set" in report.message

    # The site's bucket holds the files, laid out as a central test set, and cases.json with each case's inputs.
    site_keys = site_s3.keys("site-a", site_prefix)
    prefix = f"{site_prefix}/challenges/{SITE_CHALLENGE}/{SITE_PHASE}/site-test-sets/"
    assert site_keys and all(k.startswith(prefix) for k in site_keys)
    relative = sorted(k.split("/", 6)[6] for k in site_keys)
    assert relative == sorted(["cases.csv", "cases.json",
                               *[f"inputs/a-{i}/features.json" for i in (1, 2, 3)],
                               *[f"ground_truth/a-{i}/{n}.json" for i in (1, 2, 3) for n in ("malignant", "note")]])
    central = site_s3.client("central")
    cases_json = next(k for k in site_keys if k.endswith("/cases.json"))
    listed = json.loads(central.get_object(Bucket="site-a", Key=cases_json)["Body"].read())
    assert [c["case_id"] for c in listed] == ["a-1", "a-2", "a-3"]
    assert listed[0]["inputs"]["features"] == {"radius": 10, "note": CANARY_INPUT}
    truth = next(k for k in site_keys if k.endswith("ground_truth/a-1/note.json"))
    assert CANARY_TRUTH in central.get_object(Bucket="site-a", Key=truth)["Body"].read().decode()
    assert site_s3.keys("site-b", site_prefix) == []

    # The centre: nothing new in its store; cases with keys and metadata only; no canary anywhere in its database.
    assert resources.store.list("") == central_before
    with resources.session() as session:
        cases = session.scalars(select(Case).order_by(Case.case_key)).all()
        assert [(c.case_key, c.inputs, c.meta) for c in cases] == [
            (f"a-{i}", {}, {"scanner": "s1", "site": "site-a"}) for i in (1, 2, 3)]
        test_set = session.scalars(select(TestSet)).one()
        assert test_set.storage_prefix == "sites" and test_set.case_count == 3
        assert "site" in test_set.metadata_columns and "scanner" in test_set.metadata_columns
        part = session.scalars(select(TestSetPart)).one()
        assert part.case_count == 3 and f"{site_prefix}/{part.storage_prefix}/cases.json" in site_keys
        text = database_text(session)
        assert "a-1" in text  # the dump does hold the rows
        assert CANARY_INPUT not in text and CANARY_TRUTH not in text and '"radius"' not in text


@pytest.fixture(params=["sqlite", "postgresql"])
def central(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Resources]:
    """The central database on SQLite and on PostgreSQL."""
    overrides = {"DATABASE_URL": request.getfixturevalue("postgres_url")} if request.param == "postgresql" else {}
    settings = Settings.from_env(podium_environment(tmp_path, **overrides))
    migrate(settings.database_url)
    resources = Resources(settings)
    yield resources
    resources.close()


def test_a_second_site_makes_a_version_with_both_and_collisions_and_repeats_are_refused(
        central: Resources, site_s3: SiteS3, site_prefix: str, tmp_path: Path) -> None:
    resources = central
    apply_site_challenge(resources, tmp_path)
    store_a = site_store(site_s3, "site-a", site_prefix)
    store_b = site_store(site_s3, "site-b", site_prefix)
    folder_a = write_site_cases(tmp_path / "a", ["a-1", "a-2"])
    load(resources, store_a, "site-a", folder_a)
    second = load(resources, store_b, "site-b", write_site_cases(tmp_path / "b", ["b-1", "b-2", "b-3"],
                                                                 scanner="s2"))
    assert (second.version, second.created, second.case_count, second.became_current) == (2, True, 3, True)
    assert second.total_case_count == 5 and "holds 5 cases at 2 sites" in second.message
    with resources.session() as session:
        phase = get_phase(session, SITE_CHALLENGE, SITE_PHASE)
        assert phase.current_test_set is not None and phase.current_test_set.version == 2
        held = {(c.case_key, c.meta["site"], c.inputs == {}) for c in phase.current_test_set.cases}
        assert held == {("a-1", "site-a", True), ("a-2", "site-a", True), ("b-1", "site-b", True),
                        ("b-2", "site-b", True), ("b-3", "site-b", True)}
        parts = session.scalars(select(TestSetPart).where(TestSetPart.test_set_id == phase.current_test_set_id)).all()
        assert sorted(p.case_count for p in parts) == [2, 3]
        assert CANARY_INPUT not in database_text(session) and CANARY_TRUTH not in database_text(session)
    assert site_s3.keys("site-b", site_prefix) and resources.store.list(f"challenges/{SITE_CHALLENGE}/") == []

    # A case id another site holds is refused; nothing is written, centrally or at the site.
    site_b_before = site_s3.keys("site-b", site_prefix)
    with pytest.raises(SiteCasesError, match=r"already held by another site: a-2 \(at site-a\)"):
        load(resources, store_b, "site-b", write_site_cases(tmp_path / "b2", ["b-1", "a-2"]))
    assert site_s3.keys("site-b", site_prefix) == site_b_before

    # The same folder again: no new version.
    again = load(resources, store_a, "site-a", folder_a)
    assert (again.version, again.created, again.case_count) == (2, False, 2) and "Nothing new" in again.message
    with resources.session() as session:
        assert sorted(session.scalars(select(TestSet.version))) == [1, 2]


def test_a_new_version_is_kept_beside_one_the_phase_ranks_on(resources: Resources, site_s3: SiteS3,
                                                             site_prefix: str, tmp_path: Path) -> None:
    apply_site_challenge(resources, tmp_path)
    store_a = site_store(site_s3, "site-a", site_prefix)
    load(resources, store_a, "site-a", write_site_cases(tmp_path / "a", ["a-1", "a-2"]))
    with resources.session() as session:
        phase = get_phase(session, SITE_CHALLENGE, SITE_PHASE)
        user = User(username="ada")
        session.add(user)
        session.flush()
        scored = Submission(phase_id=phase.id, user_id=user.id, state=SubmissionState.SUCCEEDED)
        session.add(scored)
        session.flush()
        run = EvaluationRun(submission_id=scored.id, test_set_id=phase.current_test_set_id)
        session.add(run)
        session.flush()
        session.add(Score(run_id=run.id, metric="auroc", value=0.8))
    changed = load(resources, store_a, "site-a", write_site_cases(tmp_path / "a2", ["a-1", "a-2", "a-3"]))
    assert (changed.version, changed.created, changed.became_current) == (2, True, False)
    assert "still ranks on v1" in changed.message and "use-version" in changed.message
    with resources.session() as session:
        assert session.scalar(select(Phase)).current_test_set.version == 1  # type: ignore[union-attr]


def test_loading_refuses_an_unknown_site_a_phase_not_held_there_and_a_bad_folder(
        resources: Resources, site_s3: SiteS3, site_prefix: str, tmp_path: Path) -> None:
    apply_site_challenge(resources, tmp_path)
    with resources.session() as session:
        add_site(session, "site-c")
    store_a = site_store(site_s3, "site-a", site_prefix)
    folder = write_site_cases(tmp_path / "a", ["a-1"])
    with pytest.raises(NotFound, match="podium site add site-x"):
        load(resources, store_a, "site-x", folder)
    with pytest.raises(SiteCasesError, match="is not held at site 'site-c': its sites are site-a, site-b"):
        load(resources, store_a, "site-c", folder)
    (folder / "ground_truth" / "a-1" / "malignant.json").unlink()
    with pytest.raises(SiteCasesError, match=r"malignant.json: missing"):
        load(resources, store_a, "site-a", folder)
    (folder / "ground_truth" / "a-1" / "malignant.json").write_text("1")
    (folder / "cases.csv").write_text("case_id\na-1\n")  # the analysis breaks down by scanner
    with pytest.raises(SiteCasesError, match="needs column"):
        load(resources, store_a, "site-a", folder)
    assert site_s3.keys("site-a", site_prefix) == []
    with resources.session() as session:
        assert session.scalars(select(TestSet)).all() == []


def test_a_site_the_phase_no_longer_names_is_left_out_of_the_next_version(
        resources: Resources, site_s3: SiteS3, site_prefix: str, tmp_path: Path) -> None:
    apply_site_challenge(resources, tmp_path)
    store_a = site_store(site_s3, "site-a", site_prefix)
    folder_a = write_site_cases(tmp_path / "a", ["a-1"])
    load(resources, store_a, "site-a", folder_a)
    load(resources, site_store(site_s3, "site-b", site_prefix), "site-b", write_site_cases(tmp_path / "b", ["b-1"]))
    with resources.session() as session:
        apply_challenge(session, resources.store, write_site_challenge(
            tmp_path / "challenge", SITE_CHALLENGE_YAML.replace("[site-a, site-b]", "[site-a]")))
    again = load(resources, store_a, "site-a", folder_a)  # the same files, but site-b's case must go
    assert (again.version, again.created, again.total_case_count) == (3, True, 1)
    with resources.session() as session:
        phase = get_phase(session, SITE_CHALLENGE, SITE_PHASE)
        assert phase.current_test_set is not None
        assert [c.case_key for c in phase.current_test_set.cases] == ["a-1"]
        assert len(session.scalars(select(TestSetPart).where(
            TestSetPart.test_set_id == phase.current_test_set_id)).all()) == 1


@pytest.mark.parametrize("scored", [False, True])
def test_a_phase_moved_from_a_central_test_set_to_sites(resources: Resources, tmp_path: Path, scored: bool) -> None:
    folder = write_site_challenge(tmp_path / "challenge", SITE_CHALLENGE_YAML.replace(
        "    sites: [site-a, site-b]\n", "    test_set: data\n").replace("[site, scanner]", "[scanner]"))
    write_site_cases(folder / "data", ["c-1", "c-2"], canary=False)
    with resources.session() as session:
        add_site(session, "site-a")
        add_site(session, "site-b")
        apply_challenge(session, resources.store, folder)
        phase = get_phase(session, SITE_CHALLENGE, SITE_PHASE)
        assert phase.current_test_set is not None and phase.current_test_set.storage_prefix != "sites"
        if scored:
            user = User(username="ada")
            session.add(user)
            session.flush()
            submission = Submission(phase_id=phase.id, user_id=user.id, state=SubmissionState.SUCCEEDED)
            session.add(submission)
            session.flush()
            run = EvaluationRun(submission_id=submission.id, test_set_id=phase.current_test_set_id)
            session.add(run)
            session.flush()
            session.add(Score(run_id=run.id, metric="auroc", value=0.8))
    write_site_challenge(folder)  # now held at sites
    with resources.session() as session:
        report = apply_challenge(session, resources.store, folder)
    with resources.session() as session:
        phase = get_phase(session, SITE_CHALLENGE, SITE_PHASE)
        assert phase.sites == ["site-a", "site-b"]
        if scored:  # the leaderboard stays on its version until an organiser switches
            assert phase.current_test_set is not None and phase.current_test_set.version == 1
            assert any("still ranks on its central test set v1" in w for w in report.warnings)
        else:
            assert phase.current_test_set_id is None and report.warnings == []
