"""Editing a challenge and its phases with challenge.yaml's model: every invalid value is refused on its own key,
nothing is written on a refusal, a valid edit is written as `podium challenge apply` writes it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.challenge_yaml import ChallengeSpec
from app.errors import Forbidden
from app.models import Challenge, Phase, Submission, SubmissionState, User
from app.queries.challenge_spec import challenge_spec_of
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from app.usecases.challenge_edit import InvalidSpec, add_phase, create_challenge, edit_challenge, edit_phase
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.conftest import EXAMPLE_CHALLENGE

INPUTS = "- slug: features\n  kind: json\n  relative_path: features.json\n  json_type: object\n"
OUTPUTS = ("- slug: likelihood\n  kind: json\n  relative_path: likelihood.json\n  json_type: number\n"
           "  minimum: 0\n  maximum: 1\n")
TRUTH = "- slug: label\n  kind: json\n  relative_path: label.json\n  json_type: integer\n"
NEW_PHASE = {"slug": "final", "title": "Final phase", "inputs": INPUTS, "outputs": OUTPUTS, "ground_truth": TRUTH,
             "metrics": [{"name": "auroc", "prediction": "likelihood", "target": "label", "options": ""}],
             "ranking": {"metric": "auroc", "order": "descending"}}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example challenge, prepared once, without its prepare step (applying it is then quick)."""
    copy = tmp_path_factory.mktemp("edit") / "bcw"
    shutil.copytree(EXAMPLE_CHALLENGE, copy, ignore=shutil.ignore_patterns("baselines", "prepare.py"))
    (copy / "challenge.yaml").write_text((copy / "challenge.yaml").read_text().replace("prepare: prepare.py\n", ""))
    return copy


@pytest.fixture
def people(resources: Resources, folder: Path) -> None:
    with resources.session() as session:
        apply_challenge(session, resources.store, folder)
        for name in ("lead", "stranger"):
            create_user(session, name)
        create_user(session, "root", is_admin=True)
        add_organiser(session, session.scalars(select(Challenge)).one(), "lead")


def _user(session: Session, name: str) -> User:
    return session.scalars(select(User).where(User.username == name)).one()


def _phase(session: Session) -> Phase:
    return session.scalars(select(Phase).where(Phase.slug == "test")).one()


def _refused(session: Session, changes: dict[str, object]) -> dict[str, str]:
    before = challenge_spec_of(session.scalars(select(Challenge)).one())
    with pytest.raises(InvalidSpec) as refused:
        edit_phase(session, _phase(session), _user(session, "lead"), changes)
    session.rollback()
    assert challenge_spec_of(session.scalars(select(Challenge)).one()) == before  # nothing written
    return refused.value.problems


@pytest.mark.parametrize(("changes", "key", "says"), [
    ({"title": ""}, "", ""),  # an empty title is a valid string: checked below as accepted instead
    ({"limits": {"memory_mb": "lots"}}, "limits.memory_mb", "valid integer"),
    ({"limits": {"memory_mb": "4"}}, "limits.memory_mb", "greater than or equal to 16"),
    ({"limits": {"cpus": "0"}}, "limits.cpus", "greater than 0"),
    ({"limits": {"submissions_per_day": "0"}}, "limits.submissions_per_day", "greater than or equal to 1"),
    ({"limits": {"time_limit_seconds": "999999"}}, "limits.time_limit_seconds", "less than or equal"),
    ({"opens_at": "yesterday"}, "opens_at", "datetime"),
    ({"opens_at": "2027-02-01T00:00:00+00:00", "closes_at": "2027-01-01T00:00:00+00:00"}, "closes_at",
     "closes_at must be after opens_at"),
    ({"opens_at": "2027-02-01T00:00:00"}, "opens_at", "time zone"),
    ({"metrics": [{"name": "no-such-metric", "prediction": "malignancy-likelihood", "target": "malignant"}]},
     "metrics.0.name", "unknown metric"),
    ({"metrics": [{"name": "auroc", "prediction": "nope", "target": "malignant"}]}, "metrics.0.prediction",
     "not an output slug"),
    ({"metrics": [{"name": "auroc", "prediction": "malignancy-likelihood", "target": "nope"}]}, "metrics.0.target",
     "not a ground_truth slug"),
    ({"metrics": [{"name": "auroc", "prediction": "malignancy-likelihood", "target": "malignant",
                   "options": "{not json"}]}, "metrics.0.options", "not valid JSON"),
    ({"ranking": {"metric": "accuracy"}}, "ranking.metric", "not one of the phase's metrics"),
    ({"ranking": {"order": "sideways"}}, "ranking.order", "descending"),
    ({"leaderboard_columns": "auroc, brier"}, "leaderboard_columns", "not among the phase's metrics"),
    ({"missing_cases": "ignore"}, "missing_cases", "'fail', 'worst' or 'exclude'"),
    ({"log_visibility": "everything"}, "log_visibility", "'full'"),
    ({"final_submissions": "0"}, "final_submissions", "greater than or equal to 1"),
    ({"final_rule": "random"}, "final_rule", "'best-public' or 'latest'"),
    ({"split_column": "hospital"}, "split_column", "not a column of the test set"),
    ({"analysis": {"breakdown_by": ["site"]}}, "analysis.breakdown_by", "not in the test set's cases.csv"),
    ({"analysis": {"cluster_by": "patient_id"}}, "analysis.cluster_by",
     "column 'patient_id' is not in the test set's cases.csv (columns: none)"),
    ({"analysis": {"cluster_by": " "}}, "analysis.cluster_by", "name a metadata column of cases.csv"),
    ({"analysis": {"ranking_scheme": "vibes"}}, "analysis.ranking_scheme", "aggregate-then-rank"),
    ({"outputs": "- slug: [unclosed"}, "outputs", "not valid YAML"),
    ({"outputs": "just text"}, "outputs", "list of interfaces"),
    ({"outputs": "- slug: Bad Slug\n  relative_path: x.json\n"}, "outputs.0.slug", "pattern"),
    ({"outputs": "- slug: x\n  relative_path: ../x.json\n"}, "outputs.0.relative_path", "relative path"),
    ({"inputs": INPUTS}, "inputs", "only their descriptions can change"),
    ({"slug": "other"}, "slug", "cannot change"),
])
def test_every_invalid_field_is_refused_on_its_key(session: Session, people: None, changes: dict[str, object],
                                                   key: str, says: str) -> None:
    if not says:
        edit_phase(session, _phase(session), _user(session, "lead"), {"title": "A new title"})
        assert _phase(session).title == "A new title"
        return
    problems = _refused(session, changes)
    assert key in problems, problems
    assert says in problems[key]


