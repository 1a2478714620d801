"""The ORM model, one module per aggregate. Import from here."""

from app.db import Base
from app.models.challenge import Case, Challenge, Phase, PhaseAnalysis, TestSet
from app.models.run import CaseOutcome, EvaluationRun, Score
from app.models.submission import Submission, SubmissionState
from app.models.user import User

__all__ = [
    "Base",
    "Case",
    "CaseOutcome",
    "Challenge",
    "EvaluationRun",
    "Phase",
    "PhaseAnalysis",
    "Score",
    "Submission",
    "SubmissionState",
    "TestSet",
    "User",
]
