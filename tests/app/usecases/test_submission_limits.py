"""Submission limits hold under concurrency, on SQLite and on PostgreSQL: the database, not a count followed
by an insert, decides who gets the last place."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.config import Settings
from app.errors import RateLimited
from app.models import Challenge, Phase, Submission, SubmissionState, Team, TeamMember, User
from app.models._types import utcnow
from app.resources import Resources
from app.usecases.submission_limits import claim_submission, limit_status
from app.usecases.users import create_user
from tests.conftest import migrate, podium_environment

CONCURRENT = 50


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Resources]:
    overrides = {"DATABASE_URL": request.getfixturevalue("postgres_url")} if request.param == "postgresql" else {}
    settings = Settings.from_env(podium_environment(tmp_path, **overrides))
    migrate(settings.database_url)
    resources = Resources(settings)
    yield resources
    resources.close()


def _phase_and_user(resources: Resources, *, per_day: int, total: int | None = None) -> tuple[int, int]:
    with resources.session() as session:
        user, _ = create_user(session, "eager-vendor")
        challenge = Challenge(slug="limits", title="Limits")
        phase = Phase(challenge=challenge, slug="test", title="Test", ranking_metric="auroc",
                      submissions_per_day=per_day, submissions_total=total)
        session.add_all([challenge, phase])
        session.flush()
        return phase.id, user.id


def _claim_concurrently(resources: Resources, phase_id: int, user_id: int | list[int],
                        ) -> tuple[int, int, list[BaseException]]:
    """CONCURRENT claims at once; with several users (a team's members), they take turns."""
    users = user_id if isinstance(user_id, list) else [user_id]
    start = threading.Barrier(CONCURRENT)
    granted, refused, errors = [], [], []

    def claim(n: int) -> None:
        try:
            with resources.session() as session:
                phase, user = session.get(Phase, phase_id), session.get(User, users[n % len(users)])
                assert phase is not None and user is not None
                session.commit()  # give the connection back: 50 threads share the engine's pool of 15
                start.wait(timeout=60)
                claim_submission(session, phase, user, comment=f"upload {n}", upload_bytes=1, upload_sha256="x")
            granted.append(n)
        except RateLimited:
            refused.append(n)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return len(granted), len(refused), errors


def _rows(resources: Resources, phase_id: int) -> int:
    with resources.session() as session:
        return session.scalar(select(func.count(Submission.id)).where(Submission.phase_id == phase_id)) or 0


def test_fifty_concurrent_uploads_against_a_daily_limit_of_five_take_exactly_five(database: Resources) -> None:
    phase_id, user_id = _phase_and_user(database, per_day=5)
    granted, refused, errors = _claim_concurrently(database, phase_id, user_id)
    assert errors == []
    assert (granted, refused) == (5, CONCURRENT - 5)
    assert _rows(database, phase_id) == 5


def test_a_total_limit_holds_under_concurrency_too(database: Resources) -> None:
    phase_id, user_id = _phase_and_user(database, per_day=100, total=3)
    granted, refused, errors = _claim_concurrently(database, phase_id, user_id)
    assert errors == [] and (granted, refused) == (3, CONCURRENT - 3)
    assert _rows(database, phase_id) == 3


def test_a_teams_members_share_its_limit_under_concurrency(database: Resources) -> None:
    phase_id, first = _phase_and_user(database, per_day=5)
    with database.session() as session:
        phase = session.get(Phase, phase_id)
        assert phase is not None
        members = [first] + [create_user(session, name)[0].id for name in ("second-member", "third-member")]
        team = Team(challenge_id=phase.challenge_id, name="The Team")
        team.members.extend(TeamMember(user_id=uid, challenge_id=phase.challenge_id) for uid in members)
        loner, _ = create_user(session, "loner")
        session.add(team)
        session.flush()
        team_id, loner_id = team.id, loner.id
    granted, refused, errors = _claim_concurrently(database, phase_id, members)
    assert errors == [] and (granted, refused) == (5, CONCURRENT - 5)
    with database.session() as session:
        rows = session.scalars(select(Submission).where(Submission.phase_id == phase_id)).all()
        assert len(rows) == 5 and {row.team_id for row in rows} == {team_id}
        phase, member = session.get(Phase, phase_id), session.get(User, members[1])
        assert phase is not None and member is not None
        status = limit_status(session, phase, member)
        assert status.used_today == 5 and status.subject == "your team 'The Team'"
        assert "your team 'The Team' has used all 5 submissions" in (status.refusal("test") or "")
        # Someone outside the team keeps their own places.
        other = session.get(User, loner_id)
        assert other is not None and limit_status(session, phase, other).remaining_today == 5


def test_what_counts_and_when_the_next_place_frees(resources: Resources) -> None:
    phase_id, user_id = _phase_and_user(resources, per_day=2)
    now = utcnow()
    with resources.session() as session:
        for hours_ago, state, upload_key, platforms_fault in [
            (30, SubmissionState.SUCCEEDED, "k", False),  # outside the window: frees its place
            (20, SubmissionState.SUCCEEDED, "k", False),  # counts; leaves the window in 4 h
            (10, SubmissionState.FAILED, None, False),  # refused as an unusable image: limited apart
            (5, SubmissionState.FAILED, "k", True),  # the platform's fault: free
            (1, SubmissionState.CANCELLED, "k", False),  # cancelled after it was accepted: counts
        ]:
            submission = Submission(phase_id=phase_id, user_id=user_id, state=state, upload_key=upload_key,
                                    failure_is_infrastructure=platforms_fault)
            session.add(submission)
            session.flush()
            session.execute(update(Submission).where(Submission.id == submission.id)
                            .values(created_at=now - timedelta(hours=hours_ago)))
    with resources.session() as session:
        phase, user = session.get(Phase, phase_id), session.get(User, user_id)
        assert phase is not None and user is not None
        status = limit_status(session, phase, user)
        assert (status.used_today, status.used_total, status.refused_today) == (2, 3, 1)
        assert status.remaining_today == 0
        assert status.next_frees_at is not None
        assert abs((status.next_frees_at - (now + timedelta(hours=4))).total_seconds()) < 5
        refusal = status.refusal("test")
        assert refusal is not None and "the next one frees at" in refusal
        with pytest.raises(RateLimited):
            claim_submission(session, phase, user, comment="", upload_bytes=1, upload_sha256="x")
