"""Shared fixtures. Service fixtures live in tests/fixtures/ and are registered here."""

pytest_plugins = [
    "tests.fixtures.docker_engine",
    "tests.fixtures.seaweedfs",
]
