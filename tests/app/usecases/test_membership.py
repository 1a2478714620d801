"""Organisers in a join table, managed by organisers and admins; participants who join by request."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from app.errors import Conflict, Forbidden, NotFound
from app.models import Challenge, JoinPolicy, ParticipationStatus, Phase, User
from app.permissions import organises
from app.usecases.membership import (
    add_organiser,
    decide,
    list_participants,
    remove_organiser,
    request_to_join,
    require_participant,
)
from app.usecases.users import create_user


def _people(session: Session, *names: str) -> dict[str, User]:
    made = {name: create_user(session, name, is_admin=name == "admin")[0] for name in names}
    session.flush()
    return made


def _challenge(session: Session, *, policy: str = JoinPolicy.AUTO, terms: str = "") -> Challenge:
    challenge = Challenge(slug="ward", title="Ward", join_policy=policy, terms=terms)
    session.add_all([challenge, Phase(challenge=challenge, slug="test", title="Test", ranking_metric="auroc")])
    session.flush()
    return challenge


def test_organisers_are_managed_by_organisers_and_admins(session: Session) -> None:
    people = _people(session, "lead", "co-lead", "outsider", "admin")
    challenge = _challenge(session)
    add_organiser(session, challenge, "lead")  # the operator seeds the first one
    with pytest.raises(Forbidden):
        add_organiser(session, challenge, "outsider", actor=people["outsider"])
    add_organiser(session, challenge, "co-lead", actor=people["lead"])
    assert organises(people["co-lead"], challenge) and organises(people["admin"], challenge)
    assert not organises(people["outsider"], challenge)
    remove_organiser(session, challenge, "lead", actor=people["admin"])
    with pytest.raises(Conflict, match="only organiser"):
        remove_organiser(session, challenge, "co-lead", actor=people["co-lead"])
    with pytest.raises(NotFound):
        add_organiser(session, challenge, "nobody", actor=people["admin"])


def test_an_auto_challenge_without_terms_is_joined_by_submitting(session: Session) -> None:
    people = _people(session, "vendor")
    challenge = _challenge(session)
    require_participant(session, challenge, people["vendor"])
    assert [p.status for p in challenge_participations(session, challenge)] == [ParticipationStatus.ACCEPTED]


def test_terms_must_be_accepted_first(session: Session) -> None:
    people = _people(session, "vendor")
    challenge = _challenge(session, terms="Results may be published with your team's name.")
    with pytest.raises(Forbidden, match="join 'ward' first"):
        require_participant(session, challenge, people["vendor"])
    with pytest.raises(Conflict, match="accept the terms"):
        request_to_join(session, challenge, people["vendor"], accept_terms=False)
    joined = request_to_join(session, challenge, people["vendor"], accept_terms=True)
    assert joined.status == ParticipationStatus.ACCEPTED and joined.terms_accepted_at is not None
    require_participant(session, challenge, people["vendor"])


def test_a_reviewed_challenge_waits_for_an_organiser(session: Session) -> None:
    people = _people(session, "lead", "vendor", "spammer")
    challenge = _challenge(session, policy=JoinPolicy.REVIEW)
    add_organiser(session, challenge, "lead")
    for name in ("vendor", "spammer"):
        assert request_to_join(session, challenge, people[name], accept_terms=False).status == "pending"
    with pytest.raises(Forbidden, match="waits for the organisers"):
        require_participant(session, challenge, people["vendor"])
    with pytest.raises(Forbidden):
        decide(session, challenge, "vendor", accept=True, actor=people["spammer"])
    decide(session, challenge, "vendor", accept=True, actor=people["lead"])
    decide(session, challenge, "spammer", accept=False, actor=people["lead"])
    require_participant(session, challenge, people["vendor"])
    with pytest.raises(Forbidden, match="declined"):
        require_participant(session, challenge, people["spammer"])
    with pytest.raises(Forbidden, match="declined"):
        request_to_join(session, challenge, people["spammer"], accept_terms=False)
    require_participant(session, challenge, people["lead"])  # organisers may always submit
    assert len(list_participants(session, challenge, actor=people["lead"])) == 2


def challenge_participations(session: Session, challenge: Challenge):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from app.models import Participation

    return session.scalars(select(Participation).where(Participation.challenge_id == challenge.id)).all()