def test_several_problems_are_reported_together(session: Session, people: None) -> None:
    problems = _refused(session, {"limits": {"memory_mb": "x", "cpus": "-1"}, "missing_cases": "x",
                                  "outputs": "- [", "ranking": {"metric": "nope"}})
    assert {"limits.memory_mb", "limits.cpus", "missing_cases", "outputs"} <= set(problems)


def test_a_valid_edit_is_written_like_apply_writes_it(session: Session, people: None, resources: Resources,
                                                      folder: Path) -> None:
    edit_phase(session, _phase(session), _user(session, "lead"), {
        "title": "Hidden test set (edited)", "description": "**Bold** text",
        "opens_at": "2027-01-01T09:00:00+00:00", "closes_at": "2027-03-01T12:00:00+00:00",
        "limits": {"memory_mb": "2048", "cpus": "2", "submissions_per_day": "3", "submissions_total": "30"},
        "metrics": [{"name": "auroc", "prediction": "malignancy-likelihood", "target": "malignant", "options": ""},
                    {"name": "sensitivity", "prediction": "malignancy-likelihood", "target": "malignant",
                     "options": '{"threshold": 0.4}'}],
        "ranking": {"metric": "sensitivity", "order": "ascending"}, "leaderboard_columns": "sensitivity, auroc",
        "missing_cases": "worst", "log_visibility": "full", "case_results_visible": True,
        "analysis": {"ranking_scheme": "significance", "breakdown_by": []},
        "outputs": "- slug: malignancy-likelihood\n  kind: json\n  relative_path: malignancy-likelihood.json\n"
                   "  json_type: number\n  minimum: 0\n  maximum: 1\n  description: changed\n",
    })
    session.commit()
    phase = _phase(session)
    assert phase.title == "Hidden test set (edited)" and phase.memory_mb == 2048 and phase.cpus == 2.0
    assert phase.opens_at == datetime(2027, 1, 1, 9, tzinfo=UTC)
    assert phase.submissions_per_day == 3 and phase.submissions_total == 30
    assert [m["name"] for m in phase.metrics] == ["auroc", "sensitivity"]
    assert phase.metrics[1]["options"] == {"threshold": 0.4}
    assert phase.ranking_metric == "sensitivity" and phase.ranking_order == "ascending"
    assert phase.leaderboard_columns == ["sensitivity", "auroc"] and phase.case_results_visible
    assert phase.missing_cases == "worst" and phase.log_visibility == "full"
    assert phase.analysis["ranking_scheme"] == "significance"
    assert phase.outputs[0]["description"] == "changed"
    assert phase.current_test_set is not None and phase.current_test_set.version == 1  # the test set is kept
    ChallengeSpec.model_validate(challenge_spec_of(phase.challenge))
    # emptied: no total limit, every column, no opening time
    edit_phase(session, phase, _user(session, "lead"), {"limits": {"submissions_total": ""},
                                                        "leaderboard_columns": "", "opens_at": ""})
    assert phase.submissions_total is None and phase.leaderboard_columns is None and phase.opens_at is None
    # apply again: the folder's values come back, with the same test set
    report = apply_challenge(session, resources.store, folder)
    assert not report.phases[0].test_set_uploaded
    assert _phase(session).memory_mb == 512 and _phase(session).ranking_metric == "auroc"


