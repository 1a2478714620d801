"""The challenge bundle names each test set's files from the database (cases x interfaces): exactly the files
the store holds under the test set's prefix, in the same order, without listing the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.models import Challenge
from app.resources import Resources
from app.usecases.apply_challenge import apply_challenge
from app.usecases.challenge_export import bundle_files
from tests.conftest import EXAMPLE_CHALLENGE, MULTISITE_CHALLENGE
from tests.fixtures.example_sites import register_example_sites


@pytest.mark.parametrize("folder", [EXAMPLE_CHALLENGE, MULTISITE_CHALLENGE], ids=lambda f: f.name)
def test_the_test_set_files_are_the_stored_ones(resources: Resources, folder: Path) -> None:
    with resources.session() as session:
        register_example_sites(session)  # breast-multisite's phase at-sites is held at three sites
        apply_challenge(session, resources.store, folder)
    with resources.session() as session:
        challenge = session.scalars(select(Challenge)).one()
        test_set = challenge.phases[0].current_test_set
        assert test_set is not None
        prefix = test_set.storage_prefix.rstrip("/") + "/"
        stored = resources.store.list(prefix)
        named = [(name, key) for name, key in bundle_files(challenge, resources.store)
                 if name.startswith("test-sets/")]
        assert [key for _, key in named] == stored
        assert [name for name, _ in named] == [f"test-sets/test/{key[len(prefix):]}" for key in stored]
        assert len(stored) == 1 + 2 * test_set.case_count  # cases.csv, one input and one ground truth per case
