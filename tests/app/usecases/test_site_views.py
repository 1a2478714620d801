"""What participants and organisers read of a phase held at sites (docs/sites.md): each site's part in a submission's
summary under the log-visibility rules, the sites of a phase for its organisers, the phase as challenge.yaml says it
(sites, not a test set), its export (no test set folder) and the .zip upload's refusal."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from app.challenge_yaml import ChallengeSpec, PhaseSpec
from app.cli.submission_text import submission_text
from app.config import Settings
from app.models import LogVisibility, SitePartState, SubmissionState, TestSet
from app.queries.challenge_spec import challenge_spec_of, phase_spec_of
from app.queries.site_parts import SITE_PLATFORM_FAILURE, phase_sites_overview
from app.queries.submission_summary import submission_summary
from app.resources import Resources
from app.storage import ArtifactStore
from app.usecases.challenge_bundle import import_bundle
from app.usecases.challenge_edit import InvalidSpec, edit_phase
from app.usecases.challenge_export import export_challenge
from app.usecases.test_set_upload import InvalidTestSet, replace_test_set
from tests.conftest import migrate, podium_environment
from tests.fixtures.scored import succeeded_run
from tests.fixtures.site_parts import (
    FINISHED,
    FULL_MESSAGE,
    PARTICIPANT_MESSAGE,
    SITE_A_CASES,
    SITE_B_CASES,
    mixed_parts,
    site_phase,
    submission_with_parts,
)
from tests.fixtures.site_storage import write_site_cases


def _failed_parts() -> dict[str, dict[str, object]]:
    """site-a: the container's fault; site-b: the site's platform kept failing."""
    return {"site-a": {"state": SitePartState.FAILED, "attempts": 1, "finished_at": FINISHED,
                       "message": FULL_MESSAGE, "participant_message": PARTICIPANT_MESSAGE},
            "site-b": {"state": SitePartState.FAILED, "attempts": 3, "infrastructure_faults": 3,
                       "finished_at": FINISHED, "message": "site storage unreachable at s3://site-b-internal/x"}}


def test_each_site_s_part_is_in_the_summary_and_only_organisers_read_its_scores(
        session: Session, store: ArtifactStore, tmp_path: Path) -> None:
    world = site_phase(session, store, tmp_path)
    submission = submission_with_parts(session, world, mixed_parts())

    theirs = submission_summary(session, submission, world.users["lab"])
    assert theirs["state"] == "running"
    assert [(p["site"], p["state"], p["attempts"]) for p in theirs["sites"]] == [("site-a", "done", 1),
                                                                                ("site-b", "pending", 1)]
    assert theirs["sites"][0]["finished_at"] == FINISHED.isoformat(timespec="seconds")
    assert theirs["sites"][1]["finished_at"] is None
    assert all(p["scores"] == {} and p["message"] is None for p in theirs["sites"])
    assert "0.8125" not in repr(theirs)  # the site's result is never shown to participants

    organisers = submission_summary(session, submission, world.users["lead"])
    assert organisers["sites"][0]["scores"]["auroc"]["value"] == 0.8125
    assert organisers["sites"][1]["scores"] == {}


@pytest.mark.parametrize(("visibility", "site_a"), [
    (LogVisibility.FAILURE_MESSAGE, PARTICIPANT_MESSAGE),
    (LogVisibility.STATE, None),
    (LogVisibility.FULL, FULL_MESSAGE),
])
def test_a_failed_part_s_message_follows_the_log_visibility(session: Session, store: ArtifactStore, tmp_path: Path,
                                                            visibility: LogVisibility, site_a: str | None) -> None:
    world = site_phase(session, store, tmp_path, log_visibility=visibility)
    submission = submission_with_parts(session, world, _failed_parts())

    theirs = {p["site"]: p for p in submission_summary(session, submission, world.users["lab"])["sites"]}
    assert theirs["site-a"]["message"] == site_a and not theirs["site-a"]["failure_is_infrastructure"]
    if visibility != LogVisibility.FULL:
        assert "SECRET-PRINTED-BY-CONTAINER" not in repr(theirs)
    # The site's platform failing is always explained, never in the site's own words unless the viewer reads all.
    assert theirs["site-b"]["failure_is_infrastructure"]
    assert theirs["site-b"]["message"] == (SITE_PLATFORM_FAILURE if visibility != LogVisibility.FULL
                                           else "site storage unreachable at s3://site-b-internal/x")

    organisers = {p["site"]: p for p in submission_summary(session, submission, world.users["lead"])["sites"]}
    assert organisers["site-a"]["message"] == FULL_MESSAGE
    assert organisers["site-b"]["message"] == "site storage unreachable at s3://site-b-internal/x"


def test_a_central_phase_s_submission_has_no_sites(session: Session, store: ArtifactStore, tmp_path: Path) -> None:
    world = site_phase(session, store, tmp_path)
    world.phase.sites = []
    submission, _ = succeeded_run(session, world.phase, world.users["lab"])
    session.commit()
    assert submission_summary(session, submission, world.users["lead"])["sites"] == []


def test_the_cli_text_says_which_site_is_waiting(session: Session, store: ArtifactStore, tmp_path: Path) -> None:
    world = site_phase(session, store, tmp_path)
    submission = submission_with_parts(session, world, mixed_parts())
    text = submission_text(submission_summary(session, submission, world.users["lab"]))
    assert "sites:" in text
    assert "site-b  waiting for site-b's worker (the site may be offline; its part runs when it returns)" in text
    line_a = next(line for line in text.splitlines() if line.strip().startswith("site-a"))
    assert "done; 1 attempt(s); finished" in line_a
    assert "auroc" not in text
    assert "auroc 0.8125" in submission_text(submission_summary(session, submission, world.users["lead"]))

    failed = submission_with_parts(session, world, _failed_parts())
    failed_text = submission_text(submission_summary(session, failed, world.users["lab"]))
    assert PARTICIPANT_MESSAGE in failed_text and FULL_MESSAGE not in failed_text
    assert "(the platform's fault, not your submission's)" in failed_text


def test_the_phase_s_sites_for_its_organisers(session: Session, store: ArtifactStore, tmp_path: Path) -> None:
    world = site_phase(session, store, tmp_path)
    submission_with_parts(session, world, mixed_parts())
    submission_with_parts(session, world, {"site-a": {"state": SitePartState.RUNNING, "attempts": 1},
                                           "site-b": {"state": SitePartState.PENDING}})
    submission_with_parts(session, world, {"site-a": {"state": SitePartState.PENDING},
                                           "site-b": {"state": SitePartState.PENDING}},
                          state=SubmissionState.CANCELLED)  # a cancelled submission waits for nobody
    overview = {row["site"]: row for row in phase_sites_overview(session, world.phase)}
    assert [row["site"] for row in phase_sites_overview(session, world.phase)] == ["site-a", "site-b"]
    assert (overview["site-a"]["case_count"], overview["site-b"]["case_count"]) == (len(SITE_A_CASES),
                                                                                    len(SITE_B_CASES))
    assert overview["site-a"]["loaded_at"] is not None and overview["site-a"]["title"] == "Hospital site-a"
    assert (overview["site-a"]["pending"], overview["site-a"]["running"]) == (0, 1)
    assert (overview["site-b"]["pending"], overview["site-b"]["running"]) == (2, 0)
    world.phase.sites = []
    assert phase_sites_overview(session, world.phase) == []


# ---- the phase as challenge.yaml says it, its export, and the .zip upload -----------------------------------------

def test_the_spec_of_a_site_phase_names_its_sites_and_the_edit_form_applies_the_site_rules(
        session: Session, store: ArtifactStore, tmp_path: Path) -> None:
    world = site_phase(session, store, tmp_path)
    spec = phase_spec_of(world.phase)
    assert spec["sites"] == ["site-a", "site-b"] and "test_set" not in spec
    assert PhaseSpec.model_validate(spec).sites == ["site-a", "site-b"]
    ChallengeSpec.model_validate(challenge_spec_of(world.phase.challenge))

    with pytest.raises(InvalidSpec) as refused:  # the site rules hold on the edit form too
        edit_phase(session, world.phase, world.users["lead"], {"limits": {"shards": "2"}})
    assert "remove limits.shards" in repr(refused.value.problems)
    session.rollback()
    edited = edit_phase(session, world.phase, world.users["lead"], {"title": "Held at two hospitals"})
    assert edited.title == "Held at two hospitals" and edited.sites == ["site-a", "site-b"]


def test_the_export_of_a_site_phase_has_no_test_set_folder_and_imports_again(
        session: Session, store: ArtifactStore, tmp_path: Path) -> None:
    world = site_phase(session, store, tmp_path)
    versions_before = session.query(TestSet).count()
    with export_challenge(session, store, world.phase.challenge, world.users["lead"], work_dir=tmp_path) as bundle:
        (tmp_path / "bundle.zip").write_bytes(bundle.read())
    with zipfile.ZipFile(tmp_path / "bundle.zip") as archive:
        names = archive.namelist()
        exported = yaml.safe_load(archive.read("challenge.yaml"))
    assert not [name for name in names if name.startswith("test-sets/")], names
    assert exported["phases"][0]["sites"] == ["site-a", "site-b"] and "test_set" not in exported["phases"][0]
    report = import_bundle(session, store, tmp_path / "bundle.zip", world.users["lead"], work_dir=tmp_path)
    session.commit()
    assert not report.created and report.phases[0].sites == ["site-a", "site-b"]
    assert session.query(TestSet).count() == versions_before  # the sites' version stays the phase's


def test_the_zip_upload_is_refused_for_a_phase_held_at_sites(session: Session, store: ArtifactStore,
                                                            tmp_path: Path) -> None:
    world = site_phase(session, store, tmp_path)
    current = world.phase.current_test_set_id
    assert store.list("challenges/sites-demo/") == []
    folder = write_site_cases(tmp_path / "central", ["c01", "c02"], canary=False)
    archive = tmp_path / "test-set.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(folder).as_posix())
    with pytest.raises(InvalidTestSet, match=r"this phase's cases are held at its sites: each site loads its own "
                                             r"with `podium site load-cases`"):
        replace_test_set(session, store, phase=world.phase, archive=archive, actor=world.users["lead"])
    session.rollback()
    assert world.phase.current_test_set_id == current
    assert store.list("challenges/sites-demo/") == []  # nothing of it reached the central store


def test_the_parts_and_the_sites_read_the_same_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    settings = Settings.from_env(podium_environment(tmp_path, DATABASE_URL=postgres_url))
    migrate(settings.database_url)
    resources = Resources(settings)
    try:
        with resources.session() as session:
            world = site_phase(session, resources.store, tmp_path)
            submission = submission_with_parts(session, world, mixed_parts())
            parts = submission_summary(session, submission, world.users["lead"])["sites"]
            assert [(p["site"], p["state"], bool(p["scores"])) for p in parts] == [("site-a", "done", True),
                                                                                  ("site-b", "pending", False)]
            overview = {row["site"]: (row["case_count"], row["pending"]) for row in
                        phase_sites_overview(session, world.phase)}
            assert overview == {"site-a": (len(SITE_A_CASES), 0), "site-b": (len(SITE_B_CASES), 1)}
    finally:
        resources.close()
