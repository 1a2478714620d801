"""Finding a challenge or a phase by the slugs in a URL or a command (a NotFound naming what is missing)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.models import Challenge, Phase, Submission


def get_challenge(session: Session, slug: str) -> Challenge:
    challenge = session.scalar(select(Challenge).where(Challenge.slug == slug))
    if challenge is None:
        raise NotFound(f"no challenge {slug!r}")
    return challenge


def get_phase(session: Session, challenge_slug: str, phase_slug: str) -> Phase:
    phase = session.scalar(
        select(Phase).join(Challenge).where(Challenge.slug == challenge_slug, Phase.slug == phase_slug)
    )
    if phase is None:
        raise NotFound(f"no phase {phase_slug!r} in challenge {challenge_slug!r}; check the address")
    return phase


def submission_needs_gpu(session: Session, submission_id: int) -> bool:
    """Whether a submission's phase asks for GPUs (its jobs go to the GPU queue); False for an unknown id."""
    gpus = session.scalar(select(Phase.gpus).join(Submission, Submission.phase_id == Phase.id)
                          .where(Submission.id == submission_id))
    return bool(gpus)