def test_interfaces_are_fixed_once_the_phase_has_submissions(session: Session, people: None) -> None:
    phase = _phase(session)
    session.add(Submission(phase_id=phase.id, user_id=_user(session, "stranger").id,
                           state=SubmissionState.SUCCEEDED, upload_key="x"))
    session.commit()
    problems = _refused(session, {"outputs": "- slug: malignancy-likelihood\n  relative_path: other.json\n"})
    assert "1 submission(s)" in problems["outputs"]


def test_only_organisers_and_admins_edit(session: Session, people: None) -> None:
    with pytest.raises(Forbidden):
        edit_phase(session, _phase(session), _user(session, "stranger"), {"title": "mine"})
    with pytest.raises(Forbidden):
        edit_challenge(session, _phase(session).challenge, _user(session, "stranger"), {"title": "mine"})
    edit_phase(session, _phase(session), _user(session, "root"), {"title": "by an admin"})
    assert _phase(session).title == "by an admin"


def test_the_challenge_settings(session: Session, people: None) -> None:
    challenge = session.scalars(select(Challenge)).one()
    lead = _user(session, "lead")
    with pytest.raises(InvalidSpec) as refused:
        edit_challenge(session, challenge, lead, {"join_policy": "maybe", "max_team_size": "0", "title": "ok"})
    assert set(refused.value.problems) == {"join_policy", "max_team_size"}
    session.rollback()
    assert session.scalars(select(Challenge)).one().title.startswith("Breast cancer")
    edit_challenge(session, challenge, lead, {"title": "Renamed", "description": "# Hi", "terms": "Be nice.",
                                              "join_policy": "review", "max_team_size": "3"})
    assert (challenge.title, challenge.join_policy, challenge.max_team_size) == ("Renamed", "review", 3)
    edit_challenge(session, challenge, lead, {"max_team_size": ""})
    assert challenge.max_team_size is None


def test_admins_create_a_challenge_with_a_first_phase_without_a_test_set(session: Session, people: None) -> None:
    with pytest.raises(Forbidden):
        create_challenge(session, _user(session, "lead"), {"slug": "new-one", "title": "New"}, NEW_PHASE)
    root = _user(session, "root")
    with pytest.raises(InvalidSpec) as refused:
        create_challenge(session, root, {"slug": "breast-cancer-wisconsin", "title": ""},
                         {**NEW_PHASE, "slug": "Bad", "limits": {"cpus": "many"}})
    assert {"slug", "phase.slug", "phase.limits.cpus"} <= set(refused.value.problems)
    assert "exists already" in refused.value.problems["slug"]
    session.rollback()
    created = create_challenge(session, root, {"slug": "new-one", "title": "New", "description": "d"}, NEW_PHASE)
    session.commit()
    assert root.id in created.organiser_ids
    phase = created.phases[0]
    assert phase.slug == "final" and phase.current_test_set_id is None and phase.ranking_metric == "auroc"
    ChallengeSpec.model_validate(challenge_spec_of(created))


def test_organisers_add_a_phase(session: Session, people: None) -> None:
    challenge = session.scalars(select(Challenge)).one()
    with pytest.raises(InvalidSpec) as refused:
        add_phase(session, challenge, _user(session, "lead"), {**NEW_PHASE, "slug": "test"})
    assert "slug" in refused.value.problems
    session.rollback()
    phase = add_phase(session, challenge, _user(session, "lead"), NEW_PHASE)
    assert phase.position == 1 and phase.current_test_set_id is None
    assert [p.slug for p in challenge.phases] == ["test", "final"]


def test_a_cluster_column_of_the_test_set_is_accepted_and_exported(session: Session, people: None) -> None:
    phase = _phase(session)
    assert phase.current_test_set is not None
    phase.current_test_set.metadata_columns = ["patient_id"]  # as if cases.csv had that column
    session.commit()
    edit_phase(session, phase, _user(session, "lead"), {"analysis": {"cluster_by": "patient_id", "breakdown_by": []}})
    session.commit()
    assert _phase(session).analysis["cluster_by"] == "patient_id"
    assert challenge_spec_of(_phase(session).challenge)["phases"][0]["analysis"]["cluster_by"] == "patient_id"
    problems = _refused(session, {"analysis": {"cluster_by": "patient_id", "breakdown_by": ["patient_id"]}})
    assert "is also in breakdown_by" in problems["analysis.cluster_by"]
