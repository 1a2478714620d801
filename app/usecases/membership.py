"""Who belongs to a challenge: organisers (managed by organisers and admins) and participants (who ask to join,
accept the terms if there are any, and are accepted at once or by an organiser, per the challenge's policy)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, Forbidden, NotFound
from app.models import Challenge, ChallengeOrganiser, JoinPolicy, Participation, ParticipationStatus, User
from app.models._types import utcnow
from app.permissions import organises


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user


def _require_organiser(actor: User, challenge: Challenge, to: str) -> None:
    if not organises(actor, challenge):
        raise Forbidden(f"only the challenge's organisers may {to}")


# ---- organisers ---------------------------------------------------------------------------------------

def add_organiser(session: Session, challenge: Challenge, username: str, *, actor: User | None = None) -> User:
    """Make `username` an organiser (actor None: the operator, e.g. from the command line or a test)."""
    if actor is not None:
        _require_organiser(actor, challenge, "add organisers")
    user = _user(session, username)
    if user.id not in challenge.organiser_ids:
        challenge.organiser_links.append(ChallengeOrganiser(user_id=user.id))
        session.flush()
    return user


def remove_organiser(session: Session, challenge: Challenge, username: str, *, actor: User) -> None:
    _require_organiser(actor, challenge, "remove organisers")
    user = _user(session, username)
    links = [link for link in challenge.organiser_links if link.user_id == user.id]
    if not links:
        raise NotFound(f"{username!r} does not organise {challenge.slug!r}")
    if len(challenge.organiser_links) == 1:
        raise Conflict(f"{username!r} is the challenge's only organiser; add another first")
    challenge.organiser_links.remove(links[0])
    session.flush()


def list_organisers(session: Session, challenge: Challenge) -> list[str]:
    return sorted(link.user.username for link in challenge.organiser_links)


# ---- participants -------------------------------------------------------------------------------------

def participation_of(session: Session, challenge: Challenge, user: User) -> Participation | None:
    return session.scalar(select(Participation).where(Participation.challenge_id == challenge.id,
                                                      Participation.user_id == user.id))


def request_to_join(session: Session, challenge: Challenge, user: User, *, accept_terms: bool) -> Participation:
    """Ask to take part. With terms, they must be accepted; with the auto policy, the answer is at once."""
    if challenge.terms and not accept_terms:
        raise Conflict(f"accept the terms of {challenge.slug!r} to join (accept_terms: true); read them on the "
                       "challenge's page")
    participation = participation_of(session, challenge, user)
    if participation is not None:
        if participation.status == ParticipationStatus.REJECTED:
            raise Forbidden(f"the organisers of {challenge.slug!r} declined your request to join")
        return participation
    now = utcnow()
    auto = challenge.join_policy == JoinPolicy.AUTO
    participation = Participation(challenge_id=challenge.id, user_id=user.id, requested_at=now,
                                  terms_accepted_at=now if challenge.terms else None,
                                  status=ParticipationStatus.ACCEPTED if auto else ParticipationStatus.PENDING,
                                  decided_at=now if auto else None)
    session.add(participation)
    session.flush()
    return participation


def decide(session: Session, challenge: Challenge, username: str, *, accept: bool, actor: User) -> Participation:
    """An organiser accepts or declines a request to join."""
    _require_organiser(actor, challenge, "decide on requests to join")
    participation = participation_of(session, challenge, _user(session, username))
    if participation is None:
        raise NotFound(f"{username!r} has not asked to join {challenge.slug!r}")
    participation.status = ParticipationStatus.ACCEPTED if accept else ParticipationStatus.REJECTED
    participation.decided_at, participation.decided_by_id = utcnow(), actor.id
    session.flush()
    return participation


def list_participants(session: Session, challenge: Challenge, *, actor: User) -> list[Participation]:
    _require_organiser(actor, challenge, "list the participants")
    return list(session.scalars(select(Participation).where(Participation.challenge_id == challenge.id)
                                .order_by(Participation.requested_at)))


def require_participant(session: Session, challenge: Challenge, user: User) -> None:
    """Before a submission: organisers may always submit (to test their phase); others must have been
    accepted. Where joining needs nothing (auto policy, no terms), submitting joins."""
    if organises(user, challenge):
        return
    participation = participation_of(session, challenge, user)
    if participation is None and challenge.join_policy == JoinPolicy.AUTO and not challenge.terms:
        participation = request_to_join(session, challenge, user, accept_terms=False)
        session.commit()
    if participation is None:
        raise Forbidden(f"join {challenge.slug!r} first (POST /api/v1/challenges/{challenge.slug}/join"
                        + (", accepting its terms" if challenge.terms else "") + ")")
    if participation.status == ParticipationStatus.PENDING:
        raise Forbidden(f"your request to join {challenge.slug!r} waits for the organisers")
    if participation.status == ParticipationStatus.REJECTED:
        raise Forbidden(f"the organisers of {challenge.slug!r} declined your request to join")
