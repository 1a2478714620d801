"""Who may do what in a challenge: site admins, and a challenge's organisers."""

from __future__ import annotations

from app.errors import Forbidden
from app.models import Phase, User


def is_organiser(user: User, phase: Phase) -> bool:
    return bool(user.is_admin or user.username in (phase.challenge.organisers or []))


def require_organiser(user: User, phase: Phase, *, to: str = "do this") -> None:
    if not is_organiser(user, phase):
        raise Forbidden(f"only the challenge's organisers may {to}")
