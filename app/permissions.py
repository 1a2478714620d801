"""Who may do what in a challenge: site admins, and a challenge's organisers."""

from __future__ import annotations

from app.errors import Forbidden
from app.models import Challenge, Phase, User


def is_organiser(user: User, phase: Phase) -> bool:
    return organises(user, phase.challenge)


def organises(user: User, challenge: Challenge) -> bool:
    """Site admins organise every challenge; a challenge's organisers are in challenge_organisers."""
    return bool(user.is_admin or user.id in challenge.organiser_ids)


def require_organiser(user: User, phase: Phase, *, to: str = "do this") -> None:
    if not is_organiser(user, phase):
        raise Forbidden(f"only the challenge's organisers may {to}")
