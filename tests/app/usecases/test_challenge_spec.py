"""challenge_spec_of: the challenge.yaml mapping of the database's state validates, and says what was applied."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from app.challenge_yaml import ChallengeSpec, PhaseSpec, load_challenge_spec
from app.models import Challenge
from app.queries.challenge_spec import challenge_spec_of, phase_spec_of
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from app.usecases.membership import add_organiser
from app.usecases.users import create_user
from tests.conftest import EXAMPLE_CHALLENGE, MULTISITE_CHALLENGE
from tests.fixtures.example_sites import register_example_sites


@pytest.mark.parametrize("folder", [EXAMPLE_CHALLENGE, MULTISITE_CHALLENGE], ids=lambda f: f.name)
def test_the_spec_of_an_applied_challenge_validates_and_matches_its_yaml(resources: Resources, folder: Path) -> None:
    with resources.session() as session:
        create_user(session, "lead")
        register_example_sites(session)  # breast-multisite's phase at-sites is held at three sites
    with resources.session() as session:
        apply_challenge(session, resources.store, folder)
        challenge = session.scalars(select(Challenge)).one()
        challenge.organiser_links.clear()
        session.flush()
        add_organiser(session, challenge, "lead")
    original, _ = load_challenge_spec(folder)
    with resources.session() as session:
        challenge = session.scalars(select(Challenge)).one()
        mapping = challenge_spec_of(challenge)
        spec = ChallengeSpec.model_validate(mapping)
        assert PhaseSpec.model_validate(phase_spec_of(challenge.phases[0])) == spec.phases[0]
    # the same challenge, but for the files' names inside a bundle and what the database adds
    assert spec.organisers == ["lead"] and spec.prepare is None
    assert spec.public_files == ["public/train.csv"]
    assert spec.model_dump(exclude={"organisers", "prepare", "public_files", "phases"}) == \
        original.model_dump(exclude={"organisers", "prepare", "public_files", "phases"})
    phase, was = spec.phases[0], original.phases[0]
    assert phase.test_set == "test-sets/test"
    assert phase.model_dump(exclude={"test_set", "analysis"}) == was.model_dump(exclude={"test_set", "analysis"})
    assert phase.analysis.model_dump(exclude={"readers"}) == was.analysis.model_dump(exclude={"readers"})
    if was.analysis.readers is not None:
        assert phase.analysis.readers is not None
        assert phase.analysis.readers.file == "readers/test.csv"
        assert phase.analysis.readers.positive_at == was.analysis.readers.positive_at
    assert yaml.safe_load(yaml.safe_dump(mapping, sort_keys=False)) == mapping  # plain YAML values only


def test_the_spec_carries_what_the_site_changed(resources: Resources) -> None:
    with resources.session() as session:
        apply_challenge(session, resources.store, EXAMPLE_CHALLENGE)
        phase = session.scalars(select(Challenge)).one().phases[0]
        phase.closes_at = datetime(2027, 1, 31, 23, 59, tzinfo=UTC)
        phase.submissions_total = 40
        phase.leaderboard_columns = ["average_precision"]
        phase.case_results_visible = True
        phase.results_published = False
        phase.evaluator = {"archive_key": "x", "sha256": "y",
                           "aggregates": [{"name": "brier", "title": "Brier", "higher_is_better": False}]}
        phase.challenge.max_team_size = 3
        phase.challenge.join_policy = "review"
    with resources.session() as session:
        spec = ChallengeSpec.model_validate(challenge_spec_of(session.scalars(select(Challenge)).one()))
    phase_spec = spec.phases[0]
    assert phase_spec.closes_at == datetime(2027, 1, 31, 23, 59, tzinfo=UTC)
    assert phase_spec.limits.submissions_total == 40
    assert phase_spec.leaderboard_columns == ["average_precision"]
    assert phase_spec.case_results_visible and not phase_spec.results_published
    assert phase_spec.evaluator is not None and phase_spec.evaluator.archive == "evaluators/test.tar.gz"
    assert [a.name for a in phase_spec.evaluator.aggregates] == ["brier"]
    assert spec.max_team_size == 3 and spec.join_policy == "review"
